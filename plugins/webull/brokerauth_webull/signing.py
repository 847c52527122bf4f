"""Webull OpenAPI HTTP request signing, byte-for-byte like the official SDK 3.0.4.

Pure functions, no I/O, no clock and no randomness: the timestamp and nonce come in.

The scheme::

    params    = {host, x-app-key, x-signature-algorithm, x-signature-nonce,
                 x-signature-version, x-timestamp} + query pairs (key case kept, raw value;
                 a key already present gets "old&new")
    canonical = PATH "&" join("&", sorted "k=v") ["&" UPPER_HEX(DIGEST(body bytes))]
    to_sign   = quote(canonical, safe="")
    signature = base64(HMAC(app_secret + "&", to_sign))

The app secret is only ever an HMAC key: it is never a header, never in a returned string.

:func:`string_to_sign` is the hot path and never builds the canonical string: percent-encoding
works character by character, so ``quote(a + b) == quote(a) + quote(b)`` and the string to
sign can be assembled from pieces quoted once and cached (keys, host, path, app key), which
costs a fraction of quoting the whole canonical string on every call as the SDK does.
:func:`canonical_string` builds the unencoded form the slow, obvious way for debugging.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Final, Literal

from brokerauth.contract.wire import Request

Algorithm = Literal["HMAC-SHA256", "HMAC-SHA1"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("HMAC-SHA256", "HMAC-SHA1")
DEFAULT_ALGORITHM: Final[Algorithm] = "HMAC-SHA256"
SIGNATURE_VERSION: Final = "1.0"
#: ``x-timestamp``: UTC, second precision.
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

APP_KEY: Final = "x-app-key"
TIMESTAMP: Final = "x-timestamp"
SIGNATURE_VERSION_HEADER: Final = "x-signature-version"
SIGNATURE_ALGORITHM: Final = "x-signature-algorithm"
NONCE: Final = "x-signature-nonce"
SIGNATURE: Final = "x-signature"
ACCESS_TOKEN: Final = "x-access-token"
VERSION: Final = "x-version"
HOST: Final = "host"

#: The headers whose values are signed (with ``host``); ``x-signature`` carries the result.
SIGNED_HEADERS: Final = (APP_KEY, TIMESTAMP, SIGNATURE_VERSION_HEADER, SIGNATURE_ALGORITHM, NONCE)

_HMAC_DIGEST: Final[dict[str, str]] = {"HMAC-SHA256": "sha256", "HMAC-SHA1": "sha1"}

# ``urllib.parse.quote(s, safe="")`` keeps exactly these characters.
_is_unreserved = re.compile(r"[A-Za-z0-9._~-]*\Z").match
_QUOTE_TABLE: Final[tuple[str, ...]] = tuple(
    chr(b) if chr(b).isascii() and _is_unreserved(chr(b)) else f"%{b:02X}" for b in range(256)
)


def quote(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``: UTF-8, upper-case hex, ``A-Za-z0-9-._~`` kept."""
    if _is_unreserved(text):
        return text
    table = _QUOTE_TABLE
    return "".join([table[b] for b in text.encode("utf-8")])


# Keys, hosts, paths, app keys and most query values repeat from call to call; the nonce is
# quoted without the cache so unique values do not churn it.
_quote_cached: Callable[[str], str] = functools.lru_cache(maxsize=4096)(quote)


def body_digest(body: bytes | None, algorithm: str = DEFAULT_ALGORITHM) -> str | None:
    """Upper-case hex digest of the exact body bytes: SHA-256 for HMAC-SHA256, MD5 for
    HMAC-SHA1.  ``None`` when there is no body: an absent body adds nothing to the string to
    sign (an empty one cannot be told from an absent one on the wire), while ``b"{}"`` does."""
    if not body:
        return None
    if algorithm == "HMAC-SHA256":
        return hashlib.sha256(body).hexdigest().upper()
    if algorithm == "HMAC-SHA1":
        return hashlib.md5(body, usedforsecurity=False).hexdigest().upper()
    raise ValueError(_unsupported(algorithm))


