"""What a broker's demo walkthrough is made of: steps, each run with a :class:`DemoContext`
(see :mod:`brokerauth_sandbox.demo` for the runner)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from brokerauth_sandbox.clock import ManualClock

if TYPE_CHECKING:
    from brokerauth.contract.interaction import Interaction
    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import Profile
    from brokerauth.engine.sessions import Session

    from brokerauth_sandbox.server import HeadlessBrowser


@attrs.frozen
class DemoStep:
    title: str
    run: Callable[[DemoContext], str]


@attrs.frozen
class DemoScenario:
    title: str
    steps: tuple[DemoStep, ...]


@attrs.define
class DemoContext:
    """What a step works with."""

    broker: str
    sandbox: Any
    clock: ManualClock
    host: PluginHost
    home: Path
    interaction: HeadlessBrowser
    #: Values steps hand to later steps (a session, a token...).
    state: dict[str, Any] = attrs.field(factory=dict)

    def profile(self, name: str, **keys: Any) -> Profile:
        from brokerauth.engine.profiles import Profile

        return Profile.from_mapping(
            name, {"broker": self.broker, **self.sandbox.profile_settings(), **keys}
        )

    def session(self, profile: Profile | None = None, *, user: str | None = None,
                interaction: Interaction | None = None, **keys: Any) -> Session:
        """A session on ``profile`` (default: the sandbox's profile with ``keys`` added),
        sharing the demo's clock and plugins, and its interaction unless one is given."""
        from brokerauth.engine.api import session

        if profile is None:
            profile = self.profile(f"{self.broker}-demo", **keys)
        return session(profile, user=user, clock=self.clock,
                       interaction=interaction or self.interaction, host=self.host)
