"""``brokerauth demo futu``: every step passes, and nothing is left in the user's folders."""

from __future__ import annotations

import io
from pathlib import Path

from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.demo import run_demo


def test_demo_walkthrough_passes_and_leaves_nothing(futu_tokens: Path, tmp_path: Path) -> None:
    stream = io.StringIO()
    results = run_demo(PluginHost.create(), brokers=["futu"], stream=stream)
    assert results, stream.getvalue()
    assert all(r.ok for r in results), stream.getvalue()
    assert len(results) == 8
    # The sandbox's profiles kept their files in the sandbox's own folder, now removed.
    assert not futu_tokens.exists()
    assert list((tmp_path / "home").iterdir()) == []
