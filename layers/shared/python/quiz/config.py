"""Settings from the environment, parsed and validated once per container (fail fast)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# Stages where a missing JWT_PUBLIC_KEYS may be derived from JWT_PRIVATE_KEY (the development key that
# local/devkeys.py generates). Every other stage is production: keys must be configured explicitly.
DEVELOPMENT_STAGES = frozenset({"dev", "test", "local"})


class ConfigError(RuntimeError):
    """The environment is missing or malformed; the message names the variable to set."""


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required (see template.yaml / README 'Configuration')")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value <= 0:
        raise ConfigError(f"environment variable {name} must be a positive integer, got {value}")
    return value


def _pem(raw: str) -> bytes:
    # A PEM pasted into a one-line variable often arrives with literal "\\n" separators.
    return (raw.replace("\\n", "\n") if "\n" not in raw else raw).strip().encode()


def _private_key(env: Mapping[str, str], name: str) -> Ed25519PrivateKey | None:
    raw = env.get(name, "")
    if not raw.strip():
        return None
    try:
        key = serialization.load_pem_private_key(_pem(raw), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"environment variable {name} must be an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"environment variable {name} must be an Ed25519 key (the one algorithm tokens are signed with: EdDSA)")
    return key


def _public_keys(env: Mapping[str, str], name: str) -> dict[str, Ed25519PublicKey]:
    raw = env.get(name, "")
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment variable {name} must be a JSON object of key id -> public key PEM") from exc
    if not isinstance(parsed, dict) or not parsed:
        raise ConfigError(f"environment variable {name} must be a non-empty JSON object of key id -> public key PEM")
    keys: dict[str, Ed25519PublicKey] = {}
    for kid, pem in parsed.items():
        if not isinstance(pem, str) or not kid:
            raise ConfigError(f"environment variable {name}: key id {kid!r} must map to a PEM string")
        try:
            key = serialization.load_pem_public_key(_pem(pem))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"environment variable {name}: key {kid!r} is not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"environment variable {name}: key {kid!r} must be an Ed25519 public key")
        keys[kid] = key
    return keys


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint of an Ed25519 public key: a stable key id derived from the key itself."""
    x = base64.urlsafe_b64encode(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).rstrip(b"=")
    canonical = b'{"crv":"Ed25519","kty":"OKP","x":"' + x + b'"}'
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class JwtSettings:
    """Token keys and policy. Verification needs only `public_keys`; issuing also needs `private_key`."""

    issuer: str
    audience: str
    public_keys: dict[str, Ed25519PublicKey] = field(repr=False)
    private_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    signing_kid: str | None = None
    access_ttl: int = 900
    refresh_ttl: int = 14 * 24 * 3600
    leeway: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str], stage: str) -> JwtSettings:
        production = stage not in DEVELOPMENT_STAGES
        private_key = _private_key(env, "JWT_PRIVATE_KEY")
        public_keys = _public_keys(env, "JWT_PUBLIC_KEYS")
        if not public_keys and private_key is not None and not production:
            public_keys = {key_id(private_key.public_key()): private_key.public_key()}
        if not public_keys and production:
            raise ConfigError(
                f"environment variable JWT_PUBLIC_KEYS is required in stage {stage!r}: a JSON object of key id -> Ed25519 public key PEM"
            )
        signing_kid = None
        if private_key is not None:
            own = _raw(private_key.public_key())
            signing_kid = next((kid for kid, pub in public_keys.items() if _raw(pub) == own), None)
            if signing_kid is None:
                raise ConfigError("environment variable JWT_PUBLIC_KEYS must contain the public half of JWT_PRIVATE_KEY (under its key id)")
        if production:
            for name in ("JWT_ISSUER", "JWT_AUDIENCE"):
                _get(env, name)
        settings = cls(
            issuer=env.get("JWT_ISSUER") or "https://quiz.local/auth",
            audience=env.get("JWT_AUDIENCE") or "quiz-api",
            public_keys=public_keys,
            private_key=private_key,
            signing_kid=signing_kid,
            access_ttl=_int(env, "JWT_ACCESS_TTL_SECONDS", 900),
            refresh_ttl=_int(env, "JWT_REFRESH_TTL_SECONDS", 14 * 24 * 3600),
            leeway=_int(env, "JWT_LEEWAY_SECONDS", 30),
        )
        if not 60 <= settings.access_ttl <= 3600:
            raise ConfigError("environment variable JWT_ACCESS_TTL_SECONDS must be between 60 and 3600 (access tokens are short-lived)")
        if not 0 <= settings.leeway <= 120:
            raise ConfigError("environment variable JWT_LEEWAY_SECONDS must be between 0 and 120 (a small clock leeway)")
        if settings.refresh_ttl < settings.access_ttl:
            raise ConfigError("environment variable JWT_REFRESH_TTL_SECONDS must not be shorter than JWT_ACCESS_TTL_SECONDS")
        return settings

    def require_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The keys tokens are verified with. A development stage may run functions that never see a token
        without any key; the first verification there fails with the variable to set."""
        if not self.public_keys:
            raise ConfigError(
                "environment variable JWT_PUBLIC_KEYS (or, in a development stage, JWT_PRIVATE_KEY) is required to verify tokens;"
                " locally the emulator injects the development key from local/devkeys.py"
            )
        return self.public_keys

    def require_signing_key(self) -> Ed25519PrivateKey:
        """The key that signs tokens; only the User service needs it."""
        if self.private_key is None or self.signing_kid is None:
            raise ConfigError("environment variable JWT_PRIVATE_KEY is required to issue tokens (an Ed25519 private key PEM)")
        return self.private_key


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per window, per username and per source address (Redis counters)."""

    per_username: int = 5
    per_source_ip: int = 50
    window_seconds: int = 900

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoginLimits:
        limits = cls(
            per_username=_int(env, "LOGIN_MAX_FAILURES_PER_USERNAME", 5),
            per_source_ip=_int(env, "LOGIN_MAX_FAILURES_PER_IP", 50),
            window_seconds=_int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 900),
        )
        if min(limits.per_username, limits.per_source_ip, limits.window_seconds) < 1:
            raise ConfigError(
                "environment variables LOGIN_MAX_FAILURES_PER_USERNAME, LOGIN_MAX_FAILURES_PER_IP and LOGIN_FAILURE_WINDOW_SECONDS must be positive"
            )
        return limits


