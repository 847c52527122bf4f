"""The Webull walkthrough of ``brokerauth demo`` passes every step."""

from __future__ import annotations

import io

from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.demo import run_demo


def test_webull_demo_walks_2fa_from_pending_to_normal_and_reuses_the_token() -> None:
    stream = io.StringIO()
    results = run_demo(PluginHost.create(), brokers=["webull"], stream=stream)
    assert [r.ok for r in results] == [True] * 4, stream.getvalue()
    text = stream.getvalue()
    assert "OpenAPI Notifications" in text
    assert "mode 0600" in text
    assert "tokens created still 1" in text
