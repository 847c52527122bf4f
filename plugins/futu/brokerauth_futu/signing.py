"""Futu's legacy API-key signature: pure functions shared by the signer and the sandbox.

Each request carries (Futu's authentication docs)::

    X-Api-Key:       <app key>
    X-Api-Timestamp: <Unix seconds>
    X-Api-Signature: hex(HMAC-SHA256(key=app_secret,
                                     msg=METHOD "\\n" PATH "\\n" TIMESTAMP "\\n" BODY))
    Authorization:   Bearer <access token>

What PATH means is not said anywhere public.  The default here is the request target as
sent on the wire: the path, plus ``?`` and the query string exactly as encoded when there is
one (``target``).  Leaving the query out would let anyone who sees a request change its
parameters (``expired_at`` of a token refresh, a symbol) within the 60-second window without
breaking the signature.  ``signature_path = "path"`` signs the path alone, for a server that
turns out to do that.  BODY is the exact bytes sent (nothing when there is no body), hashed
as bytes so no decoding can make the signed text differ from what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, Literal

HEADER_KEY: Final = "X-Api-Key"
HEADER_TIMESTAMP: Final = "X-Api-Timestamp"
HEADER_SIGNATURE: Final = "X-Api-Signature"
HEADER_AUTHORIZATION: Final = "Authorization"

#: Seconds a timestamp stays acceptable; older (or as far ahead) is a replay to Futu.
TIMESTAMP_WINDOW: Final = 60


def signed_path(path: str, query: str, mode: Literal["target", "path"] = "target") -> str:
    """PATH as signed: ``path?query`` (``target``) or ``path`` alone."""
    if mode == "target" and query:
        return f"{path}?{query}"
    return path


def string_to_sign(method: str, path: str, timestamp: str, body: bytes | None) -> bytes:
    """``METHOD \\n PATH \\n TIMESTAMP \\n BODY`` as bytes, the body exactly as sent."""
    head = f"{method.upper()}\n{path}\n{timestamp}\n".encode()
    return head + (body or b"")


def signature(app_secret: str, message: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``message`` keyed with the app secret."""
    return hmac.new(app_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def headers(
    *,
    method: str,
    path: str,
    body: bytes | None,
    timestamp: int,
    app_key: str,
    app_secret: str,
    access_token: str | None,
    steps: dict[str, str] | None = None,
) -> dict[str, str]:
    """The four headers of one request (``Authorization`` only when a token is given).

    With ``steps``, what this very signature was made of is added to it, in the order it is
    computed: never the app secret nor the token."""
    stamp = str(timestamp)
    message = string_to_sign(method, path, stamp, body)
    out = {
        HEADER_KEY: app_key,
        HEADER_TIMESTAMP: stamp,
        HEADER_SIGNATURE: signature(app_secret, message),
    }
    if access_token is not None:
        out[HEADER_AUTHORIZATION] = f"Bearer {access_token}"
    if steps is not None:
        _explain(steps, path, stamp, body, message, out[HEADER_SIGNATURE], access_token)
    return out


def _explain(steps: dict[str, str], path: str, stamp: str, body: bytes | None, message: bytes,
             sent: str, access_token: str | None) -> None:
    steps["signed path"] = path
    steps["timestamp"] = stamp
    # The scheme signs the body itself, not a digest of it; a digest still tells two copies
    # of a large body apart at a glance.
    steps["body digest (SHA-256, lower-case hex)"] = (
        f"{hashlib.sha256(body).hexdigest()} of {len(body)} bytes, which are signed as they are"
        if body else "none: no body, nothing after the last newline"
    )
    # Decoded only to be shown: the bytes signed are ``message``.
    steps["string to sign"] = message.decode("utf-8", "backslashreplace")
    steps["hmac"] = ("HMAC-SHA256 keyed with the app secret (not shown), lower-case hex: "
                     + HEADER_SIGNATURE)
    steps["signature"] = sent
    steps["not signed"] = (
        f"{HEADER_AUTHORIZATION} (Bearer, the access token) and every other header"
        if access_token is not None else "every other header"
    )
