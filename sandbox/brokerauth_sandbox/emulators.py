"""Brokers' emulators: the shape the test bench expects of one, and where each is found.

A broker plugin ships its emulator and demo walkthrough in its own ``sandbox`` subpackage and
names it in the entry-point group ``brokerauth.sandbox`` under the broker id::

    [project.entry-points."brokerauth.sandbox"]
    acme = "brokerauth_acme.sandbox"

The object named there is a :class:`SandboxProvider`: usually an :class:`Emulator` naming the
emulator's class, the demo's function and, optionally, a function declaring the emulator's own
command-line options (``brokerauth sandbox acme --slow``), imported only when asked for.
The core never reads this group: only the test bench (fixtures, ``brokerauth sandbox``,
``brokerauth demo``) does, so an installed plugin never starts or imports a server by itself.
See :mod:`brokerauth_sandbox.server` for the toolkit emulators are built with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
from brokerauth.contract.errors import PluginError

if TYPE_CHECKING:
    import argparse

    from brokerauth.contract.clock import Clock
    from brokerauth.engine.entrypoints import EntryPointLike

    from brokerauth_sandbox.scenario import DemoScenario

GROUP = "brokerauth.sandbox"


@runtime_checkable
class Sandbox(Protocol):
    """A local emulator of a broker's server, listening on loopback once started.

    One may also have ``more_profiles() -> dict[str, dict[str, Any]]``: other profiles for
    it (another mode of the same broker), keyed by the suffix ``brokerauth sandbox`` adds to
    the profile name, their settings as :meth:`profile_settings` gives them."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def profile_settings(self) -> dict[str, Any]:
        """Broker settings that point a profile here; secrets as
        :meth:`~brokerauth.toolkit.secrets.Secret.from_value` objects, which only code may use."""
        ...


class SandboxProvider(Protocol):
    """What a ``brokerauth.sandbox`` entry point names (a module is fine).

    A provider may also have ``add_arguments(parser)``, adding the emulator's own options to
    an :class:`argparse.ArgumentParser`; ``brokerauth sandbox BROKER`` then takes them, and
    passes what it parsed to ``make_sandbox`` as keyword arguments named by each option's
    ``dest`` (see :func:`add_arguments`)."""

    def make_sandbox(self, clock: Clock, **options: Any) -> Sandbox:
        """Create, not start, the emulator; its tokens and signatures follow ``clock``;
        ``options`` are the values of the options its ``add_arguments`` declared."""
        ...

    def demo_scenario(self) -> DemoScenario | None:
        """The walkthrough ``brokerauth demo`` runs against the emulator, or ``None``."""
        ...


@attrs.frozen
class Emulator:
    """A :class:`SandboxProvider` from ``module:name`` references: the emulator's class (made
    with the clock and the parsed options as keywords), a function returning the demo's
    :class:`DemoScenario`, and a function adding the emulator's options to a parser."""

    server: str
    demo: str | None = None
    options: str | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        if self.options is not None:
            _named(self.options)(parser)

    def make_sandbox(self, clock: Clock, **options: Any) -> Sandbox:
        made: Sandbox = _named(self.server)(clock, **options)
        return made

    def demo_scenario(self) -> DemoScenario | None:
        if self.demo is None:
            return None
        scenario: DemoScenario = _named(self.demo)()
        return scenario


def _named(reference: str) -> Any:
    import importlib

    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def providers(entry_points: list[EntryPointLike] | None = None) -> dict[str, EntryPointLike]:
    """Installed emulators by broker id (not imported yet)."""
    if entry_points is None:
        from brokerauth.engine import entrypoints

        entry_points = list(entrypoints.entry_points(GROUP))
    found: dict[str, EntryPointLike] = {}
    for ep in entry_points:
        found.setdefault(ep.name, ep)
    return found


def provider(broker: str) -> SandboxProvider:
    """The emulator of ``broker``; :class:`PluginError` saying what to install when none is."""
    found = providers()
    ep = found.get(broker)
    if ep is None:
        raise PluginError(
            f"no sandbox is installed for broker {broker!r} "
            f"(sandboxes: {', '.join(sorted(found)) or 'none'})",
            hint="install the broker plugin with its [sandbox] extra, "
                 "e.g. pip install 'brokerauth-<broker>[sandbox]'",
        )
    loaded: SandboxProvider = ep.load()
    return loaded


def add_arguments(found: SandboxProvider, parser: argparse.ArgumentParser) -> None:
    """Add the options ``found`` declares for its emulator (none, if it declares none)."""
    declare = getattr(found, "add_arguments", None)
    if declare is not None:
        declare(parser)


def make_sandbox(broker: str, clock: Clock, **options: Any) -> Sandbox:
    """An unstarted emulator of ``broker`` on ``clock``, with its own ``options``."""
    return provider(broker).make_sandbox(clock, **options)


def env_prefix(broker: str) -> str:
    """The prefix of the variables ``brokerauth sandbox BROKER`` exports:
    ``BROKERAUTH_SANDBOX_<BROKER>_``, the broker's id in capitals, every character other than
    a letter or digit made ``_``.  One per broker, so that the sandboxes of two brokers run
    from one shell each keep their own credentials (one shared name would hand the second
    profile the first sandbox's key)."""
    import re

    return f"BROKERAUTH_SANDBOX_{re.sub(r'[^A-Z0-9]', '_', broker.upper())}_"


def profile_table(broker: str, settings: Mapping[str, Any],
                  prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A profile for an emulator's ``settings`` as a user writes one, and the environment it
    needs: each secret becomes ``{ env = "<prefix><KEY>" }``, its value in the environment."""
    from brokerauth.toolkit.secrets import Secret

    table: dict[str, Any] = {"broker": broker}
    env: dict[str, str] = {}
    for key, value in settings.items():
        if isinstance(value, Secret):
            name = f"{prefix}{key.upper()}"
            env[name] = value.reveal()
            table[key] = {"env": name}
        else:
            table[key] = value
    return table, env
