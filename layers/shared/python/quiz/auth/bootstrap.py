"""Composition root of the User service: clients and services built once per container, on first use,
from the one settings object. Nothing is built at import time, so importing never needs the network."""

from __future__ import annotations

from functools import cache

import redis
from psycopg_pool import ConnectionPool

from quiz import db
from quiz import redis_client as shared_redis
from quiz.auth.adapters.postgres import PostgresSessionStore, PostgresUserRepository
from quiz.auth.adapters.redis_store import RedisLoginThrottle, RedisRevokedSessions
from quiz.auth.gateway import ConnectAuthorizer
from quiz.auth.passwords import Argon2idHasher
from quiz.auth.services import Authenticator, AuthService
from quiz.auth.tokens import TokenService
from quiz.config import settings


def pool() -> ConnectionPool:
    """The container's one PostgreSQL pool (shared with every other adapter through `quiz.db`)."""
    return db.pool(settings().database_url)


@cache
def redis_client() -> redis.Redis:
    """The container's Redis client, with the layer's short timeouts and single retry (`quiz.redis_client`)."""
    return shared_redis.client(settings().redis_url)


@cache
def token_service() -> TokenService:
    return TokenService(settings().jwt)


@cache
def authenticator() -> Authenticator:
    return Authenticator(token_service(), RedisRevokedSessions(redis_client()))


@cache
def auth_service() -> AuthService:
    settings().jwt.require_signing_key()  # the User service issues tokens: fail now, not on the first login
    return AuthService(
        users=PostgresUserRepository(pool()),
        sessions=PostgresSessionStore(pool()),
        revoked=RedisRevokedSessions(redis_client()),
        throttle=RedisLoginThrottle(redis_client(), settings().login_limits),
        hasher=Argon2idHasher(),
        tokens=token_service(),
    )


@cache
def connect_authorizer() -> ConnectAuthorizer:
    return ConnectAuthorizer(authenticator().principal, PostgresUserRepository(pool()).by_id)


def reset() -> None:
    """Forget every client and the settings (tests that change the environment call this)."""
    db.close_all()
    for built in (redis_client, token_service, authenticator, auth_service, connect_authorizer, settings):
        built.cache_clear()
