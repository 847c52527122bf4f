"""``brokerauth demo webull_connect``: the walkthrough runs against the sandbox and passes."""

from __future__ import annotations

import io
from typing import Any

from brokerauth_sandbox.demo import run_demo


def test_demo_walkthrough_passes(plugin_host: Any, token_home: Any) -> None:
    stream = io.StringIO()
    results = run_demo(plugin_host, brokers=["webull_connect"], stream=stream)
    assert [r.ok for r in results] == [True] * 6, stream.getvalue()
    assert "rotated: True" in stream.getvalue()
    assert "authorize again" in stream.getvalue()
