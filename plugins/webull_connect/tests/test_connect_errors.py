"""Answers in both error dialects, malformed token answers, Webull's all-strings shape and its
created_at, and the token request's variants (JSON body, older path, clock skew)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from brokerauth.contract.errors import BrokerError, RefreshError, ResponseError
from brokerauth.contract.scrub import MASK
from brokerauth.contract.verdicts import Outcome
from brokerauth.contract.wire import Request, Response
from brokerauth.engine import failures
from brokerauth.toolkit.oauth import AuthorizationError
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.server import SandboxResponse
from brokerauth_webull_connect import AuthorizationRequired, begin_login, complete
from brokerauth_webull_connect.flow import parse_created_at
from brokerauth_webull_connect.plugin import judge
from brokerauth_webull_connect.sandbox.server import (
    CODE_INVALID,
    RFC6750_INVALID_TOKEN_DESCRIPTION,
    webull_timestamp,
)
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, profile_for

STANDARD_401 = RFC6750_INVALID_TOKEN_DESCRIPTION
API = Request.from_url("GET", "https://us-oauth-open-api.webull.com" + ACCOUNTS)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    content = b"" if body is None else (body if isinstance(body, bytes) else
                                        json.dumps(body).encode())
    return Response(status, headers or {}, content, API)


# -- judging API answers ----------------------------------------------------------------------
@pytest.mark.parametrize(("response", "outcome", "code"), [
    (answer(401, {"error_code": "INVALID_TOKEN", "message": "expired"}),
     Outcome.TOKEN_INVALID, "INVALID_TOKEN"),
    (answer(401, {"error_code": "TOKEN_EXPIRED", "message": "x"}), Outcome.TOKEN_INVALID,
     "TOKEN_EXPIRED"),
    (answer(401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'}),
     Outcome.TOKEN_INVALID, "invalid_token"),
    (answer(401, {"error": "invalid_token", "error_description": "gone"}),
     Outcome.TOKEN_INVALID, "invalid_token"),
    (answer(401, {"error_code": "TOKEN_REVOKED", "message": "withdrawn"}), Outcome.REVOKED,
     "TOKEN_REVOKED"),
    # RFC 6750's challenge decides, whatever the prose beside it says ...
    (answer(401, {"error": "invalid_token", "error_description": STANDARD_401},
            {"WWW-Authenticate": f'Bearer realm="api", error_description="{STANDARD_401}", '
                                 'error="invalid_token"'}),
     Outcome.TOKEN_INVALID, "invalid_token"),
    (answer(401, {"error_code": "UNAUTHORIZED", "message": "token revoked or expired"},
            {"WWW-Authenticate": 'bearer error=invalid_token'}),
     Outcome.TOKEN_INVALID, "UNAUTHORIZED"),
    # ... as does RFC 6750's code in the body when no challenge came with it ...
    (answer(401, {"error": "invalid_token", "error_description": STANDARD_401}),
     Outcome.TOKEN_INVALID, "invalid_token"),
    # ... but not a word quoted inside a description, nor another scheme's challenge ...
    (answer(401, {"error_code": "UNAUTHORIZED", "message": "Authorization revoked by user"},
            {"WWW-Authenticate": 'Bearer error_description="not error=\\"invalid_token\\""'}),
     Outcome.REVOKED, "UNAUTHORIZED"),
    (answer(401, {"error_code": "UNAUTHORIZED", "message": "Authorization revoked by user"},
            {"WWW-Authenticate": 'Basic realm="x", error="invalid_token"'}),
     Outcome.REVOKED, "UNAUTHORIZED"),
    # ... and Webull's own code for a revoked grant still stops at once.
    (answer(401, {"error_code": "TOKEN_REVOKED", "message": "withdrawn"},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'}),
     Outcome.REVOKED, "TOKEN_REVOKED"),
    (answer(401, {"error_code": "UNAUTHORIZED", "message": "Authorization revoked by user"}),
     Outcome.REVOKED, "UNAUTHORIZED"),
    (answer(401, {"error_code": "CLOCK_SKEW_EXCEEDED", "message": "x-timestamp"}),
     Outcome.CLOCK_SKEW, "CLOCK_SKEW_EXCEEDED"),
    (answer(401, {"error_code": "UNAUTHORIZED", "message": "Header x-signature is invalid."}),
     Outcome.ERROR, "UNAUTHORIZED"),
    (answer(417, {"error_code": "ORDER_REJECTED", "message": "market closed"}), Outcome.ERROR,
     "ORDER_REJECTED"),
    (answer(500, b"<html><body>502 Bad Gateway</body></html>"), Outcome.ERROR, None),
])
def test_api_answers_are_judged_in_both_dialects(response: Response, outcome: Outcome,
                                                 code: str | None) -> None:
    verdict = judge(response)
    assert (verdict.outcome, verdict.code) == (outcome, code)


def test_interpret_response_answers_only_for_its_broker(plugin_host: Any) -> None:
    plugin_host.broker("webull_connect")
    bad = answer(401, {"error_code": "INVALID_TOKEN", "message": "m"})
    verdict = plugin_host.interpret_response("webull_connect", None, API, bad)
    assert verdict.outcome is Outcome.TOKEN_INVALID
    assert verdict.message == "m"
    assert plugin_host.interpret_response("webull_connect", None, API, answer(200, [])) is None


def test_error_message_and_code_reach_the_caller(connect: Any, make_session: Any) -> None:
    session = make_session()
    response = session.get("/oauth-openapi/unknown")
    assert response.status == 404
    with pytest.raises(BrokerError) as info:
        response.raise_for_status()
    assert info.value.code == "NOT_FOUND"


# -- refused token requests -------------------------------------------------------------------
@pytest.fixture
def platform(connect: Any) -> Any:
    connect.redirect_uri = PLATFORM_REDIRECT
    return connect


def finish(sandbox: Any, host: Any, **keys: Any) -> Any:
    profile = profile_for(sandbox, **keys)
    pending = begin_login(profile, host=host, clock=sandbox.clock)
    return complete(pending, approve(pending.url), profile=profile, host=host,
                    clock=sandbox.clock)


def test_rfc_6749_dialect_code_and_refresh_errors(platform: Any, plugin_host: Any,
                                                  token_home: Any, make_session: Any,
                                                  manual_clock: Any) -> None:
    platform.error_dialect = "rfc6749"
    profile = profile_for(platform)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = approve(pending.url)
    complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    with pytest.raises(AuthorizationError, match="codes live 60 seconds"):
        complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    assert platform.rejections["invalid_grant"] == 1

    session = make_session(user="SBX-IDENTITY-0001")
    session.binding.save(session.binding.load().replace(refresh_token="forged-refresh-token"))
    manual_clock.advance(1801)
    with pytest.raises(AuthorizationRequired, match="authorize again") as info:
        session.get(ACCOUNTS)
    assert info.value.login_url is not None
    assert platform.rejections["invalid_grant"] == 2


@pytest.mark.parametrize("dialect", ["webull", "rfc6749"])
def test_wrong_client_secret_is_a_configuration_error(platform: Any, plugin_host: Any,
                                                      token_home: Any, dialect: str) -> None:
    platform.error_dialect = dialect
    with pytest.raises(BrokerError) as info:
        finish(platform, plugin_host, client_secret=Secret.from_value("not-the-secret"))
    assert info.value.status == 401
    assert info.value.code in ("token.client.error", "invalid_client")
    assert "client_secret" in (info.value.hint or "")


def test_wrong_app_secret_fails_webulls_signature_check(platform: Any, plugin_host: Any,
                                                        token_home: Any) -> None:
    with pytest.raises(BrokerError) as info:
        finish(platform, plugin_host, app_secret=Secret.from_value("not-the-app-secret"))
    assert info.value.status == 401
    assert "x-signature" in str(info.value)
    assert "app_secret" in (info.value.hint or "")
    assert platform.code_exchanges == 0  # refused by the gateway, before the grant


def test_server_error_on_the_exchange(platform: Any, plugin_host: Any, token_home: Any) -> None:
    platform.token_answers = [SandboxResponse.json(
        {"error_code": "INTERNAL_ERROR", "message": "Internal error."}, status=500)]
    with pytest.raises(BrokerError) as info:
        finish(platform, plugin_host)
    assert (info.value.status, info.value.code) == (500, "INTERNAL_ERROR")
    assert info.value.hint == "try again in a moment"


def test_a_client_clock_off_by_two_minutes_costs_one_rejection(
    platform: Any, plugin_host: Any, token_home: Any
) -> None:
    platform.clock_offset = 120.0  # Webull's gateway allows 60 s
    token = finish(platform, plugin_host)
    assert platform.rejections["CLOCK_SKEW_EXCEEDED"] == 1
    # created_at is on the server's clock; the token still lives 30 minutes on ours.
    assert token.expires_at == platform.clock.now() + timedelta(minutes=30)


# -- malformed answers ------------------------------------------------------------------------
def good_body(sandbox: Any, **changes: Any) -> dict[str, Any]:
    body = {
        "access_token": "A" * 32, "token_type": "Bearer", "expires_in": "1800",
        "rt_expires_in": "1296000", "refresh_token": "R" * 32,
        "created_at": webull_timestamp(sandbox.server_now()), "identity_id": "ID-X",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def html_page(status: int = 200) -> SandboxResponse:
    return SandboxResponse.html("<!doctype html><title>Maintenance</title>", status)


MALFORMED = {
    "html": lambda sb: html_page(),
    "empty": lambda sb: SandboxResponse(200, b"", (("Content-Type", "application/json"),)),
    "list": lambda sb: SandboxResponse.json([]),
    "empty object": lambda sb: SandboxResponse.json({}),
    "no access token": lambda sb: SandboxResponse.json(good_body(sb, access_token=None)),
    "number access token": lambda sb: SandboxResponse.json(good_body(sb, access_token=7)),
    "expires_in words": lambda sb: SandboxResponse.json(good_body(sb, expires_in="soon")),
    "mac token": lambda sb: SandboxResponse.json(good_body(sb, token_type="mac")),
    "bad created_at": lambda sb: SandboxResponse.json(good_body(sb, created_at="yesterday")),
    "empty identity": lambda sb: SandboxResponse.json(good_body(sb, identity_id="")),
    "no refresh token": lambda sb: SandboxResponse.json(good_body(sb, refresh_token=None)),
    "control characters": lambda sb: SandboxResponse.json(good_body(sb, access_token="a\nb")),
    "huge": lambda sb: SandboxResponse(200, b'{"access_token": "' + b"A" * (2 << 20) + b'"}',
                                       (("Content-Type", "application/json"),)),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_code_exchange_answers_store_nothing(
    platform: Any, plugin_host: Any, token_home: Any, kind: str
) -> None:
    platform.token_answers = [MALFORMED[kind](platform)]
    with pytest.raises(ResponseError) as info:
        finish(platform, plugin_host)
    assert "A" * 32 not in str(info.value)
    assert "R" * 32 not in str(info.value)
    # (the token-request count, @budget-*.json, is kept in the store too; it is no token)
    stored = (token_home / "tokens").rglob("*.json") if (token_home / "tokens").exists() else ()
    assert not [path for path in stored if not path.name.startswith("@budget-")]


@pytest.mark.parametrize("kind", ["html", "empty object", "expires_in words", "huge"])
def test_malformed_refresh_answers_keep_the_old_token(
    connect: Any, make_session: Any, manual_clock: Any, kind: str
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    before = session.binding.load()
    manual_clock.advance(1801)
    connect.token_answers = [MALFORMED[kind](connect)]
    with pytest.raises(RefreshError):
        session.get(ACCOUNTS)
    assert session.binding.load() == before
    manual_clock.advance(failures.backoff(1))  # the next try waits for the back-off
    assert session.get(ACCOUNTS).ok  # the old refresh token still works
    assert connect.invalid_grants == 0


# -- Webull's answer shape --------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("2024-09-01T19:37:22.532+0000", datetime(2024, 9, 1, 19, 37, 22, 532000, tzinfo=UTC)),
    ("2024-09-01T21:37:22.532+0200", datetime(2024, 9, 1, 19, 37, 22, 532000, tzinfo=UTC)),
    ("2024-09-01T19:37:22Z", datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)),
    ("2024-09-01T19:37:22", datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)),
    ("1725219442532", datetime(2024, 9, 1, 19, 37, 22, 532000, tzinfo=UTC)),
    ("1725219442", datetime(2024, 9, 1, 19, 37, 22, tzinfo=UTC)),
    (None, None),
])
def test_created_at_forms(text: str | None, expected: datetime | None) -> None:
    assert parse_created_at(text, 200) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00:00+0000", True, 1.5, [], "9" * 30])
def test_bad_created_at_is_a_response_error(text: Any) -> None:
    with pytest.raises(ResponseError, match="created_at"):
        parse_created_at(text, 200)


def test_expiry_counts_from_created_at(platform: Any, plugin_host: Any, token_home: Any) -> None:
    created = platform.server_now() - 600  # a token the server made ten minutes ago
    platform.token_answers = [SandboxResponse.json(good_body(
        platform, created_at=webull_timestamp(created)))]
    token = finish(platform, plugin_host)
    assert token.issued_at == platform.clock.now() - timedelta(minutes=10)
    assert token.expires_at == platform.clock.now() + timedelta(minutes=20)
    assert token.refresh_expires_at == token.issued_at + timedelta(days=15)
    assert token.identity == "ID-X"


def test_created_at_in_the_future_never_stretches_the_lifetime(
    platform: Any, plugin_host: Any, token_home: Any
) -> None:
    platform.token_answers = [SandboxResponse.json(good_body(
        platform, created_at=webull_timestamp(platform.server_now() + 900)))]
    token = finish(platform, plugin_host)
    assert token.expires_at == platform.clock.now() + timedelta(minutes=30)


def test_numbers_instead_of_strings_are_accepted(platform: Any, plugin_host: Any,
                                                 token_home: Any) -> None:
    platform.token_answers = [SandboxResponse.json(good_body(
        platform, expires_in=1800, rt_expires_in=1296000, identity_id=12345))]
    token = finish(platform, plugin_host)
    assert token.identity == "12345"


# -- the token request's variants -------------------------------------------------------------
def test_form_body_and_current_path_by_default(connect: Any, make_session: Any) -> None:
    assert make_session().get(ACCOUNTS).ok
    assert connect.token_bodies == {"form": 1}
    assert connect.count("POST", "/oauth2/tokens/create") == 1


@pytest.mark.parametrize("environment", ["uat", "sandbox", "prod"])
def test_json_body_and_the_environments_token_path(connect: Any, make_session: Any,
                                                   manual_clock: Any, environment: str) -> None:
    session = make_session(token_body="json", environment=environment, pkce=True,
                           send_redirect_uri=True)
    assert session.get(ACCOUNTS).ok
    manual_clock.advance(1801)
    assert session.get(ACCOUNTS).ok
    path = "/openapi/oauth2/token" if environment == "uat" else "/oauth2/tokens/create"
    assert connect.count("POST", path) == 2
    assert connect.token_bodies == {"json": 2}
    assert connect.refresh_calls == 1


def test_hmac_sha1_signatures_are_accepted(connect: Any, make_session: Any) -> None:
    assert make_session(signature_algorithm="HMAC-SHA1").get(ACCOUNTS).ok


def test_a_refresh_answer_without_a_refresh_token_keeps_ours(
    connect: Any, make_session: Any, manual_clock: Any
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    before = session.token
    manual_clock.advance(1801)
    connect.token_answers = [SandboxResponse.json(good_body(
        connect, refresh_token=None, rt_expires_in=None, identity_id=before.identity))]
    token = session.token  # refreshed, by a server that did not rotate this time
    assert token.access_token == "A" * 32
    assert token.refresh_token == before.refresh_token
    assert token.refresh_expires_at == before.refresh_expires_at
    assert session.binding.load() == token


# -- a dead grant keeps the server's own reason -----------------------------------------------
def test_a_refused_code_keeps_the_servers_reason_masked(platform: Any, plugin_host: Any,
                                                        token_home: Any) -> None:
    platform.error_dialect = "rfc6749"
    profile = profile_for(platform)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = approve(pending.url)
    (code,) = parse_qs(urlsplit(callback).query)["code"]
    platform.token_answers = [SandboxResponse.json(
        {"error": "invalid_grant",
         "error_description": f"Code {code} was issued to another redirect URI."},
        status=400)]
    with pytest.raises(AuthorizationError) as info:
        complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    error = info.value
    assert f"Code {MASK} was issued to another redirect URI." in error.message
    assert code not in str(error)
    assert "expired" not in error.message  # no guess in place of the server's words
    assert "codes live 60 seconds" in (error.hint or "")


def test_the_webull_dialects_refused_code_keeps_its_message(platform: Any, plugin_host: Any,
                                                            token_home: Any) -> None:
    profile = profile_for(platform)
    pending = begin_login(profile, host=plugin_host, clock=platform.clock)
    callback = approve(pending.url)
    complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    with pytest.raises(AuthorizationError) as info:
        complete(pending, callback, profile=profile, host=plugin_host, clock=platform.clock)
    assert CODE_INVALID.message in info.value.message
    assert "start the login again" in (info.value.hint or "")


def test_a_refused_refresh_token_keeps_the_servers_reason(platform: Any, plugin_host: Any,
                                                          token_home: Any, make_session: Any,
                                                          manual_clock: Any) -> None:
    platform.error_dialect = "rfc6749"
    finish(platform, plugin_host)
    session = make_session(user="SBX-IDENTITY-0001")
    platform.token_answers = [SandboxResponse.json(
        {"error": "invalid_grant", "error_description": "The user withdrew this grant."},
        status=400)]
    manual_clock.advance(1801)
    with pytest.raises(AuthorizationRequired) as info:
        session.get(ACCOUNTS)
    assert "The user withdrew this grant." in info.value.message
    assert "authorize again" in info.value.message
    assert info.value.hint
