"""Numbers and JSON in token answers (QUALITY item 26): lifetimes are whole ASCII seconds in
1 s .. 10 years, absolute times lie between 2000 and 2100, a missing ``expires_in`` takes a
default lifetime, duplicate keys and deep JSON are refused -- each as one typed
``ResponseError`` naming the field, never an OverflowError, ValueError or RecursionError.

The pure functions are tested here; the same answers sent by each broker's sandbox over
real HTTP are in ``test_token_answer_limits.py`` and the plugins' ``*_answer_limits`` tests.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from brokerauth.contract import jsontext
from brokerauth.contract.errors import CorruptStoreError, ResponseError
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit import numbers
from brokerauth.toolkit.oauth import DEFAULT_LIFETIME, lifetime, parse_token_answer
from brokerauth.toolkit.tokencodec import decode_token
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 1, 2, tzinfo=UTC)
ARABIC_120 = "\u0661\u0662\u0660"  # Arabic-Indic "120": str.isdigit() says yes
SUPERSCRIPT_2 = "\u00b2"  # "²": str.isdigit() says yes, int() raises ValueError
DEEP = b"[" * 100_000 + b"]" * 100_000


def answer(**fields: Any) -> dict[str, Any]:
    return {"access_token": "a-token", "token_type": "Bearer", **fields}


def response(body: bytes, status: int = 200) -> Response:
    return Response(status, {"Content-Type": "application/json"}, body,
                    Request.from_url("POST", "http://127.0.0.1:9/token"))


# -- lifetimes ----------------------------------------------------------------------------------
BAD_LIFETIMES = {
    "10**12": 10**12,
    "superscript two": SUPERSCRIPT_2,
    "5,000 digits": "9" * 5000,
    "arabic-indic digits": ARABIC_120,
    "zero": 0,
    "zero string": "0",
    "negative": -1,
    "one past 10 years": numbers.MAX_LIFETIME + 1,
    "float": 1800.0,
    "fraction": 1800.5,
    "padded": " 1800",
    "signed": "+1800",
    "exponent": "1e3",
    "empty": "",
    "true": True,
    "list": [1800],
    "object": {"s": 1800},
    "infinity": float("inf"),
}


@pytest.mark.parametrize("value", list(BAD_LIFETIMES.values()), ids=list(BAD_LIFETIMES))
def test_a_bad_expires_in_is_a_response_error_naming_the_field(value: Any) -> None:
    with pytest.raises(ResponseError) as info:
        parse_token_answer(answer(expires_in=value), broker="b", now=NOW, status=200)
    message = str(info.value)
    assert "token answer: expires_in " in message
    assert "expected a whole number of seconds between 1 and 315360000" in message
    assert info.value.status == 200
    assert len(message) < 200  # the value, however long, is never echoed
    assert "9999" not in message and ARABIC_120 not in message


@pytest.mark.parametrize(("value", "seconds"), [
    (1, 1), ("1800", 1800), (1800, 1800), ("0600", 600), (numbers.MAX_LIFETIME,) * 2,
    (str(numbers.MAX_LIFETIME), numbers.MAX_LIFETIME),
])
def test_good_lifetimes(value: Any, seconds: int) -> None:
    token = parse_token_answer(answer(expires_in=value), broker="b", now=NOW, status=200)
    assert token.expires_at == NOW + timedelta(seconds=seconds)


def test_lifetime_is_public_in_oauth_and_numbers() -> None:
    assert lifetime("1800", "expires_in", 200) == timedelta(seconds=1800)
    assert numbers.lifetime is lifetime
    with pytest.raises(ResponseError, match="rt_expires_in is not a number"):
        lifetime(ARABIC_120, "rt_expires_in", 200)


@pytest.mark.parametrize("value", [10**12, SUPERSCRIPT_2, "9" * 5000, ARABIC_120, -1, 1.5])
def test_a_bad_refresh_lifetime_is_a_response_error_naming_it(value: Any) -> None:
    with pytest.raises(ResponseError, match="token answer: rt_expires_in "):
        parse_token_answer(answer(expires_in=60, refresh_token="r", rt_expires_in=value),
                           broker="b", now=NOW, status=200,
                           refresh_lifetime_field="rt_expires_in")


def test_a_refresh_lifetime_of_zero_means_the_refresh_token_is_spent() -> None:
    # Webull counts rt_expires_in down to 0 across rotations: the access token still works.
    token = parse_token_answer(answer(expires_in="1800", refresh_token="r", rt_expires_in="0"),
                               broker="b", now=NOW, status=200,
                               refresh_lifetime_field="rt_expires_in")
    assert token.refresh_expires_at == NOW
    assert token.expires_at == NOW + timedelta(seconds=1800)


def test_a_missing_expires_in_takes_the_default_lifetime() -> None:
    token = parse_token_answer(answer(), broker="b", now=NOW, status=200)
    assert timedelta(hours=1) == DEFAULT_LIFETIME
    assert token.expires_at == NOW + DEFAULT_LIFETIME
    null = parse_token_answer(answer(expires_in=None), broker="b", now=NOW, status=200)
    assert null.expires_at == NOW + DEFAULT_LIFETIME
    own = parse_token_answer(answer(), broker="b", now=NOW, status=200,
                             default_lifetime=timedelta(seconds=1800))
    assert own.expires_at == NOW + timedelta(seconds=1800)


def test_a_token_already_expired_on_arrival_is_refused() -> None:
    with pytest.raises(ResponseError, match="expired before it arrived"):
        parse_token_answer(answer(expires_in=60), broker="b", now=NOW, status=200,
                           issued_at=NOW - timedelta(seconds=61))


# -- absolute times -----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "unit", "expected"), [
    (1725219442, "s", datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)),
    ("1725219442532", "ms", datetime(2024, 9, 1, 19, 37, 22, 532000, tzinfo=UTC)),
    (1725219442532, "auto", datetime(2024, 9, 1, 19, 37, 22, 532000, tzinfo=UTC)),
    ("1725219442", "auto", datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)),
    (946684800, "s", numbers.EARLIEST),
])
def test_epoch_times(value: Any, unit: Any, expected: datetime) -> None:
    assert numbers.epoch_time(value, "expires_at", 200, unit=unit) == expected


@pytest.mark.parametrize(("value", "problem"), [
    (10**30, "is out of range"), ("9" * 5000, "is out of range"), (-1, "is negative"),
    ("soon", "is not a number"), (ARABIC_120, "is not a number"), (1.7e12, "is not a whole number"),
    (True, "is not a number"), (946684799, "is out of range"), (4102444800, "is out of range"),
    (10**11 - 1, "is out of range"),  # seconds in "auto", but in the year 5138
])
def test_bad_epoch_times_name_the_field(value: Any, problem: str) -> None:
    with pytest.raises(ResponseError) as info:
        numbers.epoch_time(value, "expires_at", 200, unit="auto")
    assert f"token answer: expires_at {problem}" in str(info.value)
    assert "between 2000 and 2100" in str(info.value)


@pytest.mark.parametrize("text", [
    "9999-12-31T23:59:59-01:00",  # no UTC equivalent: astimezone() would overflow
    "0001-01-01T00:00:00+01:00", "1999-12-31T23:59:59+00:00", "2100-01-01T00:00:00+00:00",
])
def test_times_outside_2000_to_2100_are_refused_without_overflow(text: str) -> None:
    with pytest.raises(ResponseError, match="expired_at is out of range"):
        numbers.time_in_range(datetime.fromisoformat(text), "expired_at", 200)


def test_a_time_without_an_offset_is_refused() -> None:
    with pytest.raises(ResponseError, match="has no time zone"):
        numbers.time_in_range(datetime(2026, 1, 1), "expired_at", 200)


# -- JSON ---------------------------------------------------------------------------------------
def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_json_nested_100000_deep_is_refused_quickly_without_recursion_error() -> None:
    started = time.perf_counter()
    with pytest.raises(ResponseError, match="more than 64 levels deep") as info:
        response(DEEP).json()
    assert time.perf_counter() - started < 1.0
    assert info.value.status == 200
    with pytest.raises(ResponseError, match="more than 64 levels deep"):
        response(b"[" * 100_000).json()  # truncated: never closed


def test_64_levels_are_accepted_65_are_not() -> None:
    assert response(nested(64)).json_object(strict=True)["a"]
    assert response(b"[" * 64 + b"]" * 64).json() == json.loads(b"[" * 64 + b"]" * 64)
    for body in (nested(65), b"[" * 65 + b"]" * 65):
        with pytest.raises(ResponseError, match="more than 64 levels deep"):
            response(body).json()


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"access_token": "x", "note": "[" * 500 + '\\"{' * 100}).encode()
    assert response(body).json_object(strict=True)["access_token"] == "x"


def test_mismatched_shallow_brackets_are_ordinary_bad_json() -> None:
    with pytest.raises(ResponseError, match="expected JSON"):
        response(b"[" * 40 + b"}" * 40).json()


def test_duplicate_keys_are_refused_in_token_answers_naming_the_key() -> None:
    body = b'{"access_token": "first", "access_token": "second", "expires_in": 60}'
    with pytest.raises(ResponseError) as info:
        response(body).json_object(strict=True)
    assert "names the key 'access_token' twice" in str(info.value)
    assert "first" not in str(info.value) and "second" not in str(info.value)
    # A key that does not look like a field name (a secret pasted as a key) is not shown.
    with pytest.raises(ResponseError, match="names a key twice"):
        response(b'{"s3cr3t-t0k3n!": 1, "s3cr3t-t0k3n!": 2}').json(strict=True)


def test_a_strict_parse_after_a_lenient_one_parses_again() -> None:
    answer_ = response(b'{"token": "a", "token": "b"}')
    assert answer_.json() == {"token": "b"}  # API answers: Python's reading, as before
    with pytest.raises(ResponseError, match="twice"):
        answer_.json_object(strict=True)


@pytest.mark.parametrize("body", [b'{"expires_in": ' + b"9" * 5000 + b"}",
                                  b'{"expires_in": NaN}', b'{"expires_in": -Infinity}'])
def test_numbers_json_cannot_hold_are_refused(body: bytes) -> None:
    with pytest.raises(ResponseError) as info:
        response(body).json(strict=True)
    assert len(str(info.value)) < 200


def test_the_token_store_and_token_answers_share_one_duplicate_rule() -> None:
    from brokerauth.toolkit import tokencodec

    assert not hasattr(tokencodec, "_no_duplicates")  # one implementation: jsontext's
    data = b'{"version": 1, "broker": "b", "access_token": "x", "access_token": "y"}'
    with pytest.raises(CorruptStoreError, match="names 'access_token' twice"):
        decode_token(data, source="t.json")


# -- properties ---------------------------------------------------------------------------------
# Strings full of what the scan must see through: brackets, quotes, backslashes (escaped in
# JSON as \\ and \"), control characters (\n, \u0001) and non-ASCII text.
json_leaves = (st.none() | st.booleans() | st.integers()
               | st.text(alphabet='[]{}"\\ab\n\x01\u00e9\u4ee4', max_size=8))
documents = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(alphabet="[]{}ab", max_size=4), children, max_size=3),
    max_leaves=30,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300)
@given(documents, st.integers(min_value=0, max_value=6), st.booleans())
def test_the_depth_scan_agrees_with_the_parsed_depth(document: Any, limit: int,
                                                     ascii_only: bool) -> None:
    data = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert jsontext.too_deep(data, limit) == (depth_of(document) > limit)


@given(st.text(max_size=30) | st.integers() | st.floats() | st.booleans() | st.none())
def test_whole_number_accepts_exactly_ascii_digits_in_range(value: Any) -> None:
    expected: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        expected = value
    elif isinstance(value, str) and value and all("0" <= c <= "9" for c in value):
        expected = int(value) if len(value) <= 20 else None
    if expected is not None and not 1 <= expected <= numbers.MAX_LIFETIME:
        expected = None
    try:
        got: int | None = numbers.whole_number(value, low=1, high=numbers.MAX_LIFETIME)
    except ValueError:
        got = None
    assert got == expected


@given(st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6))
def test_no_non_ascii_digit_is_a_lifetime(text: str) -> None:
    if text.isascii():
        return
    with pytest.raises(ResponseError, match="expires_in is not a number"):
        lifetime(text, "expires_in", 200)
