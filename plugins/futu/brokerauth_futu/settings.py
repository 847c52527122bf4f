"""The broker settings of a ``broker = "futu"`` profile.

Structured from the profile's TOML table by the core's converter (unknown keys rejected);
secrets are references (``{ env = "..." }`` / ``{ file = "..." }``), never literals.  Each
field's ``metadata["help"]`` is the one-line explanation ``brokerauth init`` shows.

Two modes share one settings class, as they share one broker: ``oauth`` (Futu's recommended
public-client login) and ``api_key`` (the legacy app key, app secret and access token).  In
``api_key`` mode the three secrets default to the variables Futu's SDK reads
(``FUTU_APP_KEY``, ``FUTU_APP_SECRET``, ``FUTU_ACCESS_TOKEN``), so a profile needs no more
than ``mode = "api_key"`` on a machine set up for the SDK; a missing variable is reported with
the profile and key when a session opens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import SplitResult, urlsplit

import attrs
from attrs import validators
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import (
    http_url,
    is_loopback_host,
    positive_seconds,
    strip_slash,
)

from brokerauth_futu import environments

Mode = Literal["oauth", "api_key"]
Language = Literal["zh-CN", "zh-HK", "en"]
SignaturePath = Literal["target", "path"]

MODES: Final = ("oauth", "api_key")
LANGUAGES: Final = ("zh-CN", "zh-HK", "en")
#: The WebSocket handshakes implemented (``ws_handshake``): Longbridge's one-time password,
#: which Futu does not document; opting in is the user's decision.
WsHandshake = Literal["longbridge-otp"]
WS_HANDSHAKES: Final = ("longbridge-otp",)

DEFAULT_REDIRECT_URI: Final = environments.SDK_REDIRECT_URI
DEFAULT_CLIENT_NAME: Final = "brokerauth"

#: The variables Futu's SDK reads (per Futu's docs), and the one this plugin adds for tests.
ENV_APP_KEY: Final = "FUTU_APP_KEY"
ENV_APP_SECRET: Final = "FUTU_APP_SECRET"
ENV_ACCESS_TOKEN: Final = "FUTU_ACCESS_TOKEN"
ENV_HTTP_URL: Final = "FUTU_HTTP_URL"
ENV_QUOTE_WS_URL: Final = "FUTU_QUOTE_WS_URL"
ENV_TRADE_WS_URL: Final = "FUTU_TRADE_WS_URL"
ENV_LANGUAGE: Final = "FUTU_LANGUAGE"
ENV_REGION: Final = "FUTU_REGION"
ENV_LOG_PATH: Final = "FUTU_LOG_PATH"
ENV_TOKEN_DIR: Final = "FUTU_TOKEN_DIR"

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def default_token_dir() -> Path:
    """Where the Futu SDK keeps OAuth tokens: ``$FUTU_TOKEN_DIR`` when set, else
    ``~/.futu/openapi/tokens`` (``%USERPROFILE%\\.futu\\openapi\\tokens`` on Windows, which is
    what ``Path.home()`` gives there)."""
    override = os.environ.get(ENV_TOKEN_DIR)
    if override:
        return Path(os.path.expanduser(override)).absolute()
    return Path.home() / ".futu" / "openapi" / "tokens"


def token_dir_of(configured: str | None) -> Path:
    """A configured token folder (``~`` expanded), else :func:`default_token_dir`."""
    if configured:
        return Path(os.path.expanduser(configured)).absolute()
    return default_token_dir()


@attrs.frozen
class FutuFileOptions:
    """Options of the ``futu-file`` store: ``store = { name = "futu-file", path = "..." }``.
    A profile rarely needs them: the store's folder is the profile's ``token_dir``."""

    #: The folder of the SDK's token files instead of the profile's ``token_dir``,
    #: ``$FUTU_TOKEN_DIR`` or ``~/.futu/openapi/tokens``; ``~`` is expanded.  Only the token
    #: files move with it: registrations stay in ``token_dir``.
    path: str | None = None


# --- validators -----------------------------------------------------------------------------


_url = http_url(example="https://openapi.futunn.com")


def _ws_shown(parts: SplitResult) -> str:
    """A WebSocket URL as an error may show it: no user part, no query, no fragment (any of
    them may hold a credential)."""
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _ws_normal(value: str | None) -> str | None:
    """``value`` without a trailing slash, its scheme and host lower-case (they are
    case-insensitive, and WebSocket clients refuse ``WSS://``); the rest as given."""
    value = strip_slash(value)
    if value is None:
        return None
    parts = urlsplit(value)
    if "@" in parts.netloc:  # refused by the validator, which shows no user part
        return value
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def _ws_url(_: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    # The socket token goes to this URL: the rules of an HTTP URL credentials go to, in
    # WebSocket spelling (wss://, or ws:// to a loopback sandbox), and no place in the URL
    # itself for a credential (user name, password, query).
    if value is None:
        return
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
        port_ok = True
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in ("ws", "wss")
        or not parts.hostname
        or not port_ok
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"{attribute.name} must be an absolute wss:// URL without a user name, password, "
            f"query or fragment, like 'wss://host/path', not {_ws_shown(parts)!r}"
        )
    if parts.scheme == "ws" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{attribute.name} must not be plain ws:// to {parts.hostname!r}: the socket "
            f"token would cross the network in clear; use "
            f"{_ws_shown(parts._replace(scheme='wss'))!r} (plain ws is only for a local "
            "sandbox on 127.0.0.1/::1/localhost)"
        )


