"""JWT settings: keys from configuration, validated once, failing fast with the variable's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from local.devkeys import dev_env
from quiz.config import ConfigError, JwtSettings, Settings, key_id
from tests.auth_support import key_env

BASE = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "KAFKA_BOOTSTRAP_SERVERS": "x:9092"}


def test_settings_carry_jwt_keys_and_policy() -> None:
    key = Ed25519PrivateKey.generate()
    settings = Settings.from_env({**BASE, "STAGE": "prod", "JWT_ISSUER": "https://i", "JWT_AUDIENCE": "a", **key_env(key, "k1")})
    assert settings.jwt.signing_kid == "k1"
    assert (settings.jwt.issuer, settings.jwt.audience, settings.jwt.access_ttl, settings.jwt.leeway) == ("https://i", "a", 900, 30)
    assert "BEGIN" not in repr(settings), "keys must never appear in a repr (or a log line built from it)"


@pytest.mark.parametrize("stage", ["prod", "staging", "eu-live"])
def test_production_refuses_to_start_without_keys(stage: str) -> None:
    with pytest.raises(ConfigError, match="JWT_PUBLIC_KEYS"):
        JwtSettings.from_env({"JWT_ISSUER": "https://i", "JWT_AUDIENCE": "a"}, stage)
    key = Ed25519PrivateKey.generate()
    only_private = {"JWT_ISSUER": "https://i", "JWT_AUDIENCE": "a", "JWT_PRIVATE_KEY": key_env(key)["JWT_PRIVATE_KEY"]}
    with pytest.raises(ConfigError, match="JWT_PUBLIC_KEYS"):
        JwtSettings.from_env(only_private, stage)
    with pytest.raises(ConfigError, match="JWT_ISSUER"):
        JwtSettings.from_env(key_env(key), stage)


def test_development_stage_without_keys_fails_at_first_use_naming_the_variable() -> None:
    jwt = JwtSettings.from_env({}, "dev")
    with pytest.raises(ConfigError, match="JWT_PUBLIC_KEYS"):
        jwt.require_public_keys()
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY"):
        jwt.require_signing_key()


def test_development_stage_derives_the_key_id_from_the_private_key() -> None:
    key = Ed25519PrivateKey.generate()
    jwt = JwtSettings.from_env({"JWT_PRIVATE_KEY": key_env(key)["JWT_PRIVATE_KEY"]}, "dev")
    assert jwt.signing_kid == key_id(key.public_key())


def test_one_line_pem_with_escaped_newlines_is_accepted() -> None:
    env = key_env(Ed25519PrivateKey.generate())
    env["JWT_PRIVATE_KEY"] = env["JWT_PRIVATE_KEY"].replace("\n", "\\n")
    assert JwtSettings.from_env(env, "dev").private_key is not None


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"JWT_PUBLIC_KEYS": "not json"}, "JWT_PUBLIC_KEYS"),
        ({"JWT_PUBLIC_KEYS": json.dumps({"k": "garbage"})}, "JWT_PUBLIC_KEYS"),
        ({"JWT_PRIVATE_KEY": "garbage"}, "JWT_PRIVATE_KEY"),
        ({"JWT_ACCESS_TTL_SECONDS": "86400"}, "JWT_ACCESS_TTL_SECONDS"),
        ({"JWT_LEEWAY_SECONDS": "3600"}, "JWT_LEEWAY_SECONDS"),
        ({"JWT_ACCESS_TTL_SECONDS": "abc"}, "JWT_ACCESS_TTL_SECONDS"),
        ({"LOGIN_MAX_FAILURES_PER_IP": "0"}, "LOGIN_MAX_FAILURES_PER_IP"),
    ],
)
def test_malformed_values_name_the_variable(change: dict[str, str], variable: str) -> None:
    env = {**BASE, **key_env(Ed25519PrivateKey.generate()), **change}
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_non_ed25519_keys_are_refused() -> None:
    ec = generate_private_key(SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with pytest.raises(ConfigError, match="Ed25519"):
        JwtSettings.from_env({"JWT_PRIVATE_KEY": ec}, "dev")


def test_private_key_must_be_among_the_public_keys() -> None:
    env = {**key_env(Ed25519PrivateKey.generate()), "JWT_PUBLIC_KEYS": key_env(Ed25519PrivateKey.generate())["JWT_PUBLIC_KEYS"]}
    with pytest.raises(ConfigError, match="public half of JWT_PRIVATE_KEY"):
        JwtSettings.from_env(env, "dev")


def test_dev_key_is_generated_once_and_shared(tmp_path: Path) -> None:
    first = dev_env(tmp_path)
    assert dev_env(tmp_path) == first, "every process must get the same key"
    assert (tmp_path / "jwt" / "signing-key.pem").stat().st_mode & 0o077 == 0
    jwt = JwtSettings.from_env(first, "dev")
    assert jwt.signing_kid in json.loads(first["JWT_PUBLIC_KEYS"])
