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

from datetime import UTC, datetime
from typing import Any

from brokerauth.errors import ConfigError
from brokerauth.secrets import Secret
from brokerauth.tokens import Token
from brokerauth.wire import Request
from brokerauth_webull import signing as webull_signing

NAME = "webull-connect"
#: The settings attributes this signer reads (``StrategySpec.needs``): the same as the
#: ``webull-hmac`` signer's, so either can sign a Webull Connect profile's token requests.
NEEDS = ("app_key", "app_secret", "signature_algorithm")


def sign(
    request: Request, settings: Any, token: Token | None, now: datetime, nonce: str
) -> dict[str, str]:
    """The headers for ``request``: Bearer with a token, Webull HMAC without one."""
    if token is not None:
        return {"Authorization": f"Bearer {token.access_token}"}
    try:
        app_key = _reveal(settings.app_key)
        app_secret = _reveal(settings.app_secret)
        algorithm = settings.signature_algorithm
    except AttributeError as exc:
        raise ConfigError(
            f"the {NAME} signer needs the setting {exc.name!r}",
            hint="use it with settings that carry app_key, app_secret and signature_algorithm",
        ) from None
    if algorithm not in webull_signing.ALGORITHMS:
        raise ConfigError(
            "signature_algorithm must be one of "
            f"{', '.join(webull_signing.ALGORITHMS)}, not {algorithm!r}"
        )
    return webull_signing.signature_headers(
        request, app_key, app_secret, timestamp(now), nonce, algorithm
    )


def timestamp(now: datetime) -> str:
    """``x-timestamp``: UTC, second precision."""
    if now.utcoffset() is None:
        raise ValueError("signing needs an aware datetime (UTC)")
    return now.astimezone(UTC).strftime(webull_signing.TIMESTAMP_FORMAT)


def _reveal(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, str):
        return value
    raise ConfigError(f"the {NAME} signer needs app_key and app_secret as secrets")
