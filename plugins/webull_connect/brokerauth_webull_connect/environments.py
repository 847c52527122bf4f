"""The one table of Webull Connect's named environments (``environment = ...`` in a profile).

Two generations of Webull's docs disagree on hosts and the token path:

* ``uat`` — the seeds' test environment: API ``us-oauth-open-api.uat.webullbroker.com``,
  login page on ``passport.uat.webullbroker.com``, token endpoint ``/openapi/oauth2/token``;
* ``sandbox`` — the current docs' test environment: API ``oauth-open-api.sandbox.webull.com``,
  login page ``passport.webull.com/oauth2/sandbox/...``, token endpoint ``/oauth2/tokens/create``;
* ``prod`` — production, US: the seeds' hosts (API ``us-oauth-open-api.webull.com``, login
  page on ``passport.webull.com``) with the current docs' token path ``/oauth2/tokens/create``;
  ``token_path = "/openapi/oauth2/token"`` in a profile restores the older one.

Every value is overridable per profile (``base_url``, ``login_url``, ``token_path``), so a
change on Webull's side is a profile edit, not a release.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import attrs
from brokerauth.contract.specs import Environment

#: Production, like the ``webull`` plugin's default: credentials are issued per environment,
#: so a profile left on the default with test credentials fails at its first token request
#: instead of silently acting somewhere else.
DEFAULT_ENVIRONMENT: Final = "prod"


@attrs.frozen
class ConnectEnvironment:
    name: str
    description: str
    #: The OAuth and trading API host (token endpoint, ``/oauth-openapi/...``).
    api_host: str
    #: The browser login (authorization) page.
    login_url: str
    #: The token endpoint (create and refresh), on ``api_host``.
    token_path: str

    def describe(self) -> Environment:
        """The core's view of this environment, for ``brokerauth plugins``."""
        login_host = self.login_url.split("/")[2]
        return Environment(
            name=self.name,
            description=f"{self.description}; token endpoint {self.token_path}",
            hosts={"api": self.api_host, "login": login_host},
        )


TABLE: Final[tuple[ConnectEnvironment, ...]] = (
    ConnectEnvironment(
        name="prod",
        description="production, United States",
        api_host="us-oauth-open-api.webull.com",
        login_url="https://passport.webull.com/oauth2/authenticate/login",
        token_path="/oauth2/tokens/create",
    ),
    ConnectEnvironment(
        name="sandbox",
        description="test environment (current docs)",
        api_host="oauth-open-api.sandbox.webull.com",
        login_url="https://passport.webull.com/oauth2/sandbox/authenticate/login",
        token_path="/oauth2/tokens/create",
    ),
    ConnectEnvironment(
        name="uat",
        description="UAT test environment (older docs)",
        api_host="us-oauth-open-api.uat.webullbroker.com",
        login_url="https://passport.uat.webullbroker.com/oauth2/authenticate/login",
        token_path="/openapi/oauth2/token",
    ),
)

BY_NAME: Final = MappingProxyType({env.name: env for env in TABLE})
ENVIRONMENTS: Final[tuple[Environment, ...]] = tuple(env.describe() for env in TABLE)


def get(name: str) -> ConnectEnvironment:
    """The environment called ``name``; a ``ValueError`` lists the valid ones."""
    env = BY_NAME.get(name)
    if env is None:
        raise ValueError(unknown_environment_message(name))
    return env


def unknown_environment_message(name: str) -> str:
    return (
        f"environment = {name!r} is not a Webull Connect environment; "
        f"valid: {', '.join(BY_NAME)}"
    )
