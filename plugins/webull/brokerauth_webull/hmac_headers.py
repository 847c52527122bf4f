"""The ``webull-hmac`` signer's headers from a profile's settings (the algorithm itself is in
:mod:`brokerauth_webull.signing`); also used by other plugins that sign Webull requests
(Webull Connect's token endpoint).

Pure: reads the settings and the time and nonce it is given, nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from brokerauth.contract.errors import ConfigError
from brokerauth.contract.wire import Request
from brokerauth.toolkit.secrets import Secret

from brokerauth_webull import signing

#: The settings attributes these headers need (``StrategySpec.needs`` of every Webull signer).
NEEDS = ("app_key", "app_secret", "signature_algorithm")


def hmac_headers(
    request: Request,
    settings: Any,
    now: datetime,
    nonce: str,
    *,
    access_token: str | None = None,
    strategy: str = "webull-hmac",
) -> dict[str, str]:
    """The signature headers for ``request`` (and ``x-access-token`` when given)."""
    try:
        app_key = _reveal(settings.app_key, strategy)
        app_secret = _reveal(settings.app_secret, strategy)
        algorithm = settings.signature_algorithm
    except AttributeError as exc:
        raise ConfigError(
            f"the {strategy} signer needs the setting {exc.name!r}",
            hint="use it with settings that carry app_key, app_secret and signature_algorithm",
        ) from None
    if algorithm not in signing.ALGORITHMS:
        raise ConfigError(
            f"signature_algorithm must be one of {', '.join(signing.ALGORITHMS)}, "
            f"not {algorithm!r}"
        )
    return signing.signature_headers(
        request, app_key, app_secret, timestamp(now), nonce, algorithm, access_token
    )


#: The last second formatted and its text: requests signed within one second share it, and
#: formatting costs more than the rest of the header assembly.
_last_second: tuple[int, str] = (-1, "")


def timestamp(now: datetime) -> str:
    """``x-timestamp``: UTC, second precision."""
    global _last_second
    offset = now.utcoffset()
    if offset is None:
        raise ValueError("signing needs an aware datetime (UTC)")
    second = int(now.timestamp())
    cached = _last_second  # one read: another thread may replace it meanwhile
    if cached[0] == second:
        return cached[1]
    if offset:
        now = now.astimezone(UTC)
    # The text of strftime(TIMESTAMP_FORMAT): a UTC time's isoformat is it followed by
    # "+00:00", at half strftime's cost.
    text = now.isoformat(timespec="seconds")[:19] + "Z"
    _last_second = (second, text)
    return text


def _reveal(value: object, strategy: str) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, str):
        return value
    raise ConfigError(f"the {strategy} signer needs app_key and app_secret as secrets")
