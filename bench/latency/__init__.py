"""The parts of `python -m bench.leaderboard_latency`: records (one answer, one player), drive (the quiz
it plays), evidence (what the emulator's /metrics says about the run), report (figures, table, files)."""
