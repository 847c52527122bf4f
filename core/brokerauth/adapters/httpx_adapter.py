"""brokerauth as an ``httpx.Auth`` for sync and async clients.

Obtaining or refreshing a token is blocking I/O (the token manager's locks and store); the
async flow runs it in a worker thread so the event loop never blocks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

import anyio.to_thread
import httpx

from brokerauth.adapters.signer import AdapterCore
from brokerauth.tokens import Token


class BrokerAuthHttpx(httpx.Auth):
    def __init__(self, profile: Any, **session_options: Any) -> None:
        self.core = AdapterCore(profile, **session_options)

    def _apply(self, request: httpx.Request) -> Token | None:
        headers, token = self.core.sign(request.method, str(request.url), {}, request.content)
        request.headers.update(headers)
        return token

    def _again(self, request: httpx.Request, response: httpx.Response, token: Token | None,
               retried: bool) -> bool:
        return self.core.retry_after(request.method, str(request.url), response.status_code,
                                     response.headers, response.content, token,
                                     already_retried=retried)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._apply(request)
        response = yield request
        if not response.is_success:
            response.read()
        if not response.is_success and self._again(request, response, token, False):
            self._apply(request)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await anyio.to_thread.run_sync(self._apply, request)
        response = yield request
        if response.is_success:
            return
        await response.aread()
        if await anyio.to_thread.run_sync(self._again, request, response, token, False):
            await anyio.to_thread.run_sync(self._apply, request)
            yield request
