"""Points for an answer, decided on the server's clock. Pure.

A correct answer earns ``round(points × (1 − (t / T) / 2))`` where ``t`` is the response time and
``T`` the time limit: full points for an instant answer, half at the deadline. Rounding is half-up.
A wrong or missing answer earns 0. With a streak bonus, the n-th correct answer in a row (n ≥ 2)
adds ``streak_bonus × min(n − 1, STREAK_CAP)``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

STREAK_CAP = 5


def speed_points(points: int, elapsed_ms: int, limit_ms: int) -> int:
    """Points for a correct answer given after ``elapsed_ms`` of a ``limit_ms`` window."""
    if limit_ms <= 0:
        raise ValueError("time limit must be positive")
    t = min(max(elapsed_ms, 0), limit_ms)
    exact = Decimal(points) * (1 - Decimal(t) / Decimal(limit_ms) / 2)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def streak_points(streak_bonus: int, streak: int) -> int:
    """Bonus for the ``streak``-th correct answer in a row (the first one earns no bonus)."""
    if streak_bonus <= 0 or streak < 2:
        return 0
    return streak_bonus * min(streak - 1, STREAK_CAP)


def award(*, correct: bool, points: int, elapsed_ms: int, limit_ms: int, streak_bonus: int, streak: int) -> int:
    """Total points for one answer; ``streak`` counts this answer when it is correct."""
    if not correct:
        return 0
    return speed_points(points, elapsed_ms, limit_ms) + streak_points(streak_bonus, streak)
