"""The 2FA token lifecycle on a manual clock, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from brokerauth_webull import codes
from brokerauth_webull.sandbox.server import DAY, WebullSandbox
from webull_helpers import CANARY_SECRET, Client

ACCOUNTS = "/openapi/account/list"
VERIFY = "/sandbox/2fa/verify"


@pytest.fixture
def two_fa(make_sandbox: Callable[..., WebullSandbox]) -> WebullSandbox:
    return make_sandbox(two_factor_required=True)


@pytest.fixture
def c(two_fa: WebullSandbox, make_client: Callable[[WebullSandbox], Client]) -> Client:
    return make_client(two_fa)


def create(client: Client, old: str | None = None, api: str = "v3") -> dict[str, Any]:
    response = client.create(old, api)
    assert response.status == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    answer: dict[str, Any] = response.json()
    return answer


def status(client: Client, token: str, api: str = "v3") -> str:
    response = client.check(token, api)
    assert response.status == 200, response.data
    assert response.json()["token"] == token
    return str(response.json()["status"])


def verify_over_http(client: Client, token: str | None) -> Any:
    body = b"{}" if token is None else f'{{"token": "{token}"}}'.encode()
    return client.http.request("POST", client.sandbox.base_url + VERIFY, body=body)


def accounts(client: Client, token: str | None) -> int:
    return client.call("GET", ACCOUNTS, token=token).status


def test_create_verify_use(c: Client, two_fa: WebullSandbox) -> None:
    assert c.call("GET", ACCOUNTS).json()["error_code"] == "INVALID_TOKEN"
    answer = create(c)
    token = answer["token"]
    assert answer["status"] == "PENDING"
    created_ms = c.clock.now().timestamp() * 1000
    assert answer["expires_at"] == pytest.approx(created_ms + 15 * DAY * 1000)
    assert status(c, token) == "PENDING"
    response = c.call("GET", ACCOUNTS, token=token)
    assert response.status == 401
    assert response.json()["error_code"] == "INVALID_TOKEN"
    assert token.encode() not in response.data

    response = verify_over_http(c, token)
    assert response.status == 200
    assert status(c, token) == "NORMAL"
    assert accounts(c, token) == 200
    assert two_fa.tokens_created == 1
    assert two_fa.count("POST", "/auth/tokens/create") == 1


def test_enter_sms_code_method_verifies_latest_pending(c: Client, two_fa: WebullSandbox) -> None:
    first = create(c)["token"]
    second = create(c)["token"]
    two_fa.enter_sms_code()
    assert status(c, second) == "NORMAL"
    assert status(c, first) == "PENDING"
    two_fa.enter_sms_code(first)
    assert status(c, first) == "NORMAL"
    with pytest.raises(LookupError):
        two_fa.enter_sms_code()
    with pytest.raises(LookupError, match="NORMAL"):
        two_fa.enter_sms_code(first)


def test_unverified_token_expires_after_5_minutes(c: Client) -> None:
    token = create(c)["token"]
    c.clock.advance(299)
    assert status(c, token) == "PENDING"
    c.clock.advance(1)
    assert status(c, token) == "EXPIRED"
    response = verify_over_http(c, token)
    assert response.status == 404
    assert response.json()["error_code"] == "NO_PENDING_TOKEN"
    assert accounts(c, token) == 401


def test_token_unused_for_15_days_becomes_invalid(c: Client, two_fa: WebullSandbox) -> None:
    token = create(c)["token"]
    two_fa.enter_sms_code(token)
    c.clock.advance(15 * DAY - 1)
    assert accounts(c, token) == 200  # each use restarts the 15 days
    c.clock.advance(15 * DAY - 1)
    assert status(c, token) == "NORMAL"
    assert accounts(c, token) == 200
    c.clock.advance(15 * DAY)
    assert status(c, token) == "INVALID"
    assert accounts(c, token) == 401
    assert two_fa.token_status(token) == "INVALID"


def test_unknown_token_is_invalid(c: Client) -> None:
    response = c.check("0" * 32)
    assert response.status == 200
    assert response.json()["status"] == "INVALID"
    assert accounts(c, "0" * 32) == 401


def test_create_with_a_normal_token_returns_it(c: Client, two_fa: WebullSandbox) -> None:
    token = create(c)["token"]
    two_fa.enter_sms_code(token)
    again = create(c, old=token)
    assert again["token"] == token
    assert again["status"] == "NORMAL"
    assert two_fa.tokens_created == 1
    c.clock.advance(15 * DAY)
    fresh = create(c, old=token)
    assert fresh["token"] != token
    assert fresh["status"] == "PENDING"
    assert two_fa.tokens_created == 2


def test_v2_endpoints(c: Client, two_fa: WebullSandbox) -> None:
    answer = create(c, api="v2")
    assert answer["status"] == "PENDING"
    two_fa.enter_sms_code()
    assert status(c, answer["token"], api="v2") == "NORMAL"
    assert two_fa.count("POST", "/openapi/auth/token/create") == 1


def test_token_of_another_app_is_unknown(c: Client, two_fa: WebullSandbox) -> None:
    token = create(c)["token"]
    two_fa.enter_sms_code(token)
    two_fa.add_app("other", "other-secret")
    response = c.call("GET", ACCOUNTS, token=token, app_key="other", app_secret="other-secret")
    assert response.status == 401


def test_check_rate_limit(c: Client) -> None:
    token = create(c)["token"]
    for _ in range(10):
        assert c.check(token).status == 200
    response = c.check(token)
    assert response.status == 429
    assert response.json() == codes.TOO_MANY_REQUESTS.body()
    c.clock.advance(29)
    assert c.check(token).status == 429
    c.clock.advance(1)
    assert c.check(token).status == 200


def test_create_rate_limit(c: Client, two_fa: WebullSandbox) -> None:
    for _ in range(10):
        create(c)
    assert c.create().status == 429
    assert two_fa.tokens_created == 10


def test_auto_verify(make_sandbox: Callable[..., WebullSandbox], make_client: Any) -> None:
    client = make_client(make_sandbox(two_factor_required=True, auto_verify=True))
    answer = create(client)
    assert answer["status"] == "NORMAL"
    assert accounts(client, answer["token"]) == 200


def test_no_two_factor_needs_no_token(sandbox: WebullSandbox, make_client: Any) -> None:
    plain = make_client(sandbox)
    assert accounts(plain, None) == 200


@pytest.mark.parametrize(
    ("field", "keys"),
    [("expires_at", {"expires_at"}), ("expires", {"expires"}), ("both", {"expires_at", "expires"})],
)
def test_expiry_field(
    make_sandbox: Callable[..., WebullSandbox], make_client: Any, field: str, keys: set[str]
) -> None:
    client = make_client(make_sandbox(expiry_field=field))
    answer = create(client)
    assert set(answer) == {"token", "status"} | keys
    assert set(client.check(answer["token"]).json()) == {"token", "status"} | keys


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"token": 5}'])
def test_malformed_token_bodies(c: Client, body: bytes) -> None:
    for path in ("/auth/tokens/create", "/auth/tokens/check"):
        response = c.call("POST", path, body=body)
        assert response.status == 400
        assert response.json() == codes.ILLEGAL_PARAMETER.body()


def test_token_endpoints_need_a_signature(c: Client) -> None:
    response = c.http.request("POST", c.sandbox.base_url + "/auth/tokens/create", body=b"{}")
    assert response.status == 401
    assert response.json()["error_code"] == "MISSING_APP_KEY"


def test_require_version(make_sandbox: Callable[..., WebullSandbox], make_client: Any) -> None:
    client = make_client(make_sandbox(require_version=True))
    response = client.call("GET", ACCOUNTS)
    assert response.json() == codes.MISSING_VERSION.body()
    assert client.call("GET", ACCOUNTS, headers={"x-version": "v2"}).status == 200


def test_tokens_never_in_errors(c: Client, two_fa: WebullSandbox) -> None:
    token = create(c)["token"]
    bodies = [
        c.call("GET", ACCOUNTS, token=token).data,
        c.call("GET", ACCOUNTS, token=token, app_secret="wrong").data,
        verify_over_http(c, token + "x").data,
    ]
    for _ in range(11):
        bodies.append(c.check(token).data)
    for body in bodies:
        if b'"error_code"' in body:
            assert token.encode() not in body
            assert CANARY_SECRET.encode() not in body
