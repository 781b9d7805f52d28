"""The parts of `python -m clients.cli`: errors, account (session file and tokens), render (terminal
output), screens (player and host), session (the live WebSocket and its rejoin logic)."""