def _path(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    # "//host/..." would read as another origin wherever a URL is resolved against the root.
    if value is not None and (not value.startswith("/") or value.startswith("//")
                              or "?" in value or "#" in value):
        raise ValueError(f"{attribute.name} must be a path starting with '/', not {value!r}")


def _known_environment(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in environments.BY_NAME:
        raise ValueError(environments.unknown_environment_message(value))


def _loopback_redirect(_: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    # RFC 8252 §7.3: a native app receives the code on a loopback address; any other host
    # would send the code somewhere this program does not listen.
    if value is None:
        return
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or port < 0
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            "redirect_uri must be a loopback http URI with a port, like "
            f"{DEFAULT_REDIRECT_URI!r} or 'http://127.0.0.1:8765/callback', not {value!r}"
        )


def _optional_secret(_: Any, attribute: attrs.Attribute[Secret | None], value: Any) -> None:
    if value is not None and not isinstance(value, Secret):
        raise ValueError(f"{attribute.name} must be a secret reference")


def _api_key_default(variable: str) -> Any:
    def default(self: FutuSettings) -> Secret | None:
        return Secret(env=variable) if self.mode == "api_key" else None

    return attrs.Factory(default, takes_self=True)


@attrs.frozen
class FutuSettings:
    """Everything the ``futu`` strategies read; see the module docstring for the two modes."""

    mode: Mode = attrs.field(
        default="oauth",
        validator=validators.in_(MODES),
        metadata={"help": "oauth (recommended: browser login, no shared secret) or api_key"},
    )
    environment: str = attrs.field(
        default=environments.DEFAULT_ENVIRONMENT,
        validator=_known_environment,
        metadata={
            "help": "named environment: "
            + ", ".join(f"{e.name} ({e.description})" for e in environments.ENVIRONMENTS)
        },
    )
    base_url: str | None = attrs.field(
        default=None,
        converter=strip_slash,
        validator=_url,
        metadata={"help": "API root instead of the environment's (e.g. a local sandbox URL)"},
    )
    http_url: str | None = attrs.field(
        default=None,
        converter=strip_slash,
        validator=_url,
        metadata={"help": "the SDK's name for base_url (FUTU_HTTP_URL); give one of the two"},
    )
    # --- OAuth ---------------------------------------------------------------------------
    client_id: str | None = attrs.field(
        default=None,
        metadata={"help": "OAuth client id; leave out to register one (RFC 7591) and reuse it"},
    )
    client_name: str = attrs.field(
        default=DEFAULT_CLIENT_NAME,
        metadata={"help": "client_name sent when registering an OAuth client"},
    )
    redirect_uri: str | None = attrs.field(
        default=None,
        validator=_loopback_redirect,
        metadata={"help": "loopback redirect the login returns to (any 127.0.0.1/localhost "
                  "port); default per environment: openapi http://localhost:60355/callback, "
                  "webapi http://127.0.0.1:18888/callback (else 18889, else 18890)"},
    )
    login_timeout: float = attrs.field(
        default=300.0,
        validator=positive_seconds,
        metadata={"help": "seconds to wait for the browser login to finish"},
    )
    scope: str | None = attrs.field(
        default=None,
        metadata={"help": "OAuth scope to request; default per environment: openapi none, "
                  f"webapi {environments.CLI_SCOPE!r} (futu-cli's)"},
    )
    oauth_base_url: str | None = attrs.field(
        default=None,
        converter=strip_slash,
        validator=_url,
        metadata={"help": "OAuth server root (the RFC 8414 issuer); default: base_url + "
                  "/oauth2 when base_url is set, else the environment's"},
    )
    authorize_path: str | None = attrs.field(
        default=None,
        validator=_path,
        metadata={"help": "authorization path under oauth_base_url (default per environment)"},
    )
    token_path: str | None = attrs.field(
        default=None, validator=_path,
        metadata={"help": "token path under oauth_base_url (default per environment)"},
    )
    revoke_path: str | None = attrs.field(
        default=None, validator=_path,
        metadata={"help": "revocation path under oauth_base_url (default per environment)"},
    )
    register_path: str | None = attrs.field(
        default=None, validator=_path,
        metadata={"help": "registration path under oauth_base_url (default per environment)"},
    )
    discovery: bool = attrs.field(
        default=True,
        metadata={"help": "read RFC 8414 server metadata when served (explicit paths still win)"},
    )
    token_dir: str | None = attrs.field(
        default=None,
        metadata={
            "help": "folder of the SDK's token files (default $FUTU_TOKEN_DIR or "
            "~/.futu/openapi/tokens); OAuth client registrations are kept there too, and the "
            "futu-file store keeps its files there unless given a path of its own"
        },
    )
    # --- legacy API key ------------------------------------------------------------------
    app_key: Secret | None = attrs.field(
        default=_api_key_default(ENV_APP_KEY),
        validator=_optional_secret,
        metadata={"help": "api_key mode: the app key (default { env = \"FUTU_APP_KEY\" })"},
    )
    app_secret: Secret | None = attrs.field(
        default=_api_key_default(ENV_APP_SECRET),
        validator=_optional_secret,
        metadata={
            "help": "api_key mode: the app secret, only ever the HMAC key "
            '(default { env = "FUTU_APP_SECRET" })'
        },
    )
    access_token: Secret | None = attrs.field(
        default=_api_key_default(ENV_ACCESS_TOKEN),
        validator=_optional_secret,
        metadata={
            "help": "api_key mode: the portal's access token "
            '(default { env = "FUTU_ACCESS_TOKEN" })'
        },
    )
    access_token_refresh_path: str = attrs.field(
        default="/v1/token/refresh",
        validator=_path,
        metadata={"help": "api_key mode: path of the access token refresh (GET, signed)"},
    )
    signature_path: SignaturePath = attrs.field(
        default="target",
        validator=validators.in_(("target", "path")),
        metadata={
            "help": "what PATH means in the API-key signature: target (path?query as sent) "
            "or path (without the query)"
        },
    )
    # --- streaming (see brokerauth_futu.streaming) ---------------------------------------
    quote_ws_url: str | None = attrs.field(
        default=None,
        converter=_ws_normal,
        validator=_ws_url,
        metadata={"help": "quote WebSocket URL (FUTU_QUOTE_WS_URL); wss://, no default: "
                  "Futu documents none"},
    )
    trade_ws_url: str | None = attrs.field(
        default=None,
        converter=_ws_normal,
        validator=_ws_url,
        metadata={"help": "trade WebSocket URL (FUTU_TRADE_WS_URL); wss://, no default: "
                  "Futu documents none"},
    )
    ws_handshake: WsHandshake | None = attrs.field(
        default=None,
        validator=validators.optional(validators.in_(WS_HANDSHAKES)),
        metadata={"help": "longbridge-otp: use Longbridge's one-time-password WebSocket "
                  "handshake, which Futu does not document (no default: opt in)"},
    )
    socket_token_path: str = attrs.field(
        default="/v1/socket/token",
        validator=_path,
        metadata={"help": "path of the one-time WebSocket password (GET, authenticated), as "
                  "Longbridge documents it; Futu documents none"},
    )
    # --- carried for SDK parity (not used by authentication) ------------------------------
    language: Language = attrs.field(
        default="en",
        validator=validators.in_(LANGUAGES),
        metadata={"help": "zh-CN, zh-HK or en (FUTU_LANGUAGE)"},
    )
    region: str | None = attrs.field(
        default=None, metadata={"help": "access point override (FUTU_REGION)"}
    )
    log_path: str | None = attrs.field(
        default=None, metadata={"help": "SDK log file path (FUTU_LOG_PATH); not used here"}
    )

    def __attrs_post_init__(self) -> None:
        if self.base_url and self.http_url and self.base_url != self.http_url:
            raise ValueError(
                "base_url and http_url name the same thing and differ; keep one of them"
            )
        if self.mode == "oauth":
            given = [n for n in ("app_key", "app_secret", "access_token") if getattr(self, n)]
            if given:
                raise ValueError(
                    f"{', '.join(given)} belong to mode = 'api_key'; remove them, or set "
                    "mode = 'api_key'"
                )

    # --- derived -------------------------------------------------------------------------
    @property
    def api_base_url(self) -> str:
        """The API root requests are resolved against."""
        return self.base_url or self.http_url or environments.get(self.environment).http_url

    @property
    def oauth_defaults(self) -> environments.FutuEnvironment:
        """The defaults the OAuth settings fall back on: the environment's, with the
        ``openapi`` paths when the OAuth server is the one beside a named API root."""
        if self.oauth_base_url is None and (self.base_url or self.http_url):
            return environments.beside_api(self.environment)
        return environments.get(self.environment)

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        """The loopback redirects a login tries in order: the configured one, else the
        environment's (futu-cli's three ports for ``webapi``)."""
        if self.redirect_uri is not None:
            return (self.redirect_uri,)
        return self.oauth_defaults.redirect_uris

    @property
    def requested_scope(self) -> str | None:
        """The scope a login asks for: the configured one, else the environment's."""
        return self.scope if self.scope is not None else self.oauth_defaults.scope

    @property
    def credential_origins(self) -> tuple[str, ...]:
        """The OAuth server (issuer) besides the API root: token, revocation and registration
        requests go there. Endpoints that server metadata names on other origins are refused."""
        return (self.oauth_base,) if self.mode == "oauth" else ()

    @property
    def oauth_base(self) -> str:
        """The OAuth server root, the issuer identifier of RFC 8414: ``oauth_base_url``, else
        beside a named API root (``base_url + "/oauth2"``, where Futu and its sandbox serve
        it, so that a profile pointed at a sandbox never logs in at Futu), else the
        environment's."""
        if self.oauth_base_url:
            return self.oauth_base_url
        named = self.base_url or self.http_url
        if named:
            return named + environments.OAUTH_UNDER_API
        return environments.get(self.environment).issuer

    @property
    def token_folder(self) -> Path:
        """The folder holding ``<client_id>`` token files and this plugin's records."""
        return token_dir_of(self.token_dir)
