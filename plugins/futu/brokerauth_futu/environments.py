"""The one table of Futu's named environments a profile selects with ``environment = ...``.

``openapi`` is what Futu's docs and SDK use; ``webapi`` is the authorization server of Futu's
live MCP server, which confirms logins at ``/authorize/confirm``.  Every
value here is only a default: a profile overrides each one (``base_url``, ``oauth_base_url``,
``authorize_path``, ...), and RFC 8414 metadata, when the server publishes it, beats the table.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from brokerauth.contract.specs import Environment

DEFAULT_ENVIRONMENT: Final = "openapi"

#: Keys of ``Environment.hosts`` used below.
HTTP_URL: Final = "http_url"
OAUTH_BASE_URL: Final = "oauth_base_url"
AUTHORIZE_PATH: Final = "authorize_path"

ENVIRONMENTS: Final[tuple[Environment, ...]] = (
    Environment(
        name="openapi",
        description="Futu OpenAPI production (the SDK's defaults)",
        hosts={
            HTTP_URL: "https://openapi.futunn.com",
            OAUTH_BASE_URL: "https://openapi.futunn.com/oauth2",
            AUTHORIZE_PATH: "/authorize",
        },
    ),
    Environment(
        name="webapi",
        description="Futu's web authorization server (as used by its MCP server)",
        hosts={
            HTTP_URL: "https://openapi.futunn.com",
            OAUTH_BASE_URL: "https://webapi.futunn.com/oauth2",
            AUTHORIZE_PATH: "/authorize/confirm",
        },
    ),
)

BY_NAME: Final = MappingProxyType({env.name: env for env in ENVIRONMENTS})

#: Paths under the OAuth base that no environment changes.
TOKEN_PATH: Final = "/token"
REVOKE_PATH: Final = "/revoke"
REGISTER_PATH: Final = "/register"


def value(environment: str, key: str) -> str:
    """One of the environment's defaults; a ``ValueError`` names the valid environments."""
    env = BY_NAME.get(environment)
    if env is None:
        raise ValueError(unknown_environment_message(environment))
    return env.hosts[key]


def unknown_environment_message(environment: str) -> str:
    return f"environment = {environment!r} is not a Futu environment; valid: {', '.join(BY_NAME)}"
