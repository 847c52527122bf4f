"""The legacy API key: exact signature headers, the 60-second window, clock skew learned in
one rejection, the token refresh, and a revoked credential."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3
from brokerauth.contract.errors import AuthenticationError, BrokerError
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request
from brokerauth.toolkit.secrets import Secret
from brokerauth_futu import codes, plugin
from brokerauth_futu.apikey import refresh_access_token, rfc3339
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_futu.settings import FutuSettings
from futu_helpers import CANARY_KEY, CANARY_SECRET, CANARY_TOKEN

NOW = datetime(2024, 4, 25, 8, 0, 0, tzinfo=UTC)  # 1714032000, the seed's example timestamp


def settings(**changes: Any) -> FutuSettings:
    return FutuSettings(
        mode="api_key",
        app_key=Secret.from_value(CANARY_KEY),
        app_secret=Secret.from_value(CANARY_SECRET),
        access_token=Secret.from_value(CANARY_TOKEN),
        **changes,
    )


def token(value: str = CANARY_TOKEN) -> Token:
    return Token(access_token=value, broker="futu", extra={"mode": "api_key"})


def sign(request: Request, config: FutuSettings | None = None, **kw: Any) -> dict[str, str]:
    headers = plugin.sign_request(
        signer=kw.get("signer", "futu"), request=request, settings=config or settings(),
        token=kw.get("token", token()), now=kw.get("now", NOW),
    )
    assert headers is not None
    return dict(headers)


def expected(message: bytes) -> str:
    return hmac.new(CANARY_SECRET.encode(), message, hashlib.sha256).hexdigest()


def test_headers_are_exactly_the_seeds() -> None:
    body = b'{"symbols":["US.AAPL"]}'
    request = Request.from_url("POST", "https://openapi.futunn.com/v1/quote/snapshot", body=body)
    headers = sign(request)
    assert headers == {
        "X-Api-Key": CANARY_KEY,
        "X-Api-Timestamp": "1714032000",
        "X-Api-Signature": expected(b"POST\n/v1/quote/snapshot\n1714032000\n" + body),
        "Authorization": f"Bearer {CANARY_TOKEN}",
    }
    assert headers["X-Api-Signature"] == headers["X-Api-Signature"].lower()
    assert len(headers["X-Api-Signature"]) == 64
    assert CANARY_SECRET not in str(headers)


def test_no_body_signs_an_empty_body_and_the_query_is_part_of_path() -> None:
    request = Request.from_url("GET", "https://openapi.futunn.com/v1/token/refresh",
                               params={"expired_at": "2026-04-02T03:04:05Z", "x": "a b"})
    headers = sign(request)
    target = "/v1/token/refresh?expired_at=2026-04-02T03%3A04%3A05Z&x=a+b"
    assert request.url.endswith(target)
    assert headers["X-Api-Signature"] == expected(f"GET\n{target}\n1714032000\n".encode())
    path_only = sign(request, settings(signature_path="path"))
    assert path_only["X-Api-Signature"] == expected(
        b"GET\n/v1/token/refresh\n1714032000\n")


def test_the_bytes_signed_are_the_bytes_sent() -> None:
    body = '{"name":"腾讯"}'.encode()
    request = Request.from_url("POST", "https://h/v1/x", body=body)
    assert sign(request)["X-Api-Signature"] == expected(b"POST\n/v1/x\n1714032000\n" + body)


def test_signer_choice_follows_the_mode() -> None:
    request = Request.from_url("GET", "https://h/v1/x")
    oauth = FutuSettings()
    assert sign(request, oauth, token=token("oauth-access")) == {
        "Authorization": "Bearer oauth-access"}
    assert sign(request, oauth, token=None) == {}
    assert "X-Api-Signature" in sign(request, signer="futu-api-key")
    assert plugin.sign_request(signer="bearer", request=request, settings=oauth, token=None,
                               now=NOW) is None


# --- against the sandbox -------------------------------------------------------------------


@pytest.fixture
def http() -> Any:
    with urllib3.PoolManager(retries=False, timeout=5.0) as pool:
        yield pool


def call(http: Any, sandbox: FutuSandbox, *, age: float = 0.0, tamper: bool = False) -> Any:
    now = datetime.fromtimestamp(sandbox.server_now() - age, UTC)
    request = Request.from_url("POST", sandbox.base_url + "/v1/quote/snapshot",
                               body=b'{"symbols":["US.AAPL"]}')
    headers = sign(request, now=now)
    body = request.body + (b" " if tamper else b"")
    return http.request("POST", request.url, body=body, headers=headers)


def test_sandbox_accepts_the_signature_and_its_window(http: Any, sandbox: FutuSandbox) -> None:
    assert call(http, sandbox).status == 200
    assert call(http, sandbox, age=60).status == 200
    stale = call(http, sandbox, age=61)
    assert stale.status == 401
    assert stale.json()["code"] == codes.TIMESTAMP_EXPIRED
    future = call(http, sandbox, age=-61)
    assert future.json()["code"] == codes.TIMESTAMP_EXPIRED
    tampered = call(http, sandbox, tamper=True)
    assert tampered.json()["code"] == codes.SIGNATURE_INVALID


def test_ninety_seconds_of_skew_cost_exactly_one_rejection(
    sandbox: FutuSandbox, open_futu: Any
) -> None:
    session = open_futu(sandbox)
    sandbox.clock_offset = 90  # the server's clock is 90 s ahead of ours
    for _ in range(3):
        response = session.post("/v1/quote/snapshot", json={"symbols": ["US.AAPL"]})
        assert response.status == 200, response.text
    assert sandbox.stats["clock_skew"] == 1
    assert sandbox.count("POST", "/v1/quote/snapshot") == 4
    assert session.binding.skew == timedelta(seconds=90)
    # And the other way round: a server 90 s behind.
    sandbox.clock_offset = -90
    assert session.get("/v1/account/info").ok
    assert sandbox.stats["clock_skew"] == 2


def test_refresh_access_token_replaces_the_stored_token(
    sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = open_futu(sandbox)
    assert session.get("/v1/account/info").ok
    binding = session.binding
    until = clock.now() + timedelta(days=365 * 3)
    new = refresh_access_token(binding.flow_context(None).http, session.token, until,
                               identity="default")
    assert new.expires_at == until
    binding.save(new)
    session.tokens.forget()
    assert session.get("/v1/account/info").ok
    assert sandbox.stats["legacy_refresh"] == 1
    assert not sandbox.legacy_token_valid(CANARY_TOKEN)
    assert sandbox.legacy_token_valid(new.access_token)
    assert session.token.access_token == new.access_token


def test_the_session_refreshes_a_legacy_token_before_it_expires(
    sandbox: FutuSandbox, open_futu: Any, clock: Any
) -> None:
    session = open_futu(sandbox)
    binding = session.binding
    first = refresh_access_token(binding.flow_context(None).http, session.token,
                                 clock.now() + timedelta(days=1), identity="default",
                                 now=clock.now())
    binding.save(first)
    session.tokens.forget()
    clock.advance(timedelta(days=1).total_seconds() - 30)
    assert session.get("/v1/account/info").ok
    assert sandbox.stats["legacy_refresh"] == 2
    renewed = session.token
    assert renewed.access_token != first.access_token
    # The automatic refresh asks for Futu's default validity, 90 days.
    assert renewed.expires_at is not None
    assert renewed.expires_at - clock.now() == timedelta(days=90)


def test_revoked_credential_is_a_clear_error_without_retry(
    sandbox: FutuSandbox, open_futu: Any
) -> None:
    session = open_futu(sandbox)
    assert session.get("/v1/account/info").ok
    sandbox.revoke_credential()
    with pytest.raises(AuthenticationError) as info:
        session.get("/v1/account/info")
    text = str(info.value)
    assert "revoked" in text
    assert "brokerauth login" in text
    assert CANARY_TOKEN not in text
    assert CANARY_SECRET not in text
    assert sandbox.count("GET", "/v1/account/info") == 2  # one refused call, no loop
    assert sandbox.stats["legacy_refresh"] == 0
    with pytest.raises(AuthenticationError, match="revoked"):
        refresh_access_token(session.binding.flow_context(None).http, session.token,
                             datetime.now(UTC) + timedelta(days=1), identity="default")


class _Answer:
    def __init__(self, status: int, body: Any) -> None:
        import json

        from brokerauth.contract.wire import Response

        request = Request.from_url("GET", "https://h" + "/v1/token/refresh")
        self.response = Response(status, {}, json.dumps(body).encode(), request)
        self.seen: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kw: Any) -> Any:
        self.seen.append({"method": method, "url": url, **kw})
        return self.response


@pytest.mark.parametrize(
    "body",
    [{"token": "fresh"}, {"code": 0, "message": "ok", "data": {"token": "fresh"}}],
)
def test_refresh_answer_shapes(body: dict[str, Any]) -> None:
    fake = _Answer(200, body)
    until = datetime(2027, 1, 1, tzinfo=UTC)
    new = refresh_access_token(fake, token(), until, identity="default")  # type: ignore[arg-type]
    assert new.access_token == "fresh"
    assert new.expires_at == until
    assert fake.seen[0]["params"] == {"expired_at": "2027-01-01T00:00:00Z"}
    assert fake.seen[0]["token"] == token()


def test_refresh_business_error_keeps_nothing() -> None:
    fake = _Answer(200, {"code": 500123, "message": "too many refreshes", "data": None})
    with pytest.raises(BrokerError, match="too many refreshes"):
        refresh_access_token(fake, token(), NOW, identity=None)  # type: ignore[arg-type]


def test_rfc3339_takes_naive_times_as_local() -> None:
    aware = datetime(2027, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    assert rfc3339(aware) == "2027-01-02T03:04:05Z"
    naive = datetime(2027, 1, 2, 3, 4, 5)
    assert rfc3339(naive) == rfc3339(naive.astimezone())


def test_a_refresh_says_the_configured_token_may_be_retired_and_logout_leaves_only_it(
    sandbox: FutuSandbox, open_futu: Any, browser: Any
) -> None:
    """Futu's refresh of a legacy token gives a new one, kept in the store; the one in the
    profile may no longer be accepted.  Told once, at the refresh: that the store's token is
    the one used now, and that a logout would leave only the configured one."""
    session = open_futu(sandbox)
    before = list(browser.messages)
    assert session.refresh() is not None
    said = [m for m in browser.messages if m not in before]
    assert any("kept in the token store" in m and "logout" in m for m in said), said
    assert all(CANARY_TOKEN not in m for m in said)


def test_a_refused_refresh_names_the_profile_s_own_variable(monkeypatch: Any) -> None:
    from brokerauth_futu import apikey

    monkeypatch.setenv("MY_DESK_FUTU_TOKEN", CANARY_TOKEN)
    answer = _Answer(401, {"code": sorted(codes.TOKEN_INVALID_CODES)[0],
                           "message": "access token invalid or expired"})
    error = apikey._refusal(answer.response, Secret(env="MY_DESK_FUTU_TOKEN"))
    assert "update $MY_DESK_FUTU_TOKEN" in (error.hint or "")
    assert "FUTU_ACCESS_TOKEN" not in (error.hint or "")
