"""``brokerauth demo acme``: every step of the walkthrough passes against the sandbox, and
nothing is left in the user's token store."""

from __future__ import annotations

import io
from pathlib import Path

from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.demo import run_demo


def test_demo_walkthrough_passes_and_leaves_nothing(token_home: Path) -> None:
    stream = io.StringIO()
    results = run_demo(PluginHost.create(), brokers=["acme"], stream=stream)
    assert [r.ok for r in results] == [True] * 4, stream.getvalue()
    assert not token_home.exists() or list(token_home.iterdir()) == []
