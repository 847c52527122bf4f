"""brokerauth as a ``requests.auth.AuthBase``."""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase

from brokerauth.adapters.signer import AdapterCore


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    raise TypeError("brokerauth signs the exact body bytes: streamed bodies cannot be signed")


class BrokerAuthRequests(AuthBase):
    def __init__(self, profile: Any, **session_options: Any) -> None:
        self.core = AdapterCore(profile, **session_options)

    def _sign(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.method is not None
        assert request.url is not None
        headers, token = self.core.sign(request.method, request.url, {},
                                        _body_bytes(request.body))
        request.headers.update(headers)
        # The token used is remembered on the request so a 401 refreshes that generation.
        request._brokerauth_token = token  # type: ignore[attr-defined]
        return request

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # types-requests leaves register_hook unannotated.
        request.register_hook("response", self._maybe_resend)  # type: ignore[no-untyped-call]
        return self._sign(request)

    def _maybe_resend(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        assert request.method is not None
        assert request.url is not None
        token = getattr(request, "_brokerauth_token", None)
        retried = getattr(request, "_brokerauth_retried", False)
        if not self.core.retry_after(request.method, request.url, response.status_code,
                                     response.headers, response.content, token,
                                     already_retried=retried):
            return response
        again = request.copy()
        again._brokerauth_retried = True  # type: ignore[attr-defined]
        self._sign(again)
        response.close()
        assert response.connection is not None
        resent: requests.Response = response.connection.send(again, **kwargs)
        resent.history.append(response)
        resent.request = again
        return resent
