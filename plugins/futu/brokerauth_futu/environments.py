"""The one table of Futu's named environments a profile selects with ``environment = ...``.

``openapi`` is what Futu's docs and SDK use.  ``webapi`` is the authorization server of Futu's
own OAuth client, futu-cli (``internal/auth/oauth.go``): issuer ``https://webapi.futunn.com``,
``/oauth2/register``, ``/oauth2/authorize/confirm``, ``/oauth2/token``, its default scopes, and
a callback on ``127.0.0.1`` port 18888, else 18889, else 18890.  Every value here is only a
default: a profile overrides each one (``base_url``, ``oauth_base_url``, ``authorize_path``,
``scope``, ``redirect_uri``, ...), and RFC 8414 metadata, when the server publishes it, beats
the paths.

Paths are under the issuer: ``issuer + token_path`` is the token endpoint.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import attrs
from brokerauth.contract.specs import Environment

DEFAULT_ENVIRONMENT: Final = "openapi"

#: The Futu SDK's loopback redirect (the seed's).
SDK_REDIRECT_URI: Final = "http://localhost:60355/callback"
#: futu-cli's: the first of these ports that is free.
CLI_REDIRECT_URIS: Final = tuple(f"http://127.0.0.1:{port}/callback" for port in (18888, 18889,
                                                                                   18890))
#: futu-cli's default scopes.
CLI_SCOPE: Final = "quote:read quote:write trade:read trade:write accid:*"


@attrs.frozen
class FutuEnvironment:
    name: str
    description: str
    #: The API root.
    http_url: str
    #: The OAuth server's issuer identifier (RFC 8414); the paths below are under it.
    issuer: str
    authorize_path: str
    token_path: str
    revoke_path: str
    register_path: str
    #: The scope requested when the profile names none (``None``: none sent).
    scope: str | None
    #: Loopback redirects tried in order when the profile names none: the first whose port
    #: is free receives the login.
    redirect_uris: tuple[str, ...]

    def spec(self) -> Environment:
        """As the plugin's description lists it (``brokerauth plugins``)."""
        return Environment(name=self.name, description=self.description, hosts={
            "http_url": self.http_url, "issuer": self.issuer,
            "authorize": self.issuer + self.authorize_path,
            "token": self.issuer + self.token_path,
        })


TABLE: Final[tuple[FutuEnvironment, ...]] = (
    FutuEnvironment(
        name="openapi",
        description="Futu OpenAPI production (the SDK's defaults)",
        http_url="https://openapi.futunn.com",
        issuer="https://openapi.futunn.com/oauth2",
        authorize_path="/authorize",
        token_path="/token",
        revoke_path="/revoke",
        register_path="/register",
        scope=None,
        redirect_uris=(SDK_REDIRECT_URI,),
    ),
    FutuEnvironment(
        name="webapi",
        description="Futu's web authorization server, as futu-cli uses it",
        http_url="https://openapi.futunn.com",
        issuer="https://webapi.futunn.com",
        authorize_path="/oauth2/authorize/confirm",
        token_path="/oauth2/token",
        revoke_path="/oauth2/revoke",
        register_path="/oauth2/register",
        scope=CLI_SCOPE,
        redirect_uris=CLI_REDIRECT_URIS,
    ),
)

BY_NAME: Final = MappingProxyType({env.name: env for env in TABLE})
ENVIRONMENTS: Final[tuple[Environment, ...]] = tuple(env.spec() for env in TABLE)

#: Where the OAuth server sits beside an API root a profile names (``base_url``) when it
#: names no ``oauth_base_url``: Futu's own layout (``openapi``), and the sandbox's.
OAUTH_UNDER_API: Final = "/oauth2"
#: The paths under such an issuer, unless its RFC 8414 metadata names others.
_UNDER_API: Final = BY_NAME["openapi"]


def get(environment: str) -> FutuEnvironment:
    """The named environment; a ``ValueError`` names the valid ones."""
    env = BY_NAME.get(environment)
    if env is None:
        raise ValueError(unknown_environment_message(environment))
    return env


def beside_api(environment: str) -> FutuEnvironment:
    """The environment's defaults for an OAuth server found beside a named API root: its
    paths are the ``openapi`` layout's (``/authorize``, ``/token``, ...); scope and redirects
    stay the environment's."""
    return attrs.evolve(get(environment), authorize_path=_UNDER_API.authorize_path,
                        token_path=_UNDER_API.token_path, revoke_path=_UNDER_API.revoke_path,
                        register_path=_UNDER_API.register_path)


def unknown_environment_message(environment: str) -> str:
    return f"environment = {environment!r} is not a Futu environment; valid: {', '.join(BY_NAME)}"
