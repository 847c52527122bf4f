"""The part both adapters share: the one auth flow, for a request another library sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokerauth.contract.wire import Request, Response
from brokerauth.engine.api import session as open_session
from brokerauth.engine.authflow import Attempt, Flow, Policy, auth_flow, resign
from brokerauth.engine.sessions import Session


class AdapterCore:
    """A brokerauth session used for its binding and token manager only: the HTTP is sent by
    the foreign library, which drives the flow."""

    def __init__(self, profile: Any, *, follow_redirects: bool, **session_options: Any) -> None:
        from brokerauth.toolkit.logs import quiet_http_logs

        self.session: Session = open_session(profile, **session_options)
        quiet_http_logs()  # the foreign library logs each URL, query and all
        self.policy = Policy(follow_redirects=follow_redirects)

    def start(self, method: str, url: str, body: bytes | None) -> tuple[Flow, Attempt]:
        """The flow for a foreign request, and its first attempt (signed, origin checked)."""
        request = Request.from_url(method, url, body=body)
        flow = auth_flow(self.session.binding, request, self.policy,
                         tokens=self.session.tokens)
        return flow, next(flow)

    @staticmethod
    def answer(attempt: Attempt, status: int, headers: Mapping[str, str],
               content: bytes) -> Response:
        """A foreign answer to ``attempt``, for the flow to judge."""
        return Response(status, headers, content, attempt.request, attempt.signature)

    def resign(self, attempt: Attempt, method: str, url: str, body: bytes | None) -> Attempt:
        """``attempt`` after the foreign library followed a redirect to ``method url``."""
        return resign(self.session.binding, attempt, method, url, body)
