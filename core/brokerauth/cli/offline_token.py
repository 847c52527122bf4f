"""The token a profile's flow would hand a request when none is stored, found offline: what
``brokerauth status`` reports and ``brokerauth sign`` signs with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from brokerauth.contract.errors import LoginRequiredError
    from brokerauth.contract.interaction import Waiting
    from brokerauth.contract.tokens import Token
    from brokerauth.contract.wire import Response
    from brokerauth.engine.binding import ProfileBinding


def flow_token(binding: ProfileBinding) -> Token | None:
    """The token the profile's flow would hand a request when none is stored, found without
    sending anything or asking anyone (a token configured in the profile); ``None`` when the
    flow uses no token. Never stored: looking leaves the store as it was.

    An empty store is not the whole answer: a flow may hand out a token it never needed to
    store before (a configured API key's), or none at all (an account without 2FA), and a
    command that says what a request carries must agree with what the request does.

    :raises ~brokerauth.contract.errors.LoginRequiredError: the token takes a login: the flow
        needs a person, or must ask the broker.
    """
    import attrs

    offline = _Offline(binding)
    context = attrs.evolve(binding.flow_context(None), http=offline, interaction=offline)
    flow = binding.resolved.flow
    return binding.host.acquire_token(flow.name, context, owner=flow.owner)


class _Offline:
    """A flow's HTTP client and person that are not there: an offline command must neither
    reach the broker (nor spend its token-request budget) nor start a login to find out what
    a login would give."""

    present = False

    def __init__(self, binding: ProfileBinding) -> None:
        self._label = binding.label
        self._hint = f"run `{binding.login_command}`"

    def error(self) -> LoginRequiredError:
        from brokerauth.contract.errors import LoginRequiredError

        return LoginRequiredError(
            f"{self._label}: no token is stored, and getting one takes a login",
            hint=self._hint,
        )

    def say(self, message: str) -> None:
        pass  # nothing is being logged in: there is nothing for anyone to act on

    def open_url(self, url: str) -> None:
        raise self.error()

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Waiting:
        raise self.error()

    def request(self, *args: Any, **kwargs: Any) -> Response:
        raise self.error()
