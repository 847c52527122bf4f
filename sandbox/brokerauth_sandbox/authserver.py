"""Pieces of an emulated OAuth 2.0 server that every broker's sandbox plays the same way
(RFC 6749 §4.1.2 redirects back to the client, RFC 6750 Bearer credentials).

What differs between brokers (their error bodies, login pages, token answers) stays in each
sandbox; these are only the rules the RFCs fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from brokerauth_sandbox.server import SandboxRequest, SandboxResponse

__all__ = ["bearer_token", "redirect_back"]

_BEARER = "Bearer "


def redirect_back(
    redirect_uri: str, answer: Mapping[str, str], state: str | None
) -> SandboxResponse:
    """The 302 to the client's ``redirect_uri`` with ``answer`` (a ``code``, or an ``error``)
    in its query, and ``state`` after it when given (RFC 6749 §4.1.2, §4.1.2.1)."""
    fields = dict(answer) if state is None else {**answer, "state": state}
    separator = "&" if "?" in redirect_uri else "?"
    return SandboxResponse.redirect(redirect_uri + separator + urlencode(fields))


def bearer_token(request: SandboxRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` without one (or with
    an empty one)."""
    authorization = request.header("authorization") or ""
    if authorization.startswith(_BEARER) and len(authorization) > len(_BEARER):
        return authorization[len(_BEARER):]
    return None
