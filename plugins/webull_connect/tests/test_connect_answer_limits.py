"""Lifetimes, times and JSON in Webull Connect's token answers (QUALITY item 26), over real
HTTP against the sandbox: ``expires_in``, ``rt_expires_in`` and ``created_at`` are read by the
core's one rule (whole ASCII numbers in range), duplicate keys and deep JSON are refused, each
as a ``ResponseError`` naming the field with nothing stored; a missing ``expires_in`` means
Webull's documented 30 minutes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError, ResponseError
from brokerauth.engine import failures
from brokerauth_sandbox.server import SandboxResponse
from brokerauth_webull_connect import begin_login, complete
from brokerauth_webull_connect.flow import DEFAULT_LIFETIME
from brokerauth_webull_connect.sandbox.server import webull_timestamp
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, profile_for

ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


@pytest.fixture
def platform(connect: Any) -> Any:
    connect.redirect_uri = PLATFORM_REDIRECT
    return connect


def finish(sandbox: Any, host: Any) -> Any:
    profile = profile_for(sandbox)
    pending = begin_login(profile, host=host, clock=sandbox.clock)
    return complete(pending, approve(pending.url), profile=profile, host=host,
                    clock=sandbox.clock)


def body(sandbox: Any, **changes: Any) -> dict[str, Any]:
    fields = {
        "access_token": "A" * 32, "token_type": "Bearer", "expires_in": "1800",
        "rt_expires_in": "1296000", "refresh_token": "R" * 32,
        "created_at": webull_timestamp(sandbox.server_now()), "identity_id": "ID-X",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def raw(data: bytes) -> SandboxResponse:
    return SandboxResponse(200, data, (("Content-Type", "application/json"),))


def stored_tokens(token_home: Path) -> list[Path]:
    # Only token files: the core may keep bookkeeping files ("@..."), which hold no token.
    folder = token_home / "tokens"
    return [p for p in folder.rglob("*.json") if not p.name.startswith("@")] \
        if folder.exists() else []


HOSTILE: dict[str, tuple[Any, str]] = {
    "expires_in 10**12": (lambda sb: {"expires_in": 10**12}, "expires_in is out of range"),
    "expires_in string 10**12": (lambda sb: {"expires_in": str(10**12)},
                                 "expires_in is out of range"),
    "expires_in superscript": (lambda sb: {"expires_in": "\u00b2"}, "expires_in is not a number"),
    "expires_in 5000 digits": (lambda sb: {"expires_in": "9" * 5000},
                               "expires_in is out of range"),
    "expires_in arabic-indic": (lambda sb: {"expires_in": "1800".translate(ARABIC)},
                                "expires_in is not a number"),
    "rt_expires_in 10**12": (lambda sb: {"rt_expires_in": str(10**12)},
                             "rt_expires_in is out of range"),
    "rt_expires_in arabic-indic": (lambda sb: {"rt_expires_in": "1296000".translate(ARABIC)},
                                   "rt_expires_in is not a number"),
    "created_at 5000 digits": (lambda sb: {"created_at": "9" * 5000},
                               "created_at is out of range"),
    "created_at in 1970": (lambda sb: {"created_at": "5"}, "created_at is out of range"),
    "created_at arabic-indic": (lambda sb: {"created_at": "1725219442".translate(ARABIC)},
                                "created_at is not a date-time"),
    "created_at year 9999": (lambda sb: {"created_at": "9999-12-31T23:59:59.000-0100"},
                             "created_at is out of range"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_numbers_in_the_code_exchange_are_response_errors(
    platform: Any, plugin_host: Any, token_home: Path, kind: str
) -> None:
    change, words = HOSTILE[kind]
    platform.token_answers = [SandboxResponse.json(body(platform, **change(platform)))]
    with pytest.raises(ResponseError) as info:
        finish(platform, plugin_host)
    assert words in str(info.value)
    assert len(str(info.value)) < 300
    assert "A" * 32 not in str(info.value)
    assert stored_tokens(token_home) == []


@pytest.mark.parametrize(("data", "words"), [
    (b"[" * 100_000 + b"]" * 100_000, "more than 64 levels deep"),
    (b'{"x":' * 100_000 + b"1" + b"}" * 100_000, "more than 64 levels deep"),
    (b'{"access_token": "' + b"A" * 32 + b'", "access_token": "' + b"B" * 32
     + b'", "token_type": "Bearer", "expires_in": "1800", "refresh_token": "' + b"R" * 32
     + b'"}', "names the key 'access_token' twice"),
    (b'{"access_token": "' + b"A" * 32 + b'", "expires_in": "1800", "identity_id": "I", '
     b'"identity_id": "J", "refresh_token": "' + b"R" * 32 + b'"}',
     "names the key 'identity_id' twice"),
])
def test_deep_json_and_duplicate_keys_in_the_code_exchange_are_refused(
    platform: Any, plugin_host: Any, token_home: Path, data: bytes, words: str
) -> None:
    platform.token_answers = [raw(data)]
    with pytest.raises(ResponseError, match=words):
        finish(platform, plugin_host)
    assert stored_tokens(token_home) == []


@pytest.mark.parametrize("change", [{"expires_in": 10**12}, {"rt_expires_in": "9" * 5000},
                                    {"expires_in": "\u00b2"}])
def test_a_hostile_refresh_answer_is_a_typed_error_and_the_old_token_stays(
    connect: Any, make_session: Any, manual_clock: Any, change: dict[str, Any]
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    before = session.binding.load()
    manual_clock.advance(1801)
    connect.token_answers = [SandboxResponse.json(body(connect, identity_id=before.identity,
                                                       **change))]
    with pytest.raises(RefreshError) as info:
        session.get(ACCOUNTS)
    assert isinstance(info.value.__cause__, ResponseError)
    assert "bug in the plugin" not in str(info.value)
    assert next(iter(change)) in str(info.value)
    assert session.binding.load() == before
    manual_clock.advance(failures.backoff(1))
    assert session.get(ACCOUNTS).ok


def test_a_missing_expires_in_means_30_minutes_and_is_refreshed_early(
    connect: Any, make_session: Any, manual_clock: Any
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    before = session.token
    manual_clock.advance(1801)
    # No expires_in; no refresh token either, so the stored one (not consumed) stays.
    connect.token_answers = [SandboxResponse.json(body(
        connect, expires_in=None, refresh_token=None, rt_expires_in=None,
        identity_id=before.identity))]
    token = session.token
    assert token.access_token == "A" * 32
    assert timedelta(minutes=30) == DEFAULT_LIFETIME
    assert token.expires_at == manual_clock.now() + DEFAULT_LIFETIME
    assert token.refresh_token == before.refresh_token
    sent = connect.count("GET", ACCOUNTS)
    manual_clock.advance(DEFAULT_LIFETIME.total_seconds() - 30)  # the mandatory window
    assert session.get(ACCOUNTS).ok
    # Refreshed before sending: one request, with the real token, no 401 needed.
    assert connect.count("GET", ACCOUNTS) == sent + 1
    assert connect.refresh_calls == 1  # the sandbox counts only the grants it served itself
    assert session.token.access_token != "A" * 32


def test_json_numbers_are_still_accepted(platform: Any, plugin_host: Any,
                                         token_home: Path) -> None:
    platform.token_answers = [raw(json.dumps(body(platform, expires_in=1800,
                                                   rt_expires_in=0)).encode())]
    token = finish(platform, plugin_host)
    assert token.expires_at == platform.clock.now() + timedelta(seconds=1800)
    assert token.refresh_expires_at == token.issued_at  # spent: authorize again next time
