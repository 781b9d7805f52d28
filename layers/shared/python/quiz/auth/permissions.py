"""Who may do what. Any signed-in user may create and host a quiz; host-only actions belong to that
quiz's host; the admin role exists for operations and is never granted through the API."""

from __future__ import annotations

from uuid import UUID

from quiz.auth.domain import Principal
from quiz.auth.errors import AdminOnly, NotQuizHost


def can_create_quiz(principal: Principal) -> bool:
    """Every signed-in user can create (and so host) a quiz."""
    return True


def is_host(principal: Principal, host_id: UUID) -> bool:
    return principal.user_id == host_id


def require_host(principal: Principal, host_id: UUID, *, allow_admin: bool = False) -> None:
    """Raise 403 `not_quiz_host` unless the caller hosts the quiz (or, when the action allows it, is an admin)."""
    if is_host(principal, host_id) or (allow_admin and principal.is_admin):
        return
    raise NotQuizHost("only the quiz's host can do this")


def require_admin(principal: Principal) -> None:
    """Raise 403 `admin_only` unless the caller has the admin role."""
    if not principal.is_admin:
        raise AdminOnly("this operation needs the admin role")
