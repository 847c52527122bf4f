"""What a token flow is given to work with: its settings, a clock, an HTTP client that signs
with the profile's signer, and a way to talk to the user."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import attrs

from brokerauth.contract.clock import Clock
from brokerauth.contract.interaction import Interaction
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Response


class HttpClient(Protocol):
    """Sends one request and returns the whole answer (status not checked).

    ``url`` is absolute or a path resolved against the profile's ``api_base_url``.  With
    ``sign=True`` the profile's signer signs it, attaching ``token`` when given.  Bodies larger
    than the client's limit raise :class:`~brokerauth.contract.errors.ResponseError`; connection
    failures raise :class:`~brokerauth.contract.errors.TransportError`.  Nothing is retried.
    """

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        sign: bool = True,
        token: Token | None = None,
        timeout: float | None = None,
    ) -> Response: ...


@attrs.frozen
class FlowContext:
    """Passed to ``acquire_token`` and ``refresh_token``."""

    profile: str
    broker: str
    identity: str
    settings: Any
    options: Any
    clock: Clock
    http: HttpClient
    interaction: Interaction
    #: The token currently stored for this profile and identity, if any.
    stored: Token | None = None
    #: What a person runs to log this profile and identity in again, for a flow's hints
    #: (``--user`` included for an identity other than the profile's own).
    login_command: str = attrs.field(
        default=attrs.Factory(lambda self: _login_command(self.profile, self.identity),
                              takes_self=True),
    )


def _login_command(profile: str, identity: str) -> str:
    from brokerauth.contract.commands import command
    from brokerauth.contract.tokens import DEFAULT_IDENTITY

    return command("login", profile, None if identity == DEFAULT_IDENTITY else identity)
