"""Webull's gRPC metadata signature (``webull-grpc``), byte-for-byte like the official SDK's
trade-events client (``webull/trade/events/signature_composer.py``).

Pure functions, no I/O, no clock and no randomness: the timestamp and nonce come in.  gRPC
is not imported: this module signs bytes, the interceptor in
:mod:`brokerauth_webull.grpc_auth` (the ``[grpc]`` extra) puts the result on a call.

The scheme differs from HTTP signing (:mod:`brokerauth_webull.signing`) in three ways: no
``host`` and no path are signed, the sorted ``k=v`` pairs are joined with ``=`` (the SDK's
``_build_sign_string`` with ``uri=None``), and the body digest is *lower-case* hex::

    pairs     = sorted {x-app-key, x-signature-algorithm, x-signature-nonce,
                        x-signature-version, x-timestamp}
    canonical = join("=", "k=v" for pairs) ["&" lower_hex(DIGEST(serialized request))]
    to_sign   = quote(canonical, safe="")
    signature = base64(HMAC(app_secret + "&", to_sign))

DIGEST is SHA-256 for HMAC-SHA256 (what SDK 3.x sends) and MD5 for HMAC-SHA1 (the older
SDK's ``md5_hex``), as over HTTP.  The metadata is sent in the SDK's order (see
:func:`metadata`); ``x-access-token``, when a 2FA token is in use, is added unsigned.
"""

from __future__ import annotations

import hashlib
from typing import Final

from brokerauth_webull import signing

#: The order the SDK puts the metadata in; ``x-signature`` follows, then the token if any.
METADATA_ORDER: Final = (
    signing.APP_KEY,
    signing.SIGNATURE_ALGORITHM,
    signing.SIGNATURE_VERSION_HEADER,
    signing.NONCE,
    signing.TIMESTAMP,
)


def body_digest(body: bytes | None, algorithm: str = signing.DEFAULT_ALGORITHM) -> str | None:
    """Lower-case hex digest of the serialized request (``None`` for an empty one: the SDK
    appends nothing when there is no message)."""
    if not body:
        return None
    if algorithm == "HMAC-SHA256":
        return hashlib.sha256(body).hexdigest()
    if algorithm == "HMAC-SHA1":
        return hashlib.md5(body, usedforsecurity=False).hexdigest()
    raise ValueError(_unsupported(algorithm))


def canonical_string(
    app_key: str,
    timestamp: str,
    nonce: str,
    body: bytes | None,
    algorithm: str = signing.DEFAULT_ALGORITHM,
) -> str:
    """The string before percent-encoding, to debug and to explain."""
    digest = body_digest(body, algorithm)
    pairs = {
        signing.APP_KEY: app_key,
        signing.SIGNATURE_ALGORITHM: algorithm,
        signing.NONCE: nonce,
        signing.SIGNATURE_VERSION_HEADER: signing.SIGNATURE_VERSION,
        signing.TIMESTAMP: timestamp,
    }
    joined = "=".join(f"{k}={v}" for k, v in sorted(pairs.items()))
    return joined if digest is None else f"{joined}&{digest}"


def string_to_sign(
    app_key: str,
    timestamp: str,
    nonce: str,
    body: bytes | None,
    algorithm: str = signing.DEFAULT_ALGORITHM,
) -> str:
    """``quote(canonical_string(...), safe="")``."""
    return signing.quote(canonical_string(app_key, timestamp, nonce, body, algorithm))


def metadata(
    app_key: str,
    app_secret: str,
    timestamp: str,
    nonce: str,
    body: bytes | None,
    algorithm: str = signing.DEFAULT_ALGORITHM,
    access_token: str | None = None,
) -> list[tuple[str, str]]:
    """The call's metadata in the SDK's order: the five signed values, ``x-signature``, and
    ``x-access-token`` (unsigned) when given.  The app secret is only the HMAC key."""
    to_sign = string_to_sign(app_key, timestamp, nonce, body, algorithm)
    values = {
        signing.APP_KEY: app_key,
        signing.SIGNATURE_ALGORITHM: algorithm,
        signing.SIGNATURE_VERSION_HEADER: signing.SIGNATURE_VERSION,
        signing.NONCE: nonce,
        signing.TIMESTAMP: timestamp,
    }
    pairs = [(name, values[name]) for name in METADATA_ORDER]
    pairs.append((signing.SIGNATURE, signing.signature(to_sign, app_secret, algorithm)))
    if access_token is not None:
        pairs.append((signing.ACCESS_TOKEN, access_token))
    return pairs


def _unsupported(algorithm: str) -> str:
    return (f"unsupported signature algorithm {algorithm!r} "
            f"(use one of {', '.join(signing.ALGORITHMS)})")
