"""Accounts in the quiz's own words, and the rules a username, display name and password must meet.

Pure: no I/O, no clock, no libraries beyond the standard one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from quiz.auth.errors import DisplayNameRejected, InvalidDisplayName, InvalidUsername, WeakPassword

USERNAME_MIN, USERNAME_MAX = 3, 32
DISPLAY_NAME_MAX = 40
PASSWORD_MIN, PASSWORD_MAX = 10, 128  # the maximum bounds the hashing cost an attacker can demand

_USERNAME = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?", re.ASCII)
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "system", "support", "moderator", "staff", "official", "me", "api", "auth", "null", "undefined"}
)
# Passwords of at least PASSWORD_MIN characters that still top the breach lists.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "0987654321",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou12",
        "letmein123",
        "welcome123",
        "abcdefghij",
        "abc1234567",
        "administrator",
        "football123",
        "baseball123",
        "princess123",
        "sunshine123",
        "superman123",
        "trustno1234",
        "changeme123",
    }
)


class Role(StrEnum):
    PLAYER = "player"
    ADMIN = "admin"


@dataclass(frozen=True)
class User:
    """An account. `password_hash` is an argon2id PHC string, never the password."""

    id: UUID
    username: str
    display_name: str
    password_hash: str
    role: Role
    created_at: datetime
    updated_at: datetime

    def to_public(self) -> dict[str, str]:
        """What a client may see of an account."""
        return {
            "id": str(self.id),
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Principal:
    """Who is speaking on a request: always taken from a verified token, never from a body."""

    user_id: UUID
    display_name: str
    role: Role
    session_id: UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def valid_username(raw: str) -> str:
    """The username as the user typed it (case kept for display; uniqueness ignores case)."""
    username = raw.strip()
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise InvalidUsername(f"username must be {USERNAME_MIN} to {USERNAME_MAX} characters long", details={"reason": "length"})
    if not _USERNAME.fullmatch(username.lower()):
        raise InvalidUsername(
            "username may contain only ASCII letters, digits, '_', '.' and '-', and must start and end with a letter or digit",
            details={"reason": "characters"},
        )
    if username.lower() in RESERVED_USERNAMES:
        raise InvalidUsername("this username is reserved", details={"reason": "reserved"})
    reason = abuse_in(username)
    if reason:
        raise InvalidUsername("this username is not allowed", details={"reason": reason})
    return username


def username_key(username: str) -> str:
    """The case-insensitive identity of a username (what the unique index and the login limiter use)."""
    return username.strip().lower()


# Letters, marks, numbers, punctuation, symbols and the plain space. Controls, format characters
# (zero-width joiners, bidi overrides that reverse how a name reads), private-use and unassigned
# code points are refused: they are how names impersonate others or break a leaderboard's layout.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


def valid_display_name(raw: str) -> str:
    """The display name normalised (NFKC, trimmed, inner whitespace collapsed) or a clear refusal."""
    name = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not name:
        raise InvalidDisplayName("display name must not be empty", details={"reason": "empty"})
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidDisplayName(f"display name must be at most {DISPLAY_NAME_MAX} characters", details={"reason": "length"})
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise InvalidDisplayName("display name contains invisible or control characters", details={"reason": "characters"})
    reason = abuse_in(name)
    if reason:
        raise DisplayNameRejected("this display name is not allowed; please choose another", details={"reason": reason})
    return name


def valid_password(raw: str, *, username: str) -> str:
    """The password NFKC-normalised (so the same characters typed on another keyboard still match)."""
    password = unicodedata.normalize("NFKC", raw)
    if len(password) < PASSWORD_MIN:
        raise WeakPassword(f"password must be at least {PASSWORD_MIN} characters", details={"reason": "too_short"})
    if len(password) > PASSWORD_MAX:
        raise WeakPassword(f"password must be at most {PASSWORD_MAX} characters", details={"reason": "too_long"})
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        raise WeakPassword("this password is too common", details={"reason": "too_common"})
    if len(set(lowered)) < 5:
        raise WeakPassword("password needs at least 5 different characters", details={"reason": "too_repetitive"})
    if username_key(username) and username_key(username) in lowered:
        raise WeakPassword("password must not contain the username", details={"reason": "contains_username"})
    return password


def login_password(raw: str) -> str:
    """The normalisation `valid_password` applied at sign-up, without the strength rules."""
    return unicodedata.normalize("NFKC", raw)[: PASSWORD_MAX + 1]


# ---------------------------------------------------------------------------------------- abuse filter
# Two tiers, to keep false positives low: terms almost never innocent inside a longer word are matched
# anywhere (after undoing leetspeak and separators, so "f.u_c k" and "5h1t" are caught); terms that
# occur inside harmless words ("grape", "Dickens", "badminton") only as whole words. A name like
# "Scunthorpe" is the accepted cost of the first tier; the error says to choose another name.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "i", "+": "t"}
)
_ANYWHERE = ("fuck", "cunt", "nigger", "nigga", "faggot", "whore", "hitler", "motherf", "kike")
_WHOLE_WORD = frozenset(
    {
        "shit",
        "bitch",
        "slut",
        "rape",
        "rapist",
        "nazi",
        "wank",
        "wanker",
        "twat",
        "retard",
        "spic",
        "chink",
        "pussy",
        "dick",
        "cock",
        "asshole",
        "bastard",
        "porn",
    }
)
_IMPERSONATION = frozenset({"admin", "administrator", "moderator", "mod", "staff", "official", "system", "support"})


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold().translate(_LEET)


def abuse_in(text: str) -> str | None:
    """Why `text` is unacceptable as a public name ("abusive_language" / "impersonation"), or None."""
    folded = _fold(text)
    squashed = re.sub(r"[^a-z]", "", folded)
    if any(term in squashed for term in _ANYWHERE):
        return "abusive_language"
    words = set(re.findall(r"[a-z]+", folded))
    if words & _WHOLE_WORD:
        return "abusive_language"
    if words & _IMPERSONATION:
        return "impersonation"
    return None
