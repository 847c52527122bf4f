"""The broker settings of a ``broker = "webull_connect"`` profile.

Structured from the profile's TOML table by the core's converter (unknown keys rejected);
secrets are references (``{ env = "..." }`` / ``{ file = "..." }``), never literals.  Each
field's ``metadata["help"]`` is the one-line explanation ``brokerauth init`` shows.

Webull issues a platform five values (client id and secret for OAuth, app key and secret for
the HMAC signature the token endpoint also requires, and a scope) and registers one redirect
URI; everything else has a default taken from the named environment.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from attrs import validators
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import (
    Validator,
    http_url,
    not_empty,
    positive_seconds,
    strip_slash,
)
from brokerauth_webull.signing import ALGORITHMS, Algorithm

from brokerauth_webull_connect import environments

TokenBody = Literal["form", "json"]
TOKEN_BODIES: tuple[TokenBody, ...] = ("form", "json")

TokenAuthMethod = Literal["client_secret_post", "client_secret_basic"]
#: How the client authenticates to the token endpoint (RFC 6749 §2.3.1; the names are
#: RFC 7591's): in the body, as Webull documents, or with HTTP Basic.
TOKEN_AUTH_METHODS: tuple[TokenAuthMethod, ...] = ("client_secret_post", "client_secret_basic")

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _known_environment(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in environments.BY_NAME:
        raise ValueError(environments.unknown_environment_message(value))


def _absolute_url(*, query: bool, any_http_host: bool = False) -> Validator:
    return http_url(query=query, example="https://us-oauth-open-api.webull.com",
                    any_http_host=any_http_host)


def _token_auth_method(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    # Typed str, not Literal, so a wrong value reaches this message rather than the
    # converter's "must be of type Literal".
    if value not in TOKEN_AUTH_METHODS:
        raise ValueError(
            f"must be client_secret_post (the client secret in the token request's body, as "
            f"Webull documents) or client_secret_basic (HTTP Basic), not {value!r}"
        )


def _token_path(_: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None or value.startswith("/"):
        return
    _absolute_url(query=False)(_, attribute, value)


def is_loopback(uri: str) -> bool:
    """Whether ``uri`` is an ``http`` redirect to this machine (RFC 8252 §7.3), which the
    built-in loopback listener can receive."""
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS


@attrs.frozen
class ConnectSettings:
    """Everything the ``webull-connect`` signer and the ``webull-connect-oauth`` flow read."""

    client_id: str = attrs.field(
        validator=[validators.instance_of(str), not_empty],
        metadata={"help": "the client id Webull issued to your platform"},
    )
    client_secret: Secret = attrs.field(
        validator=validators.instance_of(Secret),
        metadata={"help": "the client secret (a secret reference); sent only to the token "
                          "endpoint"},
    )
    app_key: Secret = attrs.field(
        validator=validators.instance_of(Secret),
        metadata={"help": "the app key for Webull's HMAC request signature (a secret reference)",
                  "env": "WEBULL_APP_KEY"},
    )
    app_secret: Secret = attrs.field(
        validator=validators.instance_of(Secret),
        metadata={"help": "the app secret; used only as the HMAC key, never sent",
                  "env": "WEBULL_APP_SECRET"},
    )
    scope: str = attrs.field(
        validator=[validators.instance_of(str), not_empty],
        metadata={"help": "the scope Webull issued to your app, e.g. user:trade:wr"},
    )
    redirect_uri: str = attrs.field(
        # Its own rules (the URI registered with Webull; a loopback one is received here):
        # the plain-http rule of the URLs this program sends credentials to is not one of them.
        validator=_absolute_url(query=True, any_http_host=True),
        metadata={
            "help": "the redirect URI registered with Webull, exactly; an http://127.0.0.1:PORT/"
            "... or http://localhost:PORT/... URI lets this program receive the login itself"
        },
    )
    environment: str = attrs.field(
        default=environments.DEFAULT_ENVIRONMENT,
        validator=_known_environment,
        metadata={"help": "named environment: " + ", ".join(environments.BY_NAME)
                  + f" (default {environments.DEFAULT_ENVIRONMENT})"},
    )
    base_url: str | None = attrs.field(
        default=None,
        converter=strip_slash,
        validator=_absolute_url(query=False),
        metadata={"help": "overrides the environment's API host, e.g. a local sandbox URL"},
    )
    login_url: str | None = attrs.field(
        default=None,
        validator=_absolute_url(query=True),
        metadata={"help": "overrides the environment's browser login (authorization) page"},
    )
    token_path: str | None = attrs.field(
        default=None,
        validator=_token_path,
        metadata={"help": "overrides the token endpoint: a path on the API host "
                          "(/oauth2/tokens/create, /openapi/oauth2/token) or an absolute URL"},
    )
    token_body: TokenBody = attrs.field(
        default="form",
        validator=validators.in_(TOKEN_BODIES),
        metadata={"help": "token request body: form (documented) or json (seen in some of "
                          "Webull's scripts)"},
    )
    token_auth_method: str = attrs.field(
        default="client_secret_post",
        validator=[validators.instance_of(str), _token_auth_method],
        metadata={"help": "how the token endpoint authenticates the client: "
                          "client_secret_post (client_id and client_secret in the body, as "
                          "Webull documents) or client_secret_basic (HTTP Basic, RFC 6749 "
                          "§2.3.1)"},
    )
    signature_algorithm: Algorithm = attrs.field(
        default="HMAC-SHA256",
        validator=validators.in_(ALGORITHMS),
        metadata={"help": "HMAC-SHA256 (what SDK 3.x sends) or HMAC-SHA1 (older SDKs)"},
    )
    login_timeout: float = attrs.field(
        default=300.0,
        validator=positive_seconds,
        metadata={"help": "seconds a started login stays valid (and the loopback listener "
                          "waits for the browser)"},
    )
    send_redirect_uri: bool = attrs.field(
        default=False,
        metadata={"help": "also send redirect_uri in the code exchange (not documented by "
                          "Webull; RFC 6749 asks for it)"},
    )
    pkce: bool = attrs.field(
        default=False,
        metadata={"help": "add PKCE S256 to the login (not documented by Webull)"},
    )

    @property
    def env(self) -> environments.ConnectEnvironment:
        return environments.get(self.environment)

    @property
    def api_base_url(self) -> str:
        """``https://host`` of the environment's API, or ``base_url`` when given."""
        if self.base_url is not None:
            return self.base_url
        return f"https://{self.env.api_host}"

    @property
    def authorize_url(self) -> str:
        """The browser login page the authorization request is sent to."""
        return self.login_url if self.login_url is not None else self.env.login_url

    @property
    def token_url(self) -> str:
        """The token endpoint: a path on :attr:`api_base_url`, or an absolute URL."""
        return self.token_path if self.token_path is not None else self.env.token_path

    @property
    def credential_origins(self) -> tuple[str, ...]:
        """A token endpoint given as an absolute URL on a host of its own: the client secret
        and refresh tokens go there."""
        url = self.token_url
        return (url,) if url.startswith(("https://", "http://")) else ()

    @property
    def loopback(self) -> bool:
        """Whether the registered redirect comes back to this machine."""
        return is_loopback(self.redirect_uri)
