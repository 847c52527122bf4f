"""The broker settings of a ``broker = "webull"`` profile.

Structured from the profile's TOML table by the core's converter (unknown keys rejected);
secrets are references (``{ env = "..." }`` / ``{ file = "..." }``), never literals.  Each
field's ``metadata["help"]`` is the one-line explanation ``brokerauth init`` shows.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from attrs import validators
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import http_url, positive_seconds, strip_slash

from brokerauth_webull import environments
from brokerauth_webull.endpoints import TOKEN_ENDPOINTS, TokenApi, TokenEndpoints
from brokerauth_webull.signing import ALGORITHMS, Algorithm

TwoFactor = Literal["auto", "on", "off"]


def _known_environment(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in environments.BY_NAME:
        raise ValueError(environments.unknown_environment_message(value))


_http_url = http_url(example="https://api.webull.com")
_events_http_url = http_url(example="https://events-api.webull.com")


def _origin_only(_: Any, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        # Not echoed: the user part may be a password.
        raise ValueError(
            f"{attribute.name} is an origin: scheme, host and port only; it has a user part "
            "(user[:password]@), which would be dropped, not sent: leave it out"
        )
    if parts.path or parts.query or parts.fragment:
        raise ValueError(
            f"{attribute.name} is an origin: scheme, host and port only, like "
            f"'https://events-api.webull.com' or 'http://127.0.0.1:50051', not {value!r}"
        )


@attrs.frozen
class WebullSettings:
    """Everything the ``webull-hmac`` signer and the ``webull-2fa`` flow read."""

    app_key: Secret = attrs.field(
        validator=validators.instance_of(Secret),
        metadata={"help": "the app key from Webull's API management page (a secret reference)"},
    )
    app_secret: Secret = attrs.field(
        validator=validators.instance_of(Secret),
        metadata={"help": "the app secret; used only as the HMAC key, never sent"},
    )
    environment: str = attrs.field(
        default=environments.DEFAULT_ENVIRONMENT,
        validator=_known_environment,
        metadata={
            "help": "named environment: "
            + ", ".join(environments.BY_NAME)
            + " (production regions, then test hosts)"
        },
    )
    base_url: str | None = attrs.field(
        default=None,
        converter=strip_slash,
        validator=_http_url,
        metadata={"help": "overrides the environment's host, e.g. a local sandbox URL"},
    )
    events_url: str | None = attrs.field(
        default=None,
        converter=strip_slash,
        validator=[_events_http_url, _origin_only],
        metadata={
            "help": "the trade-events gRPC origin (default: the environment's events-api host), "
            "e.g. a local sandbox's; the only origin streaming calls are signed for"
        },
    )
    signature_algorithm: Algorithm = attrs.field(
        default="HMAC-SHA256",
        validator=validators.in_(ALGORITHMS),
        metadata={"help": "HMAC-SHA256 (what SDK 3.x sends) or HMAC-SHA1 (older SDKs)"},
    )
    token_api: TokenApi = attrs.field(
        default="v3",
        validator=validators.in_(tuple(TOKEN_ENDPOINTS)),
        metadata={"help": "2FA token endpoints: v3 (/auth/tokens/*) or v2 (/openapi/auth/token/*)"},
    )
    two_factor: TwoFactor = attrs.field(
        default="auto",
        validator=validators.in_(("auto", "on", "off")),
        metadata={
            "help": "2FA token: auto (ask GET /openapi/config; always on in hk), on, or off"
        },
    )
    poll_interval: float = attrs.field(
        default=5.0,
        validator=positive_seconds,
        metadata={
            "help": "seconds between token status checks while waiting for the SMS code "
            "(at least 3: Webull allows 10 token requests per 30 s)"
        },
    )
    verification_timeout: float = attrs.field(
        default=300.0,
        validator=positive_seconds,
        metadata={"help": "seconds to wait for the SMS code to be entered in the Webull app"},
    )
    import_sdk_token: bool = attrs.field(
        default=False,
        metadata={"help": "reuse a token saved by the official SDK (conf/token.txt), read-only"},
    )
    sdk_token_dir: str | None = attrs.field(
        default=None,
        metadata={
            "help": "folder of the SDK's token.txt (default: $WEBULL_OPENAPI_TOKEN_DIR or ./conf)"
        },
    )

    @property
    def api_base_url(self) -> str:
        """``https://host`` of the environment, or ``base_url`` when given."""
        if self.base_url is not None:
            return self.base_url
        return f"https://{environments.api_host(self.environment)}"

    @property
    def credential_origins(self) -> tuple[str, ...]:
        """The environment's quotes and events hosts besides its API host; with ``base_url``
        (a sandbox serves HTTP on one origin) only ``events_url``, when given."""
        events = () if self.events_url is None else (self.events_url,)
        if self.base_url is not None:
            return events
        hosts = environments.BY_NAME[self.environment].hosts
        if self.events_url is None and "events-api" in hosts:
            events = (f"https://{hosts['events-api']}",)
        quotes = (f"https://{hosts['quotes-api']}",) if "quotes-api" in hosts else ()
        return quotes + events

    @property
    def events_origin(self) -> str | None:
        """Where trade-events gRPC calls may carry this profile's credentials: ``events_url``,
        else the environment's ``events-api`` host; ``None`` when neither is known (a test
        environment, or ``base_url`` without ``events_url``)."""
        if self.events_url is not None:
            return self.events_url
        if self.base_url is not None:
            return None
        host = environments.BY_NAME[self.environment].hosts.get("events-api")
        return None if host is None else f"https://{host}"

    @property
    def token_endpoints(self) -> TokenEndpoints:
        """The create / check paths and ``x-version`` of the chosen token API generation."""
        return TOKEN_ENDPOINTS[self.token_api]
