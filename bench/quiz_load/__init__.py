"""An asyncio load generator for one or many live quizzes: `python -m bench.quiz_load` (see bench/README.md).

One process holds every player's WebSocket (the `websockets` asyncio client) and their HTTP calls
(`httpx.AsyncClient`). Players are seeded straight into PostgreSQL through the layer's own auth
adapters (seeding.py), so a 5,000-player run does not spend 5,000 argon2id hashes signing up.
"""

from __future__ import annotations
