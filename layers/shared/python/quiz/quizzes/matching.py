"""Typed-answer matching: normalise, then compare within the question's typo tolerance. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_TYPO_TOLERANCE = 3


def normalise(text: str) -> str:
    """Case, accents, punctuation and spacing removed: "  Café-au-lait! " -> "cafe au lait"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for ch in decomposed:
        category = unicodedata.category(ch)
        if category == "Mn":  # combining accent
            continue
        kept.append(" " if category[0] in "PZ" or ch.isspace() else ch)
    return " ".join("".join(kept).split())


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of two neighbours counts once), capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        prev2, prev = prev, row
    return min(prev[-1], limit + 1)


def allowed_typos(answer: str, tolerance: int) -> int:
    """Short words get fewer typos: at most one per four characters, and never more than asked."""
    return min(tolerance, len(answer) // 4)


def matches(given: str, accepted: Iterable[str], tolerance: int) -> bool:
    """Whether a typed answer matches any accepted answer after normalisation, within tolerance."""
    guess = normalise(given)
    if not guess:
        return False
    for candidate in accepted:
        target = normalise(candidate)
        if guess == target:
            return True
        limit = allowed_typos(target, tolerance)
        if limit and edit_distance(guess, target, limit) <= limit:
            return True
    return False
