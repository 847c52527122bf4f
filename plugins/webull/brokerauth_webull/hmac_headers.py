"""The ``webull-hmac`` signer's headers from a profile's settings (the algorithm itself is in
:mod:`brokerauth_webull.signing`); also used by other plugins that sign Webull requests
(Webull Connect's token endpoint).

Pure: reads the settings and the time and nonce it is given, nothing else.  The same call
explains what it signed (``steps``), so an explanation is always of the signature sent.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final
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

    The settings are checked, and their secret made into its HMAC key, once per settings
    object (:func:`signer_for`); each request then only assembles and signs its string.
    With ``steps``, the intermediate values of this very signature are added to it, in the
    order they are computed (see :func:`explain`)."""
    bound = _SIGNERS.get(id(settings))
    try:
        # The very settings values the signer was made from (this runs for every request).
        # Another settings object at a reused address passes only with the very same values,
        # for which the signer is the right one (and the entry of a settings object that is
        # gone was removed with it).
        if (bound is None or settings.app_key is not bound.app_key_value
                or settings.app_secret is not bound.app_secret_value
                or settings.signature_algorithm != bound.algorithm):
            bound = signer_for(settings, strategy)
    except AttributeError:
        bound = signer_for(settings, strategy)  # the ConfigError naming the missing setting
    # timestamp()'s cached second, inlined for the same reason.
    start, end, stamp = _last_second
    try:
        fresh = start <= now < end
    except TypeError:  # a naive time: timestamp() says so
        fresh = False
    if not fresh:
        stamp = timestamp(now)
    headers = bound.headers(request, stamp, nonce, access_token)
    if steps is not None:
        explain(steps, request, bound.signer.app_key, _reveal(settings.app_secret, strategy),
                stamp, nonce, bound.signer.algorithm, headers[signing.SIGNATURE],
                token_sent=access_token is not None)
    return headers


class _Bound:
    """A :class:`~brokerauth_webull.signing.Signer` and the settings values it was made from:
    the very objects (a :class:`Secret` resolves once and keeps its value, a ``str`` is
    immutable, and both are held here, so their identity cannot be reused while cached)."""

    __slots__ = ("algorithm", "app_key_value", "app_secret_value", "headers", "settings",
                 "signer")

    def __init__(self, signer: signing.Signer, app_key: object, app_secret: object,
                 algorithm: object, settings: Callable[[], Any]) -> None:
        #: The settings it was made for, weakly held (a call that gives it back, or None).
        self.settings = settings
        self.signer = signer
        self.headers = signer.headers
        self.app_key_value = app_key
        self.app_secret_value = app_secret
        self.algorithm = algorithm

    def __repr__(self) -> str:
        return f"<signer for {self.signer!r}>"


#: Signers by ``id(settings)``, each checked against its settings object and values on every
#: use (so a settings object changed in place, or another one at a reused address, is never
#: signed for with another's key).  An entry goes with its settings object (a weak reference
#: removes it), so revealed secrets and keyed HMAC states do not outlive the settings; settings
#: that cannot be weakly referenced get a signer per call, kept nowhere.  Bounded: cleared when
#: full.
_SIGNERS: dict[int, _Bound] = {}
_SIGNERS_MAX = 256


def _forget(key: int) -> Callable[[weakref.ref[Any]], None]:
    """The callback that removes ``key``'s entry when its settings object is gone (unless the
    entry was already replaced by one for a newer object at the same address)."""

    def forget(ref: weakref.ref[Any]) -> None:
        bound = _SIGNERS.get(key)
        if bound is not None and bound.settings is ref:
            _SIGNERS.pop(key, None)

    return forget


def signer_for(settings: Any, strategy: str = "webull-hmac") -> _Bound:
    """The settings checked (the secrets revealed, the algorithm one of
    :data:`~brokerauth_webull.signing.ALGORITHMS`) and made into a signer, remembered for
    ``settings``; a :class:`ConfigError` names what is missing or wrong."""
    try:
        key_value = settings.app_key
        secret_value = settings.app_secret
        algorithm = settings.signature_algorithm
    except AttributeError as exc:
        raise ConfigError(
            f"the {strategy} signer needs the setting {exc.name!r}",
            hint="use it with settings that carry app_key, app_secret and signature_algorithm",
        ) from None
    app_key = _reveal(key_value, strategy)
    app_secret = _reveal(secret_value, strategy)
    if algorithm not in signing.ALGORITHMS:
        raise ConfigError(
            f"signature_algorithm must be one of {', '.join(signing.ALGORITHMS)}, "
            f"not {algorithm!r}"
        )
    signer = signing.Signer(app_key, app_secret, algorithm)
    key = id(settings)
    try:
        ref: Callable[[], Any] = weakref.ref(settings, _forget(key))
    except TypeError:  # not weakly referenceable: used for this call only
        return _Bound(signer, key_value, secret_value, algorithm, _nothing)
    bound = _Bound(signer, key_value, secret_value, algorithm, ref)
    if len(_SIGNERS) >= _SIGNERS_MAX:
        _SIGNERS.clear()
    _SIGNERS[key] = bound
    return bound


def _nothing() -> None:
    return None


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


#: The last second formatted: its start, the next second's, and its text.  Requests signed
#: within one second share it, and formatting costs more than the rest of the header assembly.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_last_second: tuple[datetime, datetime, str] = (_EPOCH, _EPOCH, "")


def timestamp(now: datetime) -> str:
    """``x-timestamp``: UTC, second precision."""
    global _last_second
    start, end, text = _last_second  # one read: another thread may replace it meanwhile
    try:
        # Two comparisons of aware times (of the same UTC, a byte compare): a third of the
        # cost of now.timestamp().  A naive ``now`` cannot be ordered against them.
        if start <= now < end:
            return text
    except TypeError:
        pass
    if now.utcoffset() is None:
        raise ValueError("signing needs an aware datetime (UTC)")
    now = now.astimezone(UTC)
    start = now.replace(microsecond=0)
    # The text of strftime(TIMESTAMP_FORMAT): a UTC time's isoformat is it followed by
    # "+00:00", at half strftime's cost.
    text = start.isoformat()[:19] + "Z"
    if start.year < 9999:  # the last year's seconds have no next second to bound them
        _last_second = (start, start + timedelta(seconds=1), text)
    return text


def _reveal(value: object, strategy: str) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, str):
        return value
    raise ConfigError(f"the {strategy} signer needs app_key and app_secret as secrets")