@dataclass(frozen=True)
class Settings:
    """Everything a function needs to reach its services. Same names on AWS and locally."""

    stage: str
    database_url: str
    redis_url: str
    kafka_bootstrap_servers: str
    zookeeper_hosts: str
    scores_topic: str
    connections_endpoint: str | None
    jwt: JwtSettings
    login_limits: LoginLimits
    scheduler_precision_s: int = 60
    kafka_security_protocol: str = "PLAINTEXT"
    question_clock_arn: str | None = None
    scheduler_role_arn: str | None = None
    # Pacing of leaderboard frames per quiz: never closer than the minimum, and no more frames per second
    # than delivery carries (a room of N connections gets at most LEADERBOARD_FANOUT_FRAMES_PER_S / N a second).
    leaderboard_min_interval_ms: int = 100
    leaderboard_fanout_frames_per_s: int = 5_000
    # A board frame held back for longer than this is not waited for: a board tick brings it back later.
    leaderboard_max_wait_ms: int = 100
    # On AWS a pusher posts this many connections itself and hands each further slice of a room to an
    # asynchronous invocation of FANOUT_FUNCTION_NAME (empty: post everything itself).
    fanout_function_name: str | None = None
    fanout_shard_size: int = 500

    def require(self, field_name: str) -> str:
        """An optional setting that this function needs after all; names the variable when unset."""
        value = getattr(self, field_name)
        if not value:
            raise ConfigError(f"environment variable {field_name.upper()} is required by this function (see template.yaml)")
        return str(value)

    def require_connections_endpoint(self) -> str:
        return self.require("connections_endpoint")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("STAGE") or "dev"
        return cls(
            stage=stage,
            database_url=_get(env, "DATABASE_URL"),
            redis_url=_get(env, "REDIS_URL"),
            kafka_bootstrap_servers=_get(env, "KAFKA_BOOTSTRAP_SERVERS"),
            zookeeper_hosts=env.get("ZOOKEEPER_HOSTS", ""),
            scores_topic=env.get("SCORES_TOPIC", "quiz.scores"),
            connections_endpoint=env.get("CONNECTIONS_ENDPOINT") or None,
            jwt=JwtSettings.from_env(env, stage),
            login_limits=LoginLimits.from_env(env),
            scheduler_precision_s=_int(env, "SCHEDULER_PRECISION_S", 60),
            kafka_security_protocol=env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT",
            question_clock_arn=env.get("QUESTION_CLOCK_ARN") or None,
            scheduler_role_arn=env.get("SCHEDULER_ROLE_ARN") or None,
            leaderboard_min_interval_ms=_positive(env, "LEADERBOARD_MIN_INTERVAL_MS", 100),
            leaderboard_fanout_frames_per_s=_positive(env, "LEADERBOARD_FANOUT_FRAMES_PER_S", 5_000),
            leaderboard_max_wait_ms=_positive(env, "LEADERBOARD_MAX_WAIT_MS", 100),
            fanout_function_name=env.get("FANOUT_FUNCTION_NAME") or None,
            fanout_shard_size=_positive(env, "FANOUT_SHARD_SIZE", 500),
        )


@cache
def settings() -> Settings:
    """The container's settings, read on first use."""
    return Settings.from_env()
