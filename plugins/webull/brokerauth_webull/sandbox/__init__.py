"""This broker's local emulator and the walkthrough `brokerauth demo` runs against it.

Needs ``brokerauth-sandbox`` (this distribution's ``[sandbox]`` extra); found through the
entry-point group ``brokerauth.sandbox``.  Importing the plugin itself never imports this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from brokerauth.contract.clock import Clock
    from brokerauth_sandbox.scenario import DemoScenario

    from brokerauth_webull.sandbox.server import WebullSandbox

__all__ = ["demo_scenario", "make_sandbox"]


def make_sandbox(clock: Clock) -> WebullSandbox:
    """An unstarted emulator whose tokens and signatures follow ``clock``."""
    from brokerauth_webull.sandbox.server import WebullSandbox

    return WebullSandbox(clock)


def demo_scenario() -> DemoScenario:
    from brokerauth_webull.sandbox.demo import scenario

    return scenario()
