"""Acme's request signature: pure functions shared by the signer and the sandbox."""

from __future__ import annotations

import hashlib
import hmac


def string_to_sign(
    method: str,
    host: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    body: bytes | None,
    authorization: str = "",
) -> bytes:
    """Acme signs the token a request carries too, so token and signature always match."""
    digest = hashlib.sha256(body or b"").hexdigest()
    return "\n".join(
        (method, host, path, query, timestamp, nonce, digest, authorization)
    ).encode()


def signature(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
