"""Lifetimes, times and JSON in Futu's token answers (QUALITY item 26).  OAuth refreshes over
real HTTP against the sandbox: a hostile ``expires_in``, deep JSON or a key given twice is a
typed error naming it, the token file stays as it was, and a missing ``expires_in`` means
Futu's two hours.  The legacy refresh's ``expired_at`` is read by the core's time rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError, ResponseError
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request, Response
from brokerauth.engine import failures
from brokerauth_futu.apikey import refresh_access_token
from brokerauth_futu.oauthflow import DEFAULT_LIFETIME
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.server import SandboxResponse

QUOTE = "/v1/quote/snapshot"


def raw(data: bytes) -> SandboxResponse:
    return SandboxResponse(200, data, (("Content-Type", "application/json"),))


def answer(**fields: Any) -> SandboxResponse:
    return SandboxResponse.json({"access_token": "never-stored-token", "token_type": "Bearer",
                                 **fields})


HOSTILE: dict[str, tuple[SandboxResponse, str]] = {
    "expires_in 10**12": (answer(expires_in=10**12), "expires_in is out of range"),
    "expires_in superscript": (answer(expires_in="\u00b2"), "expires_in is not a number"),
    "expires_in 5000 digits": (answer(expires_in="9" * 5000), "expires_in is out of range"),
    "expires_in arabic-indic": (answer(expires_in="\u0667\u0662\u0660\u0660"),
                                "expires_in is not a number"),
    "nested 100000 deep": (raw(b"[" * 100_000 + b"]" * 100_000), "more than 64 levels deep"),
    "duplicate refresh_token": (raw(b'{"access_token": "never-stored-token", "expires_in": '
                                    b'7200, "refresh_token": "r1", "refresh_token": "r2"}'),
                                "names the key 'refresh_token' twice"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_refresh_answer_is_a_typed_error_and_the_file_stays(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any, futu_tokens: Path, kind: str
) -> None:
    broken, words = HOSTILE[kind]
    session = open_futu(oauth_sandbox)
    assert session.get(QUOTE).ok
    path = futu_tokens / session.token.extra["client_id"]
    before = path.read_bytes()
    clock.advance(7200 - 30)
    oauth_sandbox.token_failures.append(broken)
    with pytest.raises(RefreshError) as info:
        session.get(QUOTE)
    assert words in str(info.value)
    assert isinstance(info.value.__cause__, ResponseError)
    assert "bug in the plugin" not in str(info.value)
    assert len(str(info.value)) < 500
    assert path.read_bytes() == before
    clock.advance(failures.backoff(1))
    assert session.get(QUOTE).ok


def test_a_missing_expires_in_means_two_hours(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get(QUOTE).ok
    before = session.token
    clock.advance(7200 - 30)
    # No expires_in, no refresh token: the stored (unconsumed) refresh token stays.
    oauth_sandbox.token_failures.append(answer())
    token = session.token
    assert token.access_token == "never-stored-token"
    assert timedelta(seconds=7200) == DEFAULT_LIFETIME
    assert token.expires_at == clock.now() + DEFAULT_LIFETIME
    assert token.refresh_token == before.refresh_token
    clock.advance(DEFAULT_LIFETIME.total_seconds() - 30)
    assert session.get(QUOTE).ok  # refreshed before sending, with the real refresh token
    assert session.token.access_token != "never-stored-token"
    assert oauth_sandbox.stats["refresh"] == 1  # the sandbox's own grant, after the fake one


# -- the legacy refresh's expired_at ---------------------------------------------------------
class _Http:
    """Answers the legacy refresh with a fixed body (the sandbox always answers sanely)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def request(self, method: str, url: str, **kw: Any) -> Response:
        request = Request.from_url(method, "https://openapi.example" + url)
        return Response(200, {"Content-Type": "application/json"}, self.body, request)


UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 2, tzinfo=UTC)
OLD = Token(access_token="old", broker="futu")


@pytest.mark.parametrize(("expired_at", "words"), [
    ("9999-12-31T23:59:59-01:00", "expired_at is out of range"),  # OverflowError before
    ("1999-01-01T00:00:00Z", "expired_at is out of range"),
    ("2026-01-01T00:00:00Z", "expired_at is in the past"),
    ("tomorrow", "expired_at is not an RFC 3339 time"),
    ("2027-01-01T00:00:00", "expired_at has no time zone"),
    (1798761600, "expired_at is not an RFC 3339 time"),
])
def test_a_bad_legacy_expired_at_is_a_response_error(expired_at: Any, words: str) -> None:
    http = _Http(json.dumps({"token": "fresh", "expired_at": expired_at}).encode())
    with pytest.raises(ResponseError, match=words):
        refresh_access_token(http, OLD, UNTIL, identity=None, now=NOW)  # type: ignore[arg-type]


def test_legacy_answers_are_parsed_strictly() -> None:
    http = _Http(b'{"code": 0, "data": {"token": "a", "token": "b"}}')
    with pytest.raises(ResponseError, match="names the key 'token' twice"):
        refresh_access_token(http, OLD, UNTIL, identity=None, now=NOW)  # type: ignore[arg-type]


def test_a_good_legacy_expired_at_wins() -> None:
    http = _Http(b'{"token": "fresh", "expired_at": "2026-12-31T00:00:00+08:00"}')
    new = refresh_access_token(http, OLD, UNTIL, identity=None, now=NOW)  # type: ignore[arg-type]
    assert new.expires_at == datetime(2026, 12, 30, 16, tzinfo=UTC)
    missing = _Http(b'{"token": "fresh"}')
    assert refresh_access_token(missing, OLD, UNTIL, identity=None,  # type: ignore[arg-type]
                                now=NOW).expires_at == UNTIL
