"""AuthService and the $connect authorizer with small fakes at the ports (no I/O)."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quiz.auth import principal_from_ws
from quiz.auth.authorizer import ConnectAuthorizer
from quiz.auth.credentials import bearer_token
from quiz.auth.domain import Principal, User
from quiz.auth.errors import InvalidCredentials, RefreshTokenReused, TokenRejected, TokenRevoked, UsernameTaken, WeakPassword
from quiz.auth.ports import Rotation
from quiz.auth.services import Authenticator, AuthService
from quiz.auth.tokens import TokenService
from quiz.config import JwtSettings
from quiz.errors import TooManyRequests
from tests import auth_support as forge

KEY = Ed25519PrivateKey.generate()


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[UUID, User] = {}

    def add(self, user: User) -> None:
        if self.by_username(user.username):
            raise UsernameTaken("taken")
        self.rows[user.id] = user

    def by_username(self, username: str) -> User | None:
        return next((u for u in self.rows.values() if u.username.lower() == username.lower()), None)

    def by_id(self, user_id: UUID) -> User | None:
        return self.rows.get(user_id)

    def rename(self, user_id: UUID, display_name: str, now: datetime) -> User | None:
        old = self.rows.get(user_id)
        if old is None:
            return None
        self.rows[user_id] = User(old.id, old.username, display_name, old.password_hash, old.role, old.created_at, now)
        return self.rows[user_id]

    def set_password_hash(self, user_id: UUID, password_hash: str, now: datetime) -> None:
        old = self.rows[user_id]
        self.rows[user_id] = User(old.id, old.username, old.display_name, password_hash, old.role, old.created_at, now)


class FakeSessions:
    def __init__(self) -> None:
        self.owner: dict[UUID, UUID] = {}
        self.revoked: dict[UUID, str] = {}
        self.tokens: dict[UUID, tuple[UUID, UUID | None]] = {}  # jti -> (session, replaced_by)

    def start(self, session_id: UUID, user_id: UUID, jti: UUID, expires_at: datetime) -> None:
        self.owner[session_id] = user_id
        self.tokens[jti] = (session_id, None)

    def rotate(self, session_id: UUID, jti: UUID, next_jti: UUID, next_expires_at: datetime) -> Rotation:
        if session_id not in self.owner or self.tokens.get(jti, (None, None))[0] != session_id:
            return Rotation.UNKNOWN
        if session_id in self.revoked:
            return Rotation.REVOKED
        if self.tokens[jti][1] is not None:
            self.revoked[session_id] = "refresh_reuse"
            return Rotation.REUSED
        self.tokens[jti] = (session_id, next_jti)
        self.tokens[next_jti] = (session_id, None)
        return Rotation.ROTATED

    def revoke(self, session_id: UUID, user_id: UUID, reason: str) -> bool:
        if self.owner.get(session_id) != user_id or session_id in self.revoked:
            return False
        self.revoked[session_id] = reason
        return True

    def revoke_all(self, user_id: UUID, reason: str) -> list[UUID]:
        ids = [s for s, u in self.owner.items() if u == user_id and s not in self.revoked]
        for s in ids:
            self.revoked[s] = reason
        return ids


class FakeRevoked:
    def __init__(self) -> None:
        self.ids: set[UUID] = set()

    def revoke(self, session_id: UUID, ttl_seconds: int) -> None:
        assert ttl_seconds >= 900
        self.ids.add(session_id)

    def is_revoked(self, session_id: UUID) -> bool:
        return session_id in self.ids


class FakeThrottle:
    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.failures: dict[str, int] = {}

    def check(self, username_key: str, source_ip: str) -> None:
        if max(self.failures.get(username_key, 0), self.failures.get(source_ip, 0)) >= self.limit:
            raise TooManyRequests("slow down", retry_after=60)

    def record_failure(self, username_key: str, source_ip: str) -> None:
        for key in (username_key, source_ip):
            self.failures[key] = self.failures.get(key, 0) + 1

    def record_success(self, username_key: str, source_ip: str) -> None:
        self.failures.pop(username_key, None)


class FakeHasher:
    def __init__(self) -> None:
        self.dummy_checks = 0

    def hash(self, password: str) -> str:
        return f"fake${password}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"fake${password}"

    def verify_dummy(self, password: str) -> None:
        self.dummy_checks += 1

    def needs_rehash(self, password_hash: str) -> bool:
        return False


class World:
    def __init__(self) -> None:
        self.users, self.sessions, self.revoked = FakeUsers(), FakeSessions(), FakeRevoked()
        self.throttle, self.hasher = FakeThrottle(), FakeHasher()
        self.tokens = TokenService(JwtSettings.from_env(forge.key_env(KEY), "test"))
        self.service = AuthService(self.users, self.sessions, self.revoked, self.throttle, self.hasher, self.tokens)
        self.auth = Authenticator(self.tokens, self.revoked)


PASSWORD = "correct horse battery"


@pytest.fixture
def world() -> World:
    return World()


def test_signup_then_login_issues_tokens_for_that_user(world: World) -> None:
    signed_up = world.service.signup("Ana", PASSWORD, "  Ana  B ")
    assert signed_up.user.display_name == "Ana B"
    assert signed_up.user.password_hash != PASSWORD
    body = world.service.login("ana", PASSWORD, "10.0.0.1").to_body()
    assert body["token_type"] == "Bearer" and body["expires_in_ms"] == 900_000
    assert body["user"]["id"] == str(signed_up.user.id)
    assert world.auth.principal(body["access_token"]).user_id == signed_up.user.id


def test_duplicate_username_differs_only_in_case(world: World) -> None:
    world.service.signup("Ana", PASSWORD, "Ana")
    with pytest.raises(UsernameTaken):
        world.service.signup("ANA", PASSWORD, "Other")


def test_weak_password_creates_nothing(world: World) -> None:
    with pytest.raises(WeakPassword):
        world.service.signup("ana", "password123", "Ana")
    assert world.users.rows == {}


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    world.service.signup("ana", PASSWORD, "Ana")
    with pytest.raises(InvalidCredentials) as wrong:
        world.service.login("ana", "not the password", "10.0.0.1")
    with pytest.raises(InvalidCredentials) as unknown:
        world.service.login("nobody", PASSWORD, "10.0.0.1")
    assert (wrong.value.status, wrong.value.message) == (unknown.value.status, unknown.value.message) == (401, "wrong username or password")
    assert world.hasher.dummy_checks == 1, "an unknown username still costs a hash verification"


def test_failed_logins_are_throttled_and_success_resets_the_username(world: World) -> None:
    world.service.signup("ana", PASSWORD, "Ana")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            world.service.login("ana", "wrong password!", "10.0.0.1")
    world.service.login("ana", PASSWORD, "10.0.0.2")
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            world.service.login("ana", "wrong password!", "10.0.0.3")
    with pytest.raises(TooManyRequests) as caught:
        world.service.login("ana", PASSWORD, "10.0.0.4")
    assert caught.value.headers["Retry-After"] == "60"


def test_refresh_rotates_and_reuse_revokes_the_family(world: World) -> None:
    world.service.signup("ana", PASSWORD, "Ana")
    first = world.service.login("ana", PASSWORD, "10.0.0.1").tokens
    second = world.service.refresh(first.refresh_token).tokens
    assert second.refresh_token != first.refresh_token
    world.auth.principal(second.access_token)
    with pytest.raises(RefreshTokenReused) as reused:
        world.service.refresh(first.refresh_token)
    assert (reused.value.status, reused.value.code) == (401, "refresh_token_reused")
    with pytest.raises(TokenRevoked):
        world.service.refresh(second.refresh_token)
    with pytest.raises(TokenRevoked):
        world.auth.principal(second.access_token)


def test_logout_revokes_refresh_and_access_tokens_of_that_session_only(world: World) -> None:
    world.service.signup("ana", PASSWORD, "Ana")
    phone = world.service.login("ana", PASSWORD, "10.0.0.1").tokens
    laptop = world.service.login("ana", PASSWORD, "10.0.0.1").tokens
    world.service.logout(world.auth.principal(phone.access_token))
    with pytest.raises(TokenRevoked):
        world.auth.principal(phone.access_token)
    with pytest.raises(TokenRevoked):
        world.service.refresh(phone.refresh_token)
    world.auth.principal(laptop.access_token)
    world.service.logout(world.auth.principal(laptop.access_token), everywhere=True)
    with pytest.raises(TokenRevoked):
        world.service.refresh(laptop.refresh_token)


def test_rename_validates_and_profile_follows(world: World) -> None:
    user = world.service.signup("ana", PASSWORD, "Ana").user
    me = Principal(user.id, user.display_name, user.role)
    assert world.service.rename(me, " Ana  Banana ").display_name == "Ana Banana"
    assert world.service.profile(me).display_name == "Ana Banana"


def test_connect_authorizer_allows_denies_or_refuses(world: World) -> None:
    user = world.service.signup("ana", PASSWORD, "Ana").user
    access = world.service.login("ana", PASSWORD, "10.0.0.1").tokens.access_token
    authorizer = ConnectAuthorizer(world.auth.principal, world.users.by_id)

    allowed = authorizer.authorize(forge.connect_event(query_token=access))
    assert allowed["principalId"] == str(user.id)
    assert allowed["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": forge.load_event("ws-authorizer-request")["methodArn"]}
    ]
    session = world.auth.principal(access).session_id
    assert allowed["context"] == {"userId": str(user.id), "displayName": "Ana", "role": "player", "sessionId": str(session)}
    assert authorizer.authorize(forge.connect_event(header_token=access))["principalId"] == str(user.id)

    ghost = forge.sign(forge.claims(), KEY)  # valid signature, but no such account
    denied = authorizer.authorize(forge.connect_event(query_token=ghost))
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in denied

    for event in (forge.connect_event(), forge.connect_event(query_token="garbage"), forge.connect_event(header_token="x.y.z")):
        with pytest.raises(TokenRejected):
            authorizer.authorize(event)


def test_authenticate_needs_a_bearer_header() -> None:
    event = forge.http_event("GET /users/me")
    with pytest.raises(TokenRejected) as missing:
        bearer_token(event)
    assert missing.value.code == "missing_token"
    event["headers"]["authorization"] = "Basic YW5hOnB3"
    with pytest.raises(TokenRejected) as wrong_scheme:
        bearer_token(event)
    assert wrong_scheme.value.code == "invalid_token"
    event["headers"]["authorization"] = "bearer  abc "
    assert bearer_token(event) == "abc"


def test_principal_from_ws_reads_the_authorizer_context() -> None:
    user_id = uuid.uuid4()
    event = {"requestContext": {"authorizer": {"principalId": str(user_id), "userId": str(user_id), "displayName": "Ana", "role": "admin"}}}
    principal = principal_from_ws(event)
    assert (principal.user_id, principal.display_name, principal.is_admin) == (user_id, "Ana", True)
    with pytest.raises(TokenRejected):
        principal_from_ws({"requestContext": {}})
