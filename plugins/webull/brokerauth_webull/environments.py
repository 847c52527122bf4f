"""The one table of Webull's named environments a profile selects with ``environment = ...``.

Production regions follow the official SDK's ``webull/core/data/endpoints.json`` (its ``api``,
``quotes-api`` and ``events-api`` hosts); the SDK maps ``br`` and ``mx`` onto the US hosts, so
they are not repeated here.  The sandbox / UAT hosts are the ones seen in public;
only their trading host is known.  A profile's ``base_url`` overrides any of them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from brokerauth.contract.specs import Environment

DEFAULT_ENVIRONMENT: Final = "us"


def _region(name: str, country: str, domain: str) -> Environment:
    return Environment(
        name=name,
        description=f"production, {country}",
        hosts={
            "api": f"api.{domain}",
            "quotes-api": f"data-api.{domain}",
            "events-api": f"events-api.{domain}",
        },
    )


ENVIRONMENTS: Final[tuple[Environment, ...]] = (
    _region("us", "United States", "webull.com"),
    _region("hk", "Hong Kong", "webull.hk"),
    _region("jp", "Japan", "webull.co.jp"),
    _region("sg", "Singapore", "webull.com.sg"),
    _region("th", "Thailand", "webull.co.th"),
    _region("au", "Australia", "webull.com.au"),
    _region("my", "Malaysia", "webull.com.my"),
    _region("uk", "United Kingdom", "webull-uk.com"),
    Environment(
        name="sandbox",
        description="test environment, United States (tokens are valid at once)",
        hosts={"api": "api.sandbox.webull.com"},
    ),
    Environment(
        name="uat",
        description="UAT environment, United States (older test host)",
        hosts={"api": "us-openapi-alb.uat.webullbroker.com"},
    ),
    Environment(
        name="hk-sandbox",
        description="test environment, Hong Kong",
        hosts={"api": "api.sandbox.webull.hk"},
    ),
)

BY_NAME: Final = MappingProxyType({env.name: env for env in ENVIRONMENTS})

#: Where ``two_factor = "auto"`` means "on" without asking ``GET /openapi/config``: SDK 3.x
#: (``ClientInitializer.init_token``) never asks for region ``hk`` and always uses a token
#: there, so Hong Kong accounts are treated the same here (including the HK test host, which
#: the SDK reaches with the same region id).
TOKEN_ALWAYS_REQUIRED: Final = frozenset({"hk", "hk-sandbox"})

#: Test environments: Webull issues 2FA tokens there already verified (Webull's 2FA docs: "Tokens
#: created in the Test Environment are valid by default"), so a new token needs no person and
#: the flow may create one on its own when the old one lapses.
AUTO_VERIFIED: Final = frozenset({"sandbox", "uat", "hk-sandbox"})


def names() -> tuple[str, ...]:
    return tuple(BY_NAME)


def api_host(environment: str) -> str:
    """The trading API host of ``environment``; a ``ValueError`` names the valid ones."""
    env = BY_NAME.get(environment)
    if env is None:
        raise ValueError(unknown_environment_message(environment))
    return env.hosts["api"]


def unknown_environment_message(environment: str) -> str:
    return f"environment = {environment!r} is not a Webull environment; valid: {', '.join(BY_NAME)}"