def sign_params(
    request: Request, app_key: str, timestamp: str, nonce: str, algorithm: str
) -> dict[str, str]:
    """The map that is sorted and joined: the signed headers, ``host``, then each query pair
    (key case kept, raw value); a key already present becomes ``old&new``."""
    params = {
        HOST: request.host,
        APP_KEY: app_key,
        SIGNATURE_ALGORITHM: algorithm,
        NONCE: nonce,
        SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
        TIMESTAMP: timestamp,
    }
    for key, value in request.params:
        old = params.get(key)
        params[key] = value if old is None else f"{old}&{value}"
    return params


def canonical_string(
    request: Request,
    app_key: str,
    timestamp: str,
    nonce: str,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """The string before percent-encoding (what the SDK logs as its sign string), to debug."""
    _check_algorithm(algorithm)
    params = sign_params(request, app_key, timestamp, nonce, algorithm)
    text = request.path + "&" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = body_digest(request.body, algorithm)
    return text if digest is None else f"{text}&{digest}"


def string_to_sign(
    request: Request,
    app_key: str,
    timestamp: str,
    nonce: str,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """``quote(canonical_string(...), safe="")``, assembled from quoted pieces (fast path)."""
    q = _quote_cached
    if algorithm not in _HMAC_DIGEST:
        raise ValueError(_unsupported(algorithm))
    quoted_nonce = quote(nonce)
    if request.params:
        # Values are kept already quoted: quote("old&new") == quote(old) + "%26" + quote(new).
        merged = {
            HOST: q(request.host),
            APP_KEY: q(app_key),
            SIGNATURE_ALGORITHM: algorithm,
            NONCE: quoted_nonce,
            SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
            TIMESTAMP: q(timestamp),
        }
        for key, value in request.params:
            old = merged.get(key)
            merged[key] = q(value) if old is None else f"{old}%26{q(value)}"
        joined = "%26".join([f"{q(k)}%3D{v}" for k, v in sorted(merged.items())])
    else:
        # The six keys sort in this fixed order.
        joined = (
            f"host%3D{q(request.host)}%26x-app-key%3D{q(app_key)}"
            f"%26x-signature-algorithm%3D{algorithm}%26x-signature-nonce%3D{quoted_nonce}"
            f"%26x-signature-version%3D{SIGNATURE_VERSION}%26x-timestamp%3D{q(timestamp)}"
        )
    digest = body_digest(request.body, algorithm)
    if digest is None:
        return f"{q(request.path)}%26{joined}"
    return f"{q(request.path)}%26{joined}%26{digest}"


def signature(to_sign: str, app_secret: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """``base64(HMAC(app_secret + "&", to_sign))``."""
    try:
        digest_name = _HMAC_DIGEST[algorithm]
    except KeyError:
        raise ValueError(_unsupported(algorithm)) from None
    mac = hmac.digest((app_secret + "&").encode("utf-8"), to_sign.encode("ascii"), digest_name)
    return binascii.b2a_base64(mac, newline=False).decode("ascii")


def signature_headers(
    request: Request,
    app_key: str,
    app_secret: str,
    timestamp: str,
    nonce: str,
    algorithm: str = DEFAULT_ALGORITHM,
    access_token: str | None = None,
) -> dict[str, str]:
    """The headers that authenticate ``request``; ``x-access-token`` (not signed) when given.

    ``x-version`` is not added: it names the endpoint's generation and belongs to the caller.
    """
    to_sign = string_to_sign(request, app_key, timestamp, nonce, algorithm)
    headers = {
        APP_KEY: app_key,
        TIMESTAMP: timestamp,
        SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
        SIGNATURE_ALGORITHM: algorithm,
        NONCE: nonce,
        SIGNATURE: signature(to_sign, app_secret, algorithm),
    }
    if access_token is not None:
        headers[ACCESS_TOKEN] = access_token
    return headers


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in _HMAC_DIGEST:
        raise ValueError(_unsupported(algorithm))


def _unsupported(algorithm: str) -> str:
    return f"unsupported signature algorithm {algorithm!r} (use one of {', '.join(ALGORITHMS)})"
