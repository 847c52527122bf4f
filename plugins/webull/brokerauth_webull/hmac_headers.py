"""The ``webull-hmac`` signer's headers from a profile's settings (the algorithm itself is in
:mod:`brokerauth_webull.signing`); also used by other plugins that sign Webull requests
(Webull Connect's token endpoint).

Pure: reads the settings and the time and nonce it is given, nothing else.  The same call
explains what it signed (``steps``), so an explanation is always of the signature sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from brokerauth.contract.errors import ConfigError, PluginError
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
    steps: dict[str, str] | None = None,
) -> dict[str, str]:
    """The signature headers for ``request`` (and ``x-access-token`` when given).

    With ``steps``, the intermediate values of this very signature are added to it, in the
    order they are computed (see :func:`explain`)."""
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
    stamp = timestamp(now)
    headers = signing.signature_headers(
        request, app_key, app_secret, stamp, nonce, algorithm, access_token
    )
    if steps is not None:
        explain(steps, request, app_key, app_secret, stamp, nonce, algorithm,
                headers[signing.SIGNATURE], token_sent=access_token is not None)
    return headers


def explain(
    steps: dict[str, str],
    request: Request,
    app_key: str,
    app_secret: str,
    stamp: str,
    nonce: str,
    algorithm: str,
    sent: str,
    *,
    token_sent: bool = False,
) -> None:
    """Add to ``steps`` how ``sent`` (the ``x-signature`` just computed from these inputs) was
    made.  Nothing secret goes in: the app secret only re-checks the signature.

    The string to sign comes from the function the signature is made with, and the canonical
    string is decoded from it rather than built a second way, so neither can drift from what
    was signed; the re-check turns any drift that remains into an error instead of a wrong
    explanation."""
    to_sign = signing.string_to_sign(request, app_key, stamp, nonce, algorithm)
    if signing.signature(to_sign, app_secret, algorithm) != sent:
        raise PluginError("the Webull signature explained is not the one computed")
    digest = signing.body_digest(request.body, algorithm)
    digest_name = "SHA-256" if algorithm == "HMAC-SHA256" else "MD5"
    steps["scheme"] = f"Webull OpenAPI signature {signing.SIGNATURE_VERSION}, {algorithm}"
    steps["signed host"] = request.host
    steps[f"body digest ({digest_name}, upper-case hex)"] = (
        digest if digest is not None else "none: no body, nothing appended"
    )
    # quote() keeps unreserved characters and writes every other byte as %XX, so unquote()
    # gives back exactly the text that was quoted.
    steps["canonical string"] = unquote(to_sign)
    steps["string to sign"] = to_sign
    steps["hmac"] = (f"{algorithm} keyed with the app secret + \"&\" (not shown), "
                     "base64: x-signature")
    steps["signature"] = sent
    steps["not signed"] = ("x-access-token (the token), " if token_sent else "") + (
        "x-version and every other header the canonical string does not name"
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
