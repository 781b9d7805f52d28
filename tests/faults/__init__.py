"""Issue 10's fault and fuzz suite: a stack of its own on free loopback ports, a product emulator on it,
quizzes played through faults (Kafka, Redis, PostgreSQL killed or stopped, Redis flushed, the leaderboard
worker SIGKILLed, the emulator restarted), and afterwards the invariants checked for every player.

    .venv/bin/python -m tests.faults --faults 100 --timeout 1800 --report bench/results/faults-<date>.md

The quick version (`tests/faults/test_faults_quick.py`) runs one round of each fault in `make test`.
"""
