"""Webull's paths for the 2FA token and the calls around it, in one place.

Two generations exist: SDK 3.x calls ``/auth/tokens/...`` with
``x-version: v3``; older SDKs called ``/openapi/auth/token/...`` with ``v2``.  The profile's
``token_api`` setting chooses one.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final, Literal

import attrs
from brokerauth.contract.specs import CallBudget

TokenApi = Literal["v3", "v2"]


@attrs.frozen
class TokenEndpoints:
    create: str
    check: str
    #: The ``x-version`` header these endpoints are called with.
    version: str


TOKEN_ENDPOINTS: Final = MappingProxyType(
    {
        "v3": TokenEndpoints("/auth/tokens/create", "/auth/tokens/check", "v3"),
        "v2": TokenEndpoints("/openapi/auth/token/create", "/openapi/auth/token/check", "v2"),
    }
)

#: ``GET``: whether the account requires a 2FA token (``token_check_enabled``).
CONFIG: Final = "/openapi/config"
#: ``GET``: the accounts of the app's user; a cheap authenticated call.
ACCOUNT_LIST: Final = "/openapi/account/list"
#: ``POST {"token": ...}``: sandbox only, stands for the user entering the SMS code in the app.
SANDBOX_VERIFY: Final = "/sandbox/2fa/verify"

#: Webull's limit on the token endpoints (create and check, and the calls around them counted
#: too, to be safe): 10 requests per 30 s per app key.  The core enforces it across the
#: processes sharing the token store.
TOKEN_BUDGET: Final = CallBudget(
    "token", 10, 30.0, "app",
    description="Webull allows 10 token create/check requests per 30 s per app key",
)
