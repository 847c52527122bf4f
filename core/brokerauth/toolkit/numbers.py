"""Numbers in token answers: lifetimes and expiry times, read one strict way for every broker.

A lifetime (``expires_in``, a refresh token's ``rt_expires_in``) is a whole number of
seconds, given as a JSON integer or, since some brokers send every field as a string, as a
string of ASCII digits (``"1800"``).  Nothing else is a number here: not ``1800.0``, not
``" 1800"``, not Arabic-Indic digits or a superscript (which :meth:`str.isdigit` accepts),
not ``true``.  Values are bounded before any date arithmetic, so no answer can make a
``timedelta`` or ``datetime`` overflow, and a digit string is measured before it is
converted, so none reaches Python's 4,300-digit limit of :func:`int`.

The bounds, and why:

* a lifetime: 1 s to 10 years (315,360,000 s).  Access tokens live minutes to hours, refresh
  tokens days to months, legacy API keys 90 days; ten years is past any of them, and a larger
  value is a bug or an attack, not a policy.  Zero is no lifetime at all.
* an absolute time (Webull's ``expires_at`` in epoch milliseconds, Connect's ``created_at``,
  Futu's ``expired_at``): from 2000-01-01 to 2100-01-01 UTC.  Every real token was issued
  after 2000 and expires before 2100; outside that, the number is not a time.

Every error is a :class:`~brokerauth.contract.errors.ResponseError` naming the field and what was
expected, never quoting the value: it may be huge, or hostile text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from brokerauth.contract.errors import ResponseError

__all__ = [
    "EARLIEST", "LATEST", "MAX_LIFETIME", "MIN_LIFETIME", "epoch_time", "lifetime",
    "time_in_range", "whole_number",
]

#: The shortest and longest lifetime accepted, in seconds.
MIN_LIFETIME: Final = 1
MAX_LIFETIME: Final = 10 * 365 * 86_400  # 315,360,000
#: The earliest and latest absolute time accepted (aware, UTC).
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)

# Longer digit strings are out of any range here whatever they say, so they are refused
# without being converted (leading zeros beyond this are not a broker's style either).
_MAX_DIGITS: Final = 20
# Below this an epoch number cannot be milliseconds of a date after 1973: in "auto" it is
# read as seconds, which some gateways send.
_SECONDS_CUTOFF: Final = 10**11
_EARLIEST_S: Final = int(EARLIEST.timestamp())
_LATEST_S: Final = int(LATEST.timestamp())

EpochUnit = Literal["s", "ms", "auto"]


class _Problem(Exception):
    """What is wrong with a value, as a fixed phrase."""


def whole_number(value: object, *, low: int, high: int) -> int:
    """``value`` as an ``int`` in ``[low, high]``: a JSON integer or a string of ASCII digits.

    :raises ValueError: with a fixed phrase saying what is wrong (``is not a number``, ``is not
        a whole number``, ``is negative``, ``is out of range``); callers add the field's name.
    """
    try:
        return _whole_number(value, low, high)
    except _Problem as problem:
        raise ValueError(str(problem)) from None


def _whole_number(value: object, low: int, high: int) -> int:
    if isinstance(value, bool):  # a bool is an int to Python, never a number to a server
        raise _Problem("is not a number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        raise _Problem("is not a whole number")
    elif isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise _Problem("is not a number")
        if len(value) > _MAX_DIGITS:
            raise _Problem("is out of range")
        number = int(value)
    else:
        raise _Problem("is not a number")
    if number < 0 <= low:
        raise _Problem("is negative")
    if not low <= number <= high:
        raise _Problem("is out of range")
    return number


def lifetime(
    value: object,
    field: str,
    status: int | None = None,
    *,
    what: str = "token answer",
    minimum: int = MIN_LIFETIME,
    maximum: int = MAX_LIFETIME,
) -> timedelta:
    """A lifetime in whole seconds, ``minimum`` to ``maximum`` (1 s to 10 years).

    >>> lifetime("1800", "expires_in")
    datetime.timedelta(seconds=1800)

    :param what: what the value came from, the start of the error message.
    :raises ~brokerauth.contract.errors.ResponseError: "token answer: expires_in is out of range;
        expected a whole number of seconds between 1 and 315360000" (or "is not a number", …).
    """
    try:
        return timedelta(seconds=_whole_number(value, minimum, maximum))
    except _Problem as problem:
        raise ResponseError(
            f"{what}: {field} {problem}; expected a whole number of seconds between "
            f"{minimum} and {maximum}",
            status=status,
        ) from None


def epoch_time(
    value: object,
    field: str,
    status: int | None = None,
    *,
    what: str = "token answer",
    unit: EpochUnit = "s",
) -> datetime:
    """An epoch number (seconds, milliseconds, or ``"auto"``: milliseconds from 10**11 up,
    seconds below) as an aware UTC time between 2000 and 2100.

    :raises ~brokerauth.contract.errors.ResponseError: naming ``field``, never quoting the value.
    """
    words = {"s": "epoch seconds", "ms": "epoch milliseconds",
             "auto": "epoch seconds or milliseconds"}[unit]
    try:
        number = _whole_number(value, 0, _LATEST_S * 1000)
        millis = unit == "ms" or (unit == "auto" and number >= _SECONDS_CUTOFF)
        seconds, fraction = divmod(number, 1000) if millis else (number, 0)
        if not _EARLIEST_S <= seconds < _LATEST_S:
            raise _Problem("is out of range")
    except _Problem as problem:
        raise ResponseError(
            f"{what}: {field} {problem}; expected a whole number of {words} between "
            f"{EARLIEST.year} and {LATEST.year}",
            status=status,
        ) from None
    # Integer arithmetic, so milliseconds are exact (a float would round some of them).
    return datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=fraction)


def time_in_range(
    when: datetime, field: str, status: int | None = None, *, what: str = "token answer"
) -> datetime:
    """``when`` (aware) in UTC, if it lies between 2000 and 2100.

    Comparing before converting matters: a year-9999 time with a negative offset has no UTC
    equivalent, and converting it first would raise :class:`OverflowError`.

    :raises ~brokerauth.contract.errors.ResponseError: naming ``field``.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ResponseError(f"{what}: {field} has no time zone", status=status)
    if not EARLIEST <= when < LATEST:
        raise ResponseError(
            f"{what}: {field} is out of range; expected a time between {EARLIEST.year} and "
            f"{LATEST.year}",
            status=status,
        )
    return when.astimezone(UTC)
