"""Lifetimes, numbers and JSON in token answers (QUALITY item 26), over real HTTP against the
test double's sandbox on 127.0.0.1: each hostile refresh answer ends in one typed error naming
what is wrong -- never "plugin ... failed ... this is a bug in the plugin" -- the stored token
stays the old one, and a sane server afterwards recovers.  A missing ``expires_in`` takes the
plugin's default lifetime, so the token is refreshed before it dies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError, ResponseError
from brokerauth.engine import failures

JSON = "application/json"
ARABIC_120 = "\u0661\u0662\u0660"


def refresh_answer(**fields: Any) -> bytes:
    import json

    return json.dumps({"access_token": "never-sent-token", "token_type": "Bearer", **fields}
                      ).encode()


HOSTILE = {
    # OverflowError from datetime + timedelta before the fix
    "expires_in 10**12": (refresh_answer(expires_in=10**12), "expires_in is out of range"),
    # ValueError from int("²") before the fix
    "expires_in superscript": (refresh_answer(expires_in="\u00b2"), "expires_in is not a number"),
    # ValueError from int() past Python's 4,300-digit limit before the fix
    "expires_in 5000 digits": (refresh_answer(expires_in="9" * 5000),
                               "expires_in is out of range"),
    # accepted as 120 s by str.isdigit() before the fix
    "expires_in arabic-indic": (refresh_answer(expires_in=ARABIC_120),
                                "expires_in is not a number"),
    "expires_in float": (refresh_answer(expires_in=600.0), "expires_in is not a whole number"),
    "expires_in zero": (refresh_answer(expires_in=0), "expires_in is out of range"),
    # RecursionError from json before the fix
    "nested 100000 deep": (b"[" * 100_000 + b"]" * 100_000, "more than 64 levels deep"),
    "object nested 100000 deep": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                                  "more than 64 levels deep"),
    "duplicate access_token": (
        b'{"access_token": "never-sent-token", "access_token": "other-token", '
        b'"token_type": "Bearer", "expires_in": 600}', "names the key 'access_token' twice"),
    "5000-digit JSON number": (b'{"access_token": "never-sent-token", "expires_in": '
                               + b"9" * 5000 + b"}", "far too many digits"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_refresh_answer_is_a_typed_error_naming_the_problem(
    double: Any, double_session: Any, manual_clock: Any, kind: str
) -> None:
    body, words = HOSTILE[kind]
    good = double_session.token
    manual_clock.advance(double.token_lifetime + 1)
    double.bad_refresh_answers = [(200, JSON, body)]
    with pytest.raises(RefreshError) as info:
        double_session.get("/api/me")
    message = str(info.value)
    assert words in message
    assert "bug in the plugin" not in message
    assert isinstance(info.value.__cause__, ResponseError)
    assert len(message) < 500  # a 5,000-digit value is never echoed
    assert "never-sent-token" not in message
    assert double_session.binding.load() == good
    assert double.count("GET", "/api/me") == 0
    manual_clock.advance(failures.backoff(1))
    assert double_session.get("/api/me").status == 200


def test_a_missing_expires_in_takes_the_brokers_default_and_is_refreshed_early(
    double: Any, double_session: Any, manual_clock: Any
) -> None:
    from doubles.plugin import DEFAULT_LIFETIME

    double_session.token
    manual_clock.advance(double.token_lifetime + 1)
    # No expires_in and no refresh token (a server that does not rotate this time).
    double.bad_refresh_answers = [(200, JSON, b'{"access_token": "no-expiry-token", '
                                            b'"token_type": "Bearer"}')]
    token = double_session.token
    assert token.access_token == "no-expiry-token"
    assert token.expires_at == manual_clock.now() + DEFAULT_LIFETIME
    assert timedelta(minutes=10) == DEFAULT_LIFETIME
    assert double_session.binding.load() == token
    # Inside the mandatory window of that default the session refreshes before sending: the
    # token without a lifetime is never sent, and no 401 is needed to find out it died.
    manual_clock.advance((DEFAULT_LIFETIME - timedelta(seconds=30)).total_seconds())
    assert double_session.get("/api/me").status == 200
    assert double.refresh_calls == 2
    assert double.count("GET", "/api/me") == 1
    assert "no-expiry-token" not in double.seen_tokens
