"""Numbers and JSON in Webull's 2FA token answers (QUALITY item 26), over real HTTP against
the sandbox: ``expires_at`` / ``expires`` are whole ASCII epoch milliseconds (or seconds)
between 2000 and 2100, a numeric status is ASCII digits, duplicate keys and deep JSON are
refused -- each a ``ResponseError`` naming the field, never a plugin bug; nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import ResponseError
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import SandboxResponse
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import NobodyThere

ACCOUNTS = "/openapi/account/list"
ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
OpenSession = Callable[..., Session]


def millis(clock: ManualClock, days: int = 15) -> int:
    return int((clock.now() + timedelta(days=days)).timestamp() * 1000)


def raw(data: bytes) -> SandboxResponse:
    return SandboxResponse(200, data, (("Content-Type", "application/json"),))


HOSTILE: dict[str, tuple[Callable[[ManualClock], SandboxResponse], str]] = {
    # fromtimestamp() took these before: the year 2286 and 5138 were stored as expiries
    "expires_at year 2286": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "NORMAL", "expires_at": 10**13}),
        "expires_at is out of range"),
    "expires_at year 5138 in seconds": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "NORMAL", "expires_at": 10**11 - 1}),
        "expires_at is out of range"),
    # str.isdigit() let these through as a number before
    "expires_at arabic-indic": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "NORMAL",
         "expires_at": str(millis(c)).translate(ARABIC)}), "expires_at is not a number"),
    # ValueError from int() before (a plugin bug)
    "expires superscript": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "NORMAL", "expires": "\u00b2"}),
        "expires is not a number"),
    "expires_at 5000 digits": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "NORMAL", "expires_at": "9" * 5000}),
        "expires_at is out of range"),
    "expires_at float": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "NORMAL", "expires_at": millis(c) + 0.5}),
        "expires_at is not a whole number"),
    "status superscript": (lambda c: SandboxResponse.json(
        {"token": "tok-secret-1", "status": "\u00b2", "expires_at": millis(c)}),
        "not one of PENDING"),
    "nested 100000 deep": (lambda c: raw(b"[" * 100_000 + b"]" * 100_000),
                           "more than 64 levels deep"),
    "duplicate token": (lambda c: raw(
        b'{"token": "tok-secret-1", "token": "tok-secret-2", "status": "NORMAL", '
        b'"expires_at": ' + str(millis(c)).encode() + b"}"), "names the key 'token' twice"),
    "duplicate status": (lambda c: raw(
        b'{"token": "tok-secret-1", "status": "PENDING", "status": "NORMAL", '
        b'"expires_at": ' + str(millis(c)).encode() + b"}"), "names the key 'status' twice"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_token_answers_are_response_errors_naming_the_field(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock, kind: str
) -> None:
    make, words = HOSTILE[kind]
    webull.token_faults.append(make(manual_clock))
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    with pytest.raises(ResponseError) as caught:
        session.get(ACCOUNTS)
    assert words in str(caught.value)
    assert "tok-secret" not in str(caught.value)
    assert len(str(caught.value)) < 300
    assert session.binding.load() is None


@pytest.mark.parametrize("expires", ["expires_at", "expires"])
@pytest.mark.parametrize("form", [int, str])
def test_ascii_epoch_milliseconds_as_numbers_or_strings_are_accepted(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock,
    expires: str, form: Any,
) -> None:
    webull.two_factor_required = False
    webull.token_faults.append(SandboxResponse.json(
        {"token": "good-token", "status": "1", expires: form(millis(manual_clock))}))
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    assert session.get(ACCOUNTS).ok
    token = session.tokens.peek()
    assert token is not None
    assert token.expires_at == manual_clock.now() + timedelta(days=15)
