"""The ``webull-2fa`` flow end to end: a session on a profile, real HTTP on 127.0.0.1 to the
Webull sandbox, one manual clock for both, so a 5-minute wait takes no time."""

from __future__ import annotations

import itertools
import logging
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import (
    BrokerError,
    LoginRequiredError,
    ResponseError,
    VerificationTimeoutError,
)
from brokerauth.contract.tokens import Token
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import SandboxResponse
from brokerauth_webull import codes, twofactor
from brokerauth_webull.sandbox.server import DAY, WebullSandbox
from webull_helpers import NobodyThere, SmsUser

ACCOUNTS = "/openapi/account/list"
CREATE = "/auth/tokens/create"
CHECK = "/auth/tokens/check"
OpenSession = Callable[..., Session]


def token_file(token_home: Path, profile: str = "wb") -> Path:
    return token_home / "tokens" / profile / "default.json"


def login(open_session: OpenSession, sandbox: WebullSandbox, **keys: Any) -> Session:
    """A session whose first request walked the SMS verification."""
    session = open_session(sandbox, interaction=SmsUser(sandbox), two_factor="on", **keys)
    assert session.get(ACCOUNTS).ok
    return session


# -- (a) first login --------------------------------------------------------------------------
def test_first_login_waits_for_the_sms_code_then_uses_the_token(
    webull: WebullSandbox, open_session: OpenSession, token_home: Path, manual_clock: ManualClock
) -> None:
    user = SmsUser(webull, enter_at=3)
    session = open_session(webull, interaction=user, two_factor="on")
    start = manual_clock.now()

    response = session.get(ACCOUNTS)

    assert response.status == 200, response.text
    assert response.json()[0]["account_id"] == "SBX0000001"
    token = session.tokens.peek()
    assert token is not None
    assert webull.token_status(token.access_token) == codes.NORMAL
    assert token.broker == "webull"
    assert token.refresh_token is None
    assert token.token_type == "x-access-token"
    assert token.extra["status"] == "NORMAL"
    assert token.expires_at is not None
    assert token.expires_at.utcoffset() == timedelta(0)
    assert token.expires_at > manual_clock.now() + timedelta(days=14)
    assert token.issued_at == manual_clock.now()
    # PENDING at once, then every 5 s; the code went in at the 3rd status update.
    assert webull.count("POST", CREATE) == 1
    assert webull.count("POST", CHECK) == 4
    assert manual_clock.now() - start == timedelta(seconds=15)
    assert user.closed == 1
    # Stored in the file store, readable by the user only, and reused for the next call.
    path = token_file(token_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token.access_token in path.read_text()
    assert webull.app_secret not in path.read_text()
    assert session.get(ACCOUNTS).ok
    assert webull.count("POST", CREATE) == 1


def test_the_token_goes_in_x_access_token(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    session = login(open_session, webull)
    token = session.tokens.peek()
    assert token is not None
    signed = session.binding.sign(session.binding.build("GET", ACCOUNTS), token)
    assert signed.headers["x-access-token"] == token.access_token
    assert "authorization" not in {k.lower() for k in signed.headers}
    # Without it the sandbox refuses the call: the header is what lets it through.
    bare = session.binding.sign(session.binding.build("GET", ACCOUNTS), None)
    answer = session.binding.transport.send(bare)
    assert answer.status == 401
    assert answer.json()["error_code"] == "INVALID_TOKEN"


def test_the_user_is_told_what_to_do_and_how_long_is_left(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    user = SmsUser(webull, enter_at=4)
    session = open_session(webull, interaction=user, two_factor="on")
    start = manual_clock.now()
    assert session.get(ACCOUNTS).ok

    (said,) = user.said
    assert twofactor.APP_PATH in said
    assert (
        "Open the Webull App → Menu → Messages → OpenAPI Notifications → tap the latest "
        "verification message → Check Now, and enter the SMS code" in said
    )
    assert "5 minutes" in said
    ((message, deadline),) = user.waits
    assert "SMS code" in message
    assert deadline == start + timedelta(minutes=5)
    statuses = [status for status, _ in user.updates]
    assert statuses[0].startswith("PENDING: 5:00 left")
    assert statuses[1].startswith("PENDING: 4:55 left")
    assert statuses[3].startswith("PENDING: 4:45 left")
    assert all(d == deadline for _, d in user.updates)


# -- (c) nobody enters the code ----------------------------------------------------------------
def test_unverified_token_expires_with_a_clear_error(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock,
    token_home: Path,
) -> None:
    user = SmsUser(webull, enter_at=None)
    session = open_session(webull, interaction=user, two_factor="on")
    start = manual_clock.now()

    with pytest.raises(VerificationTimeoutError) as caught:
        session.get(ACCOUNTS)

    text = str(caught.value)
    assert "verification timed out" in text
    assert "5 minutes" in text
    assert "brokerauth login wb" in text
    assert "Messages → OpenAPI Notifications" in text
    # Webull said EXPIRED at the end of its window: the flow gave up then, not before.
    assert manual_clock.now() - start == timedelta(minutes=5)
    assert webull.count("POST", CREATE) == 1
    assert not token_file(token_home).exists()
    assert session.binding.load() is None
    assert user.closed == 1


class InterruptingUser(SmsUser):
    """The person presses Ctrl-C at the second status update, the SMS already sent."""

    def waiting(self, message: str, *, deadline: Any = None) -> Any:
        waiting = super().waiting(message, deadline=deadline)
        update = waiting.update

        def interrupted(status: str, *, deadline: Any = None) -> None:
            update(status, deadline=deadline)
            if len(self.updates) == 2:
                raise KeyboardInterrupt

        waiting.update = interrupted
        return waiting


def test_ctrl_c_while_waiting_for_the_sms_says_what_became_of_it(
    webull: WebullSandbox, open_session: OpenSession, token_home: Path,
) -> None:
    user = InterruptingUser(webull, enter_at=None)
    session = open_session(webull, interaction=user, two_factor="on")
    with pytest.raises(KeyboardInterrupt):
        session.get(ACCOUNTS)
    assert user.closed == 1  # the countdown line was put away first
    last = user.said[-1]
    # The code on the phone now: of no use, and a new login sends another.
    assert "stopped waiting for the SMS code" in last
    assert "nothing was stored" in last
    assert "`brokerauth login wb`" in last
    assert "new code" in last
    assert webull.count("POST", CREATE) == 1
    assert session.binding.load() is None


def test_a_shorter_verification_timeout_is_ours(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    session = open_session(
        webull, interaction=SmsUser(webull, enter_at=None), two_factor="on",
        verification_timeout=60,
    )
    start = manual_clock.now()
    with pytest.raises(VerificationTimeoutError, match="within 1 minute"):
        session.get(ACCOUNTS)
    assert manual_clock.now() - start == timedelta(seconds=60)


# -- (d) INVALID tokens are replaced ----------------------------------------------------------
def test_token_idle_for_15_days_needs_a_new_sms_login(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    first = login(open_session, webull)
    old = first.tokens.peek()
    assert old is not None
    manual_clock.advance(15 * DAY + 1)
    assert webull.token_status(old.access_token) == codes.INVALID

    # A fresh process: nobody at the keyboard, so the refresh must not start an SMS login.
    later = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    with pytest.raises(LoginRequiredError) as caught:
        later.get(ACCOUNTS)
    assert "INVALID" in str(caught.value)
    assert "15 days" in str(caught.value)
    assert "brokerauth login wb" in str(caught.value)
    assert webull.count("POST", CREATE) == 1

    # `brokerauth login wb`: the user is there, enters the new code, the token is replaced.
    again = open_session(webull, interaction=SmsUser(webull), two_factor="on")
    new = again.login()
    assert new is not None
    assert new.access_token != old.access_token
    assert webull.tokens_created == 2
    assert again.get(ACCOUNTS).ok
    assert again.binding.load() == new


def test_token_idle_for_15_days_is_replaced_silently_where_webull_verifies_itself(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    webull.auto_verify = True
    first = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    assert first.get(ACCOUNTS).ok
    old = first.tokens.peek()
    assert old is not None
    assert old.extra["verified_by"] == "auto"
    manual_clock.advance(15 * DAY + 1)

    later = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    assert later.get(ACCOUNTS).ok
    new = later.tokens.peek()
    assert new is not None
    assert new.access_token != old.access_token
    assert webull.tokens_created == 2


def test_test_environment_tokens_are_replaced_silently(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    """A token verified by SMS, in a profile naming a test environment: Webull verifies new
    tokens there on its own, so a lapsed one is replaced without the user."""
    first = login(open_session, webull, environment="sandbox")
    old = first.tokens.peek()
    assert old is not None
    assert old.extra["verified_by"] == "sms"
    webull.auto_verify = True
    manual_clock.advance(15 * DAY + 1)
    later = open_session(webull, interaction=NobodyThere(webull), two_factor="on",
                         environment="sandbox")
    assert later.get(ACCOUNTS).ok
    assert webull.tokens_created == 2


def test_invalid_token_answer_from_the_api_triggers_one_check(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    """The store holds a token Webull does not know (INVALID_TOKEN on the call): the core
    refreshes once, the check says INVALID, and the user is told to log in."""
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    far = session.binding.clock.now() + timedelta(days=10)
    session.binding.save(
        Token(access_token="0" * 32, broker="webull", expires_at=far, token_type="x-access-token")
    )
    with pytest.raises(LoginRequiredError, match="INVALID"):
        session.get(ACCOUNTS)
    assert webull.count("POST", CHECK) == 1
    assert webull.count("POST", CREATE) == 0


def test_invalid_token_answer_with_auto_verify_gets_a_new_token_and_resends(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.auto_verify = True
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    far = session.binding.clock.now() + timedelta(days=10)
    session.binding.save(
        Token(access_token="0" * 32, broker="webull", expires_at=far,
              extra={"status": "NORMAL", "verified_by": "auto"})
    )
    assert session.get(ACCOUNTS).ok
    assert webull.tokens_created == 1
    assert webull.rejections["INVALID_TOKEN"] == 1


def test_invalid_answer_to_create_is_replaced_once(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.auto_verify = True
    webull.token_faults.append(
        SandboxResponse.json({"token": "dead-token", "status": "INVALID", "expires_at": 0})
    )
    user = SmsUser(webull)
    session = open_session(webull, interaction=user, two_factor="on")
    assert session.get(ACCOUNTS).ok
    assert webull.count("POST", CREATE) == 2
    assert any("requesting a new one" in m for m in user.said)


def test_invalid_twice_is_an_error_not_a_loop(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    dead = {"token": "dead-token", "status": "INVALID", "expires_at": 0}
    webull.token_faults.extend([SandboxResponse.json(dead), SandboxResponse.json(dead)])
    session = open_session(webull, interaction=SmsUser(webull), two_factor="on")
    with pytest.raises(BrokerError, match="INVALID") as caught:
        session.get(ACCOUNTS)
    assert "dead-token" not in str(caught.value)
    assert webull.count("POST", CREATE) == 2
    assert session.binding.load() is None


def test_token_turning_invalid_while_pending_is_replaced_once(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.token_faults.extend([
        SandboxResponse.json({"token": "t", "status": "PENDING", "expires_at": 0}),
        SandboxResponse.json({"status": "INVALID", "expires_at": 0}),
    ])
    user = SmsUser(webull, enter_at=1)
    session = open_session(webull, interaction=user, two_factor="on")
    assert session.get(ACCOUNTS).ok
    assert webull.count("POST", CREATE) == 2
    assert webull.tokens_created == 1
    assert len(user.waits) == 2


# -- refresh keeps a used token alive -------------------------------------------------------
def test_refresh_of_a_used_token_adopts_webulls_later_expiry(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    session = login(open_session, webull)
    first = session.tokens.peek()
    assert first is not None
    assert first.expires_at is not None
    manual_clock.advance(10 * DAY)
    assert session.get(ACCOUNTS).ok  # a use moves Webull's expiry 15 days past now
    manual_clock.set(first.expires_at - timedelta(seconds=30))  # inside the mandatory window
    assert session.get(ACCOUNTS).ok
    second = session.tokens.peek()
    assert second is not None
    assert second.expires_at is not None
    assert second.access_token == first.access_token
    assert second.expires_at > first.expires_at + timedelta(days=9)
    assert session.binding.load() == second
    assert webull.count("POST", CREATE) == 1
    assert session.tokens.refreshes == 1


def test_refresh_of_an_unused_token_renews_it_without_an_sms(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    session = login(open_session, webull)
    first = session.tokens.peek()
    assert first is not None
    assert first.expires_at is not None
    manual_clock.set(first.expires_at - timedelta(seconds=30))
    later = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    assert later.get(ACCOUNTS).ok
    renewed = later.tokens.peek()
    assert renewed is not None
    assert renewed.expires_at is not None
    assert renewed.access_token == first.access_token
    assert renewed.expires_at > first.expires_at
    assert renewed.extra["verified_by"] == "sms"
    assert webull.tokens_created == 1


def test_login_with_a_still_active_token_reuses_it(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    session = login(open_session, webull)
    first = session.tokens.peek()
    assert first is not None
    assert first.expires_at is not None
    again = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    token = again.login()
    assert token is not None
    assert token.expires_at is not None
    assert token.access_token == first.access_token
    assert token.expires_at >= first.expires_at  # Webull counts the create as a use
    assert webull.tokens_created == 1
    assert webull.count("POST", CREATE) == 2


# -- (f) two_factor off and auto --------------------------------------------------------------
def test_two_factor_off_signs_without_a_token(
    webull: WebullSandbox, open_session: OpenSession, token_home: Path
) -> None:
    webull.two_factor_required = False
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="off")
    assert session.get(ACCOUNTS).ok
    assert session.tokens.peek() is None
    assert webull.count("GET", "/openapi/config") == 0
    assert webull.token_requests == []
    assert not token_file(token_home).exists()


def test_auto_follows_the_accounts_config_when_off(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.two_factor_required = False
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="auto")
    assert session.get(ACCOUNTS).ok
    assert session.get(ACCOUNTS).ok
    assert session.tokens.peek() is None
    assert webull.count("GET", "/openapi/config") == 1
    assert webull.token_requests == []


def test_auto_follows_the_accounts_config_when_on(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    session = open_session(webull, interaction=SmsUser(webull), two_factor="auto")
    assert session.get(ACCOUNTS).ok
    assert session.tokens.peek() is not None
    assert webull.count("GET", "/openapi/config") == 1
    assert webull.count("POST", CREATE) == 1


def test_auto_is_on_in_hong_kong_without_asking(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.two_factor_required = False  # the config would say off: it is not asked
    session = open_session(webull, interaction=SmsUser(webull), environment="hk",
                           two_factor="auto")
    assert session.get(ACCOUNTS).ok
    assert session.tokens.peek() is not None
    assert webull.count("GET", "/openapi/config") == 0
    assert webull.count("POST", CREATE) == 1


# -- (g) the older endpoint generation --------------------------------------------------------
def test_v2_token_endpoints(webull: WebullSandbox, open_session: OpenSession) -> None:
    session = login(open_session, webull, token_api="v2")
    assert session.tokens.peek() is not None
    assert webull.count("POST", "/openapi/auth/token/create") == 1
    assert webull.count("POST", "/openapi/auth/token/check") >= 2
    assert webull.count("POST", CREATE) == webull.count("POST", CHECK) == 0
    assert {(path, version) for _, path, version in webull.token_requests} == {
        ("/openapi/auth/token/create", "v2"),
        ("/openapi/auth/token/check", "v2"),
    }


def test_v3_sends_x_version_v3(webull: WebullSandbox, open_session: OpenSession) -> None:
    login(open_session, webull)
    assert {version for _, _, version in webull.token_requests} == {"v3"}


@pytest.mark.parametrize("field", ["expires", "both"])
def test_either_expiry_field_is_accepted(
    webull: WebullSandbox, open_session: OpenSession, field: Any
) -> None:
    webull.expiry_field = field
    session = login(open_session, webull)
    token = session.tokens.peek()
    assert token is not None
    assert token.expires_at is not None


# -- (h) the rate limit -------------------------------------------------------------------------
def most_in_any_window(times: list[float], period: float = 30.0) -> int:
    return max(sum(1 for t in times if start <= t < start + period) for start in times)


def test_polling_stays_within_10_requests_per_30_seconds(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    # Asking for 1 s polls gets the 3 s floor; the limiter spaces the rest.
    session = open_session(
        webull, interaction=SmsUser(webull, enter_at=None), two_factor="on", poll_interval=1
    )
    with pytest.raises(VerificationTimeoutError):
        session.get(ACCOUNTS)
    times = [t for t, _, _ in webull.token_requests]
    checks = [t for t, path, _ in webull.token_requests if path == CHECK]
    assert len(checks) > 30
    assert most_in_any_window(times) <= 10
    assert min(b - a for a, b in itertools.pairwise(checks)) >= 3.0
    assert webull.rejections["TOO_MANY_REQUESTS"] == 0


def test_default_polling_is_every_5_seconds(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    session = open_session(webull, interaction=SmsUser(webull, enter_at=None), two_factor="on")
    with pytest.raises(VerificationTimeoutError):
        session.get(ACCOUNTS)
    checks = [t for t, path, _ in webull.token_requests if path == CHECK]
    assert len(checks) == 61  # at once, then every 5 s up to the 300th second
    assert {b - a for a, b in itertools.pairwise(checks)} == {5.0}


def test_http_429_backs_off_and_carries_on(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.check_limit = 2  # a stricter server than Webull's published limit
    user = SmsUser(webull, enter_at=3)
    session = open_session(webull, interaction=user, two_factor="on")
    assert session.get(ACCOUNTS).ok
    assert webull.rejections["TOO_MANY_REQUESTS"] >= 1


def test_retry_after_is_honoured(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.auto_verify = True
    webull.token_faults.append(
        SandboxResponse.json(codes.TOO_MANY_REQUESTS.body(), status=429,
                             headers=(("Retry-After", "7"),))
    )
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    assert session.get(ACCOUNTS).ok
    (first, second) = [t for t, _, _ in webull.token_requests]
    assert second - first == 7


def test_endless_429_gives_a_typed_error(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    busy = SandboxResponse.json(codes.TOO_MANY_REQUESTS.body(), status=429)
    webull.token_faults.extend([busy] * (twofactor.MAX_THROTTLED + 1))
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    with pytest.raises(BrokerError) as caught:
        session.get(ACCOUNTS)
    assert caught.value.code == "TOO_MANY_REQUESTS"
    assert caught.value.status == 429
    assert "10 token requests per 30 s" in str(caught.value)
    assert webull.count("POST", CREATE) == twofactor.MAX_THROTTLED + 1


# -- broker errors and malformed answers --------------------------------------------------------
def test_wrong_app_secret_is_a_broker_error_with_webulls_code(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    session = open_session(
        webull, interaction=NobodyThere(webull), two_factor="on",
        app_secret=Secret.from_value("not-the-secret"),
    )
    with pytest.raises(BrokerError) as caught:
        session.get(ACCOUNTS)
    assert caught.value.code == "UNAUTHORIZED"
    assert caught.value.status == 401
    assert "x-signature is invalid" in str(caught.value)
    assert "app_secret" in str(caught.value)  # the hint names the setting to check
    assert "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (SandboxResponse.html("<html><body>Bad gateway</body></html>"), "expected JSON"),
        (SandboxResponse.json(["token"]), "JSON object"),
        (SandboxResponse.json({"status": "NORMAL", "expires_at": 1}), "no usable token"),
        (SandboxResponse.json({"token": "", "status": "NORMAL"}), "no usable token"),
        (SandboxResponse.json({"token": "tok-secret-1", "status": "GREEN"}), "'GREEN'"),
        (SandboxResponse.json({"token": "tok-secret-1", "status": True}), "bool"),
        (SandboxResponse.json({"token": "tok-secret-1", "status": "NORMAL"}), "no expiry"),
        (
            SandboxResponse.json({"token": "tok-secret-1", "status": "NORMAL", "expires": "soon"}),
            "not a number",
        ),
        (
            SandboxResponse.json({"token": "tok-secret-1", "status": "NORMAL", "expires_at": -1}),
            "negative",
        ),
        (
            SandboxResponse.json(
                {"token": "tok-secret-1", "status": "NORMAL", "expires_at": 10**30}
            ),
            "out of range",
        ),
    ],
)
def test_malformed_answers_are_response_errors(
    webull: WebullSandbox, open_session: OpenSession, answer: SandboxResponse, problem: str
) -> None:
    webull.token_faults.append(answer)
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    with pytest.raises(ResponseError, match=problem) as caught:
        session.get(ACCOUNTS)
    assert "tok-secret-1" not in str(caught.value)
    assert session.binding.load() is None


def test_server_error_is_a_broker_error_without_the_token(
    webull: WebullSandbox, open_session: OpenSession
) -> None:
    webull.token_faults.extend([
        SandboxResponse.json({"token": "tok-canary-77", "status": "PENDING", "expires_at": 0}),
        SandboxResponse.json(
            {"error_code": "INTERNAL_ERROR", "message": "token tok-canary-77 lookup failed"},
            status=500,
        ),
    ])
    session = open_session(webull, interaction=SmsUser(webull, enter_at=None), two_factor="on")
    with pytest.raises(BrokerError) as caught:
        session.get(ACCOUNTS)
    assert caught.value.code == "INTERNAL_ERROR"
    assert caught.value.status == 500
    assert "tok-canary-77" not in str(caught.value)
    assert "token *** lookup failed" in str(caught.value)


def test_sdk_2x_numeric_statuses_are_understood(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock
) -> None:
    """A NORMAL given as 1 (SDK 2.x) with ``expires`` in epoch ms."""
    webull.two_factor_required = False
    expires = int((manual_clock.now() + timedelta(days=15)).timestamp() * 1000)
    webull.token_faults.append(
        SandboxResponse.json({"token": "numeric-token", "status": 1, "expires": expires})
    )
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    assert session.get(ACCOUNTS).ok
    token = session.tokens.peek()
    assert token is not None
    assert token.access_token == "numeric-token"
    assert token.expires_at == manual_clock.now() + timedelta(days=15)


# -- importing the official SDK's token.txt ---------------------------------------------------
def sdk_file(folder: Path, token: str, expires_ms: int, status: str = "NORMAL") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "token.txt"
    path.write_text(f"{token}\n{expires_ms}\n{status}\n", encoding="utf-8")
    return path


def verified_token(webull: WebullSandbox, open_session: OpenSession) -> Token:
    """A NORMAL token made by "another tool" (a session on another profile)."""
    other = login(open_session, webull, name="other-tool")
    token = other.tokens.peek()
    assert token is not None
    return token


def test_imports_a_normal_sdk_token_after_checking_it(
    webull: WebullSandbox, open_session: OpenSession, tmp_path: Path
) -> None:
    made = verified_token(webull, open_session)
    assert made.expires_at is not None
    path = sdk_file(tmp_path / "conf", made.access_token, int(made.expires_at.timestamp() * 1000))
    before = path.read_bytes()
    checks = webull.count("POST", CHECK)

    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on",
                           import_sdk_token=True, sdk_token_dir=str(tmp_path / "conf"))
    assert session.get(ACCOUNTS).ok

    token = session.tokens.peek()
    assert token is not None
    assert token.access_token == made.access_token
    assert token.extra["verified_by"] == "webull-sdk"
    assert webull.tokens_created == 1
    assert webull.count("POST", CHECK) == checks + 1
    assert path.read_bytes() == before


@pytest.mark.parametrize("status", ["NORMAL", "PENDING"])
def test_an_unusable_sdk_token_is_not_imported(
    webull: WebullSandbox, open_session: OpenSession, tmp_path: Path, status: str,
    manual_clock: ManualClock,
) -> None:
    expires = int((manual_clock.now() + timedelta(days=3)).timestamp() * 1000)
    sdk_file(tmp_path, "f" * 32, expires, status)
    session = open_session(webull, interaction=SmsUser(webull), two_factor="on",
                           import_sdk_token=True, sdk_token_dir=str(tmp_path))
    assert session.get(ACCOUNTS).ok
    token = session.tokens.peek()
    assert token is not None
    assert token.access_token != "f" * 32
    assert token.extra["verified_by"] == "sms"
    assert webull.tokens_created == 1
    # A NORMAL file is asked about once; a PENDING one is not worth a request.
    first_path = webull.token_requests[0][1]
    assert first_path == (CHECK if status == "NORMAL" else CREATE)


def test_a_damaged_sdk_token_file_is_reported_and_skipped(
    webull: WebullSandbox, open_session: OpenSession, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "token.txt").write_text("secret-looking-line\nnot a number\n", encoding="utf-8")
    session = open_session(webull, interaction=SmsUser(webull), two_factor="on",
                           import_sdk_token=True, sdk_token_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="brokerauth.webull"):
        assert session.get(ACCOUNTS).ok
    assert "not importing the Webull SDK's token" in caplog.text
    assert "secret-looking-line" not in caplog.text


# -- secrets stay secret --------------------------------------------------------------------
def test_no_token_or_secret_in_logs_messages_or_errors(
    webull: WebullSandbox, open_session: OpenSession, manual_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    user = SmsUser(webull, enter_at=2)
    session = open_session(webull, interaction=user, two_factor="on")
    assert session.get(ACCOUNTS).ok
    token = session.tokens.peek()
    assert token is not None
    manual_clock.advance(15 * DAY + 1)
    errors: list[str] = []
    later = open_session(webull, interaction=NobodyThere(webull), two_factor="on")
    with pytest.raises(LoginRequiredError) as caught:
        later.get(ACCOUNTS)
    errors.append(str(caught.value))
    expired = open_session(webull, interaction=SmsUser(webull, enter_at=None), two_factor="on",
                           name="wb2")
    with pytest.raises(VerificationTimeoutError) as timed_out:
        expired.get(ACCOUNTS)
    errors.append(str(timed_out.value))

    seen = "\n".join([caplog.text, user.shown(), *errors, repr(token), repr(session)])
    for secret in (token.access_token, webull.app_secret):
        assert secret not in seen
    for record in caplog.records:
        assert token.access_token not in record.getMessage()
