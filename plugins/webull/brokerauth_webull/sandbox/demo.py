"""Webull OpenAPI's walkthrough for ``brokerauth demo``: HMAC signing, then the 2FA token from
PENDING to NORMAL, a signed account call, and the token reused by a second session."""

from __future__ import annotations

import stat
from datetime import datetime
from typing import Any

from brokerauth.builtin.filestore import token_path
from brokerauth.contract.wire import Request
from brokerauth_sandbox.scenario import DemoContext, DemoScenario, DemoStep

from brokerauth_webull.endpoints import ACCOUNT_LIST


class _PersonWithPhone:
    """Plays the user: reads what the flow says, and types the SMS code into the Webull App
    (the sandbox) at the first status update, as a person would after a few seconds."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.shown: list[str] = []

    def say(self, message: str) -> None:
        self.shown.append(message)

    def open_url(self, url: str) -> None:
        self.shown.append(url)

    def waiting(self, message: str, *, deadline: datetime | None = None) -> _Waiting:
        self.shown.append(message)
        return _Waiting(self)


class _Waiting:
    def __init__(self, person: _PersonWithPhone) -> None:
        self.person = person

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        self.person.shown.append(status)
        if "PENDING" in status:
            self.person.sandbox.enter_sms_code()

    def __enter__(self) -> _Waiting:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _sign(ctx: DemoContext) -> str:
    ctx.sandbox.two_factor_required = True
    binding = ctx.session(two_factor="on").binding
    request = Request.from_url("GET", ctx.sandbox.base_url + ACCOUNT_LIST)
    headers = binding.sign(request, None).headers
    return (f"{headers['x-signature-algorithm']} over path, query, host and x- headers: "
            f"x-signature {headers['x-signature']}")


def _login(ctx: DemoContext) -> str:
    person = _PersonWithPhone(ctx.sandbox)
    session = ctx.session(two_factor="on", interaction=person)
    token = session.login()
    assert token is not None
    ctx.state["session"] = session
    ctx.state["token"] = token
    said = next((m for m in person.shown if "Webull App" in m), person.shown[0])
    path = token_path(session.binding.key, session.binding.resolved.store.options)
    mode = stat.S_IMODE(path.stat().st_mode)
    return (f"token created PENDING; the user was told: {said!r}; "
            f"code entered -> {token.extra.get('status', '?')}; stored in {path.name}, "
            f"mode {mode:04o}")


def _call(ctx: DemoContext) -> str:
    response = ctx.state["session"].get(ACCOUNT_LIST).raise_for_status()
    return f"GET {ACCOUNT_LIST} with x-access-token -> HTTP {response.status}"


def _reuse(ctx: DemoContext) -> str:
    created = ctx.sandbox.tokens_created
    second = ctx.session(two_factor="on", interaction=_PersonWithPhone(ctx.sandbox))
    response = second.get(ACCOUNT_LIST).raise_for_status()
    assert ctx.sandbox.tokens_created == created, "a second token was created"
    return (f"a new session read the stored token: HTTP {response.status}, "
            f"tokens created still {created}")


def scenario() -> DemoScenario:
    return DemoScenario(
        "Webull OpenAPI: HMAC signing and the 2FA token",
        (
            DemoStep("sign a request (HMAC-SHA256)", _sign),
            DemoStep("2FA: create -> PENDING -> SMS code -> NORMAL", _login),
            DemoStep("signed account call with the token", _call),
            DemoStep("token reused, none created", _reuse),
        ),
    )
