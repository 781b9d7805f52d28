"""argon2id password hashing at or above OWASP's Password Storage Cheat Sheet parameters."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id is m=19 MiB, t=2, p=1 (or m=46 MiB, t=1). We use 64 MiB, t=2, p=1:
# above both, ~tens of milliseconds on a Lambda with 512 MB, single-threaded (Lambda vCPUs are scarce).
MEMORY_COST_KIB = 65536
TIME_COST = 2
PARALLELISM = 1


class Argon2idHasher:
    """Hashes and verifies passwords; old hashes with weaker parameters are upgraded on login."""

    def __init__(self, memory_cost: int = MEMORY_COST_KIB, time_cost: int = TIME_COST, parallelism: int = PARALLELISM) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, hash_len=32, salt_len=16, type=argon2.Type.ID
        )
        self._dummy = self._hasher.hash("not a password anyone has")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
