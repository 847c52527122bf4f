"""Webull's server-side check of a request signature, as the sandbox runs it.

Written the plain way the SDK computes a signature (one dict, ``sorted``, ``quote`` of the
whole canonical string, ``hmac.new``) and deliberately sharing no code with
:mod:`brokerauth_webull.signing`: the signer's fast path is tested against this independent
reference, so a shared mistake cannot make both agree.

The server rebuilds the string to sign from what it received: the query decoded back to raw
values (the URL carries them ``urlencode``-d), header names lower-cased, ``host`` exactly as
the ``Host`` header arrived, and the digest of the exact body bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from brokerauth_webull import codes
from brokerauth_webull.codes import WebullError

#: The metadata every signature covers (HTTP and gRPC alike), and what each one's absence is
#: refused with.
SIGNED_HEADERS: Final = (
    "x-app-key",
    "x-signature-algorithm",
    "x-signature-nonce",
    "x-signature-version",
    "x-timestamp",
)
REQUIRED_HEADERS: Final = (
    ("x-app-key", codes.MISSING_APP_KEY),
    ("x-signature", codes.MISSING_SIGNATURE),
    ("x-signature-algorithm", codes.MISSING_ALGORITHM),
    ("x-signature-nonce", codes.MISSING_NONCE),
    ("x-timestamp", codes.MISSING_TIMESTAMP),
    ("x-signature-version", codes.MISSING_SIGNATURE_VERSION),
)
_HMAC: Final = {"HMAC-SHA256": "sha256", "HMAC-SHA1": "sha1"}
_TIMESTAMP: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def reference_string_to_sign(
    *,
    path: str,
    params: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    host: str,
) -> str:
    """The string to sign rebuilt from a received request (``headers`` lower-cased)."""
    sign = {"host": host}
    for name in SIGNED_HEADERS:
        sign[name] = headers[name]
    for key, value in params:
        sign[key] = sign[key] + "&" + value if key in sign else value
    canonical = path + "&" + "&".join(k + "=" + sign[k] for k in sorted(sign))
    if body:
        if headers["x-signature-algorithm"] == "HMAC-SHA1":
            digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
        else:
            digest = hashlib.sha256(body).hexdigest()
        canonical += "&" + digest.upper()
    return quote(canonical, safe="")


def reference_signature(string_to_sign: str, app_secret: str, algorithm: str) -> str:
    key = (app_secret + "&").encode("utf-8")
    mac = hmac.new(key, string_to_sign.encode("utf-8"), _HMAC[algorithm])
    return base64.b64encode(mac.digest()).decode("ascii")


def parse_timestamp(value: str) -> float | None:
    """``x-timestamp`` as a Unix time, or ``None`` if it is not ``yyyy-MM-ddTHH:mm:ssZ``."""
    if not _TIMESTAMP.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def check_credentials(
    headers: Mapping[str, str],
    *,
    secret_for: Callable[[str], str | None],
    now: float,
    window: float,
) -> WebullError | tuple[str, str]:
    """The checks before the signature's, HTTP and gRPC alike, in the gateway's order: the
    first refusal, else the app's secret and the signature algorithm."""
    for name, missing in REQUIRED_HEADERS:
        if not headers.get(name):
            return missing
    algorithm = headers["x-signature-algorithm"]
    if algorithm not in _HMAC:
        return codes.ALGORITHM_NOT_SUPPORTED
    if headers["x-signature-version"] != "1.0":
        return codes.VERSION_NOT_SUPPORTED
    sent_at = parse_timestamp(headers["x-timestamp"])
    if sent_at is None:
        return codes.ILLEGAL_TIMESTAMP
    secret = secret_for(headers["x-app-key"])
    if secret is None:
        return codes.UNKNOWN_APP_KEY
    if abs(now - sent_at) > window:
        return codes.CLOCK_SKEW_EXCEEDED
    return secret, algorithm


def check_request(
    *,
    path: str,
    params: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    host: str,
    secret_for: Callable[[str], str | None],
    now: float,
    window: float,
) -> WebullError | None:
    """Every stateless check, in the order Webull's gateway reports them; ``None`` if the
    request is authentic.  (Nonce replay needs memory, so the sandbox checks it after.)"""
    checked = check_credentials(headers, secret_for=secret_for, now=now, window=window)
    if isinstance(checked, WebullError):
        return checked
    secret, algorithm = checked
    sent = headers["x-signature"].encode("utf-8")
    params = list(params)
    for signed_host in _signed_hosts(host):
        to_sign = reference_string_to_sign(
            path=path, params=params, headers=headers, body=body, host=signed_host
        )
        expected = reference_signature(to_sign, secret, algorithm)
        if hmac.compare_digest(expected.encode("ascii"), sent):
            return None
    return codes.INCORRECT_SIGNATURE


def _signed_hosts(host: str) -> tuple[str, ...]:
    """The hosts a client may have signed for ``host`` (the wire's ``Host``): as sent, and,
    for a non-default port, without it, as Webull's SDK signs its endpoint's host name."""
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and name and not name.endswith(":"):
        return host, name
    return (host,)
