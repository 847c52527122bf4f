"""Helpers shared by the Webull plugin's tests (a uniquely named module: test folders of
several plugins share one import namespace)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3
from brokerauth.contract.wire import Request
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull import signing
from brokerauth_webull.sandbox.server import WebullSandbox

VECTORS_FILE = Path(__file__).with_name("webull_signing_vectors.json")
# Canary credentials: any test that finds them in a body, a log or a repr has found a leak.
CANARY_SECRET = "canary-app-secret-Zq7Xk2"
CANARY_KEY = "canary-app-key-0001"


def load_vectors() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return cases


def timestamp(when: datetime) -> str:
    return when.strftime(signing.TIMESTAMP_FORMAT)


class Client:
    """Signs with the plugin's signer and sends over real HTTP with urllib3."""

    def __init__(self, sandbox: WebullSandbox, http: urllib3.PoolManager, clock: ManualClock):
        self.sandbox = sandbox
        self.http = http
        self.clock = clock

    def build(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        body: bytes | None = None,
        token: str | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        algorithm: str = "HMAC-SHA256",
        when: datetime | None = None,
        nonce: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Request, dict[str, str]]:
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
        request = Request.from_url(method, self.sandbox.base_url + path, params=params, body=body)
        signed = signing.signature_headers(
            request,
            app_key or self.sandbox.app_key,
            app_secret or self.sandbox.app_secret,
            timestamp(when or self.clock.now()),
            nonce or str(uuid.uuid4()),
            algorithm,
            token,
        )
        all_headers = {**signed, **(headers or {})}
        if body is not None:
            all_headers["content-type"] = "application/json"
        return request, all_headers

    def send(self, request: Request, headers: Mapping[str, str]) -> urllib3.BaseHTTPResponse:
        return self.http.request(
            request.method, request.url, body=request.body, headers=dict(headers), redirect=False
        )

    def call(self, method: str, path: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        return self.send(*self.build(method, path, **kwargs))

    # The 2FA token endpoints, v3 by default.
    def create(self, old: str | None = None, api: str = "v3") -> urllib3.BaseHTTPResponse:
        path = "/auth/tokens/create" if api == "v3" else "/openapi/auth/token/create"
        body = {} if old is None else {"token": old}
        return self.call("POST", path, json_body=body, headers={"x-version": api})

    def check(self, token: str, api: str = "v3") -> urllib3.BaseHTTPResponse:
        path = "/auth/tokens/check" if api == "v3" else "/openapi/auth/token/check"
        return self.call("POST", path, json_body={"token": token}, headers={"x-version": api})


class _SmsWaiting:
    def __init__(self, user: SmsUser) -> None:
        self.user = user

    def __enter__(self) -> _SmsWaiting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.user.closed += 1

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        user = self.user
        user.updates.append((status, deadline))
        if user.enter_at is not None and len(user.updates) == user.enter_at:
            user.sandbox.enter_sms_code()


class SmsUser:
    """An :class:`~brokerauth.contract.interaction.Interaction` playing the person with the phone:
    it keeps every message it is shown and "enters the SMS code" in the sandbox at its
    ``enter_at``-th status update (never, with ``None``)."""

    def __init__(self, sandbox: WebullSandbox, enter_at: int | None = 2) -> None:
        self.sandbox = sandbox
        self.enter_at = enter_at
        self.said: list[str] = []
        self.waits: list[tuple[str, datetime | None]] = []
        self.updates: list[tuple[str, datetime | None]] = []
        self.closed = 0

    def say(self, message: str) -> None:
        self.said.append(message)

    def open_url(self, url: str) -> None:
        raise AssertionError("the Webull 2FA flow has no URL to open")

    def waiting(self, message: str, *, deadline: datetime | None = None) -> _SmsWaiting:
        self.waits.append((message, deadline))
        return _SmsWaiting(self)

    def shown(self) -> str:
        """Everything the user was shown, as one text."""
        lines = self.said + [m for m, _ in self.waits] + [s for s, _ in self.updates]
        return "\n".join(lines)


class NobodyThere(SmsUser):
    """An interaction that must not be used: a flow that needs the person fails the test."""

    def __init__(self, sandbox: WebullSandbox) -> None:
        super().__init__(sandbox, enter_at=None)

    def say(self, message: str) -> None:
        raise AssertionError(f"nobody is there to read: {message}")

    def waiting(self, message: str, *, deadline: datetime | None = None) -> _SmsWaiting:
        raise AssertionError(f"nobody is there to wait: {message}")
