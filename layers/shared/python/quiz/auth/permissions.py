"""Who may do what. Any signed-in user may create and host a quiz; host-only actions belong to that
quiz's host; the admin role exists for operations and is never granted through the API.

"Is this the quiz's host?" is decided here and nowhere else (`is_host`): the quiz service's guards and
views, the WebSocket session's role and the leaderboard's reader check all call it."""

from __future__ import annotations

from uuid import UUID

from quiz.auth.domain import Principal
from quiz.auth.errors import AdminOnly, NotQuizHost


def can_create_quiz(principal: Principal) -> bool:
    """Every signed-in user can create (and so host) a quiz."""
    return True


def is_host(who: Principal | UUID | str, host_id: UUID | str) -> bool:
    """Whether this caller (or user id) hosts the quiz whose host is `host_id`. Ids are compared in their
    canonical text form, which is how both the database (``host_id::text``) and the token spell them."""
    user_id = who.user_id if isinstance(who, Principal) else who
    return str(user_id) == str(host_id)


def may_host(principal: Principal, host_id: UUID | str, *, allow_admin: bool = False) -> bool:
    """The quiz's host, or (when the action allows it) an admin."""
    return is_host(principal, host_id) or (allow_admin and principal.is_admin)


def require_host(principal: Principal, host_id: UUID | str, *, allow_admin: bool = False) -> None:
    """Raise 403 `not_quiz_host` unless the caller hosts the quiz (or, when the action allows it, is an admin)."""
    if not may_host(principal, host_id, allow_admin=allow_admin):
        raise NotQuizHost("only the quiz's host can do this")


def require_admin(principal: Principal) -> None:
    """Raise 403 `admin_only` unless the caller has the admin role."""
    if not principal.is_admin:
        raise AdminOnly("this operation needs the admin role")
