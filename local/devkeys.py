"""The development JWT signing key: generated once under the state directory and shared by every
function process and emulator node (a key per process would make each reject the others' tokens).

    env.update(dev_env(REPO / ".state"))   # what the emulator injects into every function locally

Never used outside dev/test/local stages: production loads its keys from configuration.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "signing-key.pem"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (same as `quiz.config.key_id`; local/ does not import the layer)."""
    x = _b64(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    return _b64(hashlib.sha256(f'{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}'.encode()).digest())


def _create_once(path: Path) -> None:
    """Write a fresh key to `path` unless one is there; safe when several processes race."""
    if path.exists():
        return
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic and exclusive: the first process to link wins, the rest read its key
    finally:
        os.unlink(tmp)


def dev_env(state_dir: Path) -> dict[str, str]:
    """JWT_PRIVATE_KEY and JWT_PUBLIC_KEYS for the development key under `state_dir/jwt/`."""
    directory = state_dir / "jwt"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / KEY_FILE
    _create_once(path)
    private_pem = path.read_bytes()
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 key; delete it to generate a new development key")
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "JWT_PRIVATE_KEY": private_pem.decode(),
        "JWT_PUBLIC_KEYS": json.dumps({key_id(key.public_key()): public_pem.decode()}),
    }
