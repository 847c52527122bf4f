"""The part both adapters share: sign a foreign request, and judge its answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokerauth.api import session as open_session
from brokerauth.sessions import Session
from brokerauth.tokens import Token
from brokerauth.verdicts import Outcome
from brokerauth.wire import Request, Response


class AdapterCore:
    """A brokerauth session used only for its binding and token manager: the HTTP is sent by
    the foreign library."""

    def __init__(self, profile: Any, **session_options: Any) -> None:
        self.session: Session = open_session(profile, **session_options)

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[dict[str, str], Token | None]:
        """The headers to add to the foreign request, and the token they carry."""
        binding = self.session.binding
        request = Request.from_url(method, url, headers=headers, body=body)
        token = self.session.tokens.current()
        return dict(binding.signature_headers(request, token)), token

    def retry_after(
        self, method: str, url: str, status: int, headers: Mapping[str, str], content: bytes,
        token: Token | None, *, already_retried: bool,
    ) -> bool:
        """Whether to re-sign and resend once: a token the broker rejected (after refreshing
        it), or a timestamp rejection whose offset was learned from ``Date``."""
        if already_retried or 200 <= status < 300:
            return False
        binding = self.session.binding
        response = Response(status, headers, content, Request.from_url(method, url))
        outcome = binding.interpret(response).outcome
        if outcome is Outcome.TOKEN_INVALID and token is not None:
            self.session.tokens.invalidate(token)
            return True
        return outcome is Outcome.CLOCK_SKEW and binding.learn_skew(response)
