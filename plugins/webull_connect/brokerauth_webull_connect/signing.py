"""The ``webull-connect`` signer: pure, no I/O, no clock, no randomness of its own.

Webull Connect authenticates two kinds of request differently:

* API calls on behalf of a user carry ``Authorization: Bearer <access token>`` and nothing
  else (Webull's examples show no signature on them);
* the token endpoint has no user token yet and requires Webull's HMAC signature headers
  (app key / app secret), computed by the ``webull`` plugin's signer, reused unchanged so
  both plugins sign byte for byte alike.

So a request signed with a token gets the Bearer header, and one signed without gets HMAC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request
from brokerauth.toolkit.headers import bearer_authorization
from brokerauth_webull.hmac_headers import NEEDS as WEBULL_NEEDS
from brokerauth_webull.hmac_headers import hmac_headers

NAME = "webull-connect"
#: The settings attributes this signer reads (``StrategySpec.needs``): the same as the
#: ``webull-hmac`` signer's, so either can sign a Webull Connect profile's token requests.
NEEDS = WEBULL_NEEDS


#: How a request with a token is authenticated, for an explanation (no value of the token).
BEARER_SCHEME = ("OAuth 2.0 Bearer (RFC 6750): the access token in Authorization, "
                 "nothing signed or hashed")


def sign(
    request: Request,
    settings: Any,
    token: Token | None,
    now: datetime,
    nonce: str,
    steps: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers for ``request``: Bearer with a token, Webull HMAC without one.  With
    ``steps``, how they were made is added to it (nothing secret)."""
    if token is not None:
        if steps is not None:
            steps["scheme"] = BEARER_SCHEME
        return {"Authorization": bearer_authorization(token)}
    return hmac_headers(request, settings, now, nonce, strategy=NAME, steps=steps)
