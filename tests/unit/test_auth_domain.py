"""Username, display-name and password rules, the abuse filter, and permissions (pure)."""

from __future__ import annotations

import uuid

import pytest

from quiz.auth import Principal, Role, can_create_quiz, require_admin, require_host
from quiz.auth.domain import abuse_in, valid_display_name, valid_password, valid_username
from quiz.auth.errors import AdminOnly, DisplayNameRejected, InvalidDisplayName, InvalidUsername, NotQuizHost, WeakPassword


def fullwidth(text: str) -> str:
    """The same letters from the fullwidth block (how names dodge filters and look-alike checks)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize("name", ["ana", "Ana_Maria", "bob.smith-2", "x" * 32, "a1b"])
def test_good_usernames_are_kept_as_typed(name: str) -> None:
    assert valid_username(f"  {name} ") == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ab", "length"),
        ("x" * 33, "length"),
        ("ana maria", "characters"),
        ("_ana", "characters"),
        ("ana-", "characters"),
        ("añá", "characters"),
        ("ana@x", "characters"),
        ("Admin", "reserved"),
        ("fuckface", "abusive_language"),
        ("support.team", "impersonation"),
    ],
)
def test_bad_usernames_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidUsername) as caught:
        valid_username(name)
    assert caught.value.code == "invalid_username"
    assert caught.value.status == 400
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ana   María ", "Ana María"),
        ("Zoë 🦊", "Zoë 🦊"),
        (fullwidth("Fullwidth"), "Fullwidth"),
        ("李小龙", "李小龙"),
        ("Badminton Fan", "Badminton Fan"),
    ],
)
def test_display_names_are_normalised(raw: str, expected: str) -> None:
    assert valid_display_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("   ", "empty"),
        ("x" * 41, "length"),
        ("evil\u202eeman", "characters"),
        ("zero\u200bwidth", "characters"),
        ("tab\x07bell", "characters"),
    ],
)
def test_invalid_display_names_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidDisplayName) as caught:
        valid_display_name(raw)
    assert (caught.value.code, caught.value.details["reason"]) == ("invalid_display_name", reason)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("Fuck You", "abusive_language"),
        ("f.u_c k", "abusive_language"),
        ("5H1T head", "abusive_language"),
        (fullwidth("Fuck"), "abusive_language"),
        ("Quiz Admin", "impersonation"),
        ("Official Staff", "impersonation"),
    ],
)
def test_abusive_display_names_are_rejected_with_their_own_code(raw: str, reason: str) -> None:
    with pytest.raises(DisplayNameRejected) as caught:
        valid_display_name(raw)
    assert (caught.value.status, caught.value.code, caught.value.details["reason"]) == (400, "display_name_rejected", reason)


@pytest.mark.parametrize("innocent", ["Grape Juice", "Charles Dickens", "Hitchcock fan", "Spice Girl", "Assassin", "Moderately good"])
def test_the_abuse_filter_leaves_innocent_words_alone(innocent: str) -> None:
    assert abuse_in(innocent) is None


def test_strong_password_passes_normalised() -> None:
    assert valid_password("correct horse battery", username="ana") == "correct horse battery"
    assert valid_password(fullwidth("fullwidth") + "-pass", username="ana") == "fullwidth-pass"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "too_short"),
        ("x" * 129, "too_long"),
        ("Password123", "too_common"),
        ("1234567890", "too_common"),
        ("abababababab", "too_repetitive"),
        ("my-ana_maria-pw", "contains_username"),
    ],
)
def test_weak_passwords_say_why(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        valid_password(password, username="Ana_Maria")
    assert (caught.value.code, caught.value.details["reason"]) == ("weak_password", reason)


def test_permissions_host_only_and_admin() -> None:
    host, guest = uuid.uuid4(), uuid.uuid4()
    player = Principal(host, "Host", Role.PLAYER)
    other = Principal(guest, "Guest", Role.PLAYER)
    admin = Principal(uuid.uuid4(), "Ops", Role.ADMIN)
    assert can_create_quiz(other)
    require_host(player, host)
    with pytest.raises(NotQuizHost) as caught:
        require_host(other, host)
    assert (caught.value.status, caught.value.code) == (403, "not_quiz_host")
    with pytest.raises(NotQuizHost):
        require_host(admin, host)
    require_host(admin, host, allow_admin=True)
    require_admin(admin)
    with pytest.raises(AdminOnly) as denied:
        require_admin(player)
    assert (denied.value.status, denied.value.code) == (403, "admin_only")
