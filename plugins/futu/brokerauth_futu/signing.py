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
) -> dict[str, str]:
    """The four headers of one request (``Authorization`` only when a token is given)."""
    stamp = str(timestamp)
    out = {
        HEADER_KEY: app_key,
        HEADER_TIMESTAMP: stamp,
        HEADER_SIGNATURE: signature(app_secret, string_to_sign(method, path, stamp, body)),
    }
    if access_token is not None:
        out[HEADER_AUTHORIZATION] = f"Bearer {access_token}"
    return out
