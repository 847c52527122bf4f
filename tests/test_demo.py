"""brokerauth demo: runs each installed broker's walkthrough, reports, leaves nothing behind."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.demo import run_demo
from test_cli import run


def test_demo_runs_the_example_broker_and_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run("demo", "double", "--json", env={"BROKERAUTH_HOME": str(home)})
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert [s["title"] for s in data["steps"]][:2] == ["log in (client credentials)",
                                                       "signed call with the token"]
    assert list(home.iterdir()) == []


def test_human_output_has_steps_timings_and_summary() -> None:
    result = run("demo", "double")
    assert result.returncode == 0
    assert "[ok ] expiry -> refresh with rotation" in result.stdout
    assert " ms)" in result.stdout
    assert "Summary" in result.stdout
    assert "all steps passed" in result.stdout


def test_a_failing_step_fails_the_demo_and_skips_the_rest(monkeypatch: Any) -> None:
    import doubles.sandbox as double_demo

    def broken(ctx: Any) -> str:
        raise RuntimeError("the sandbox answered nonsense")

    monkeypatch.setattr(double_demo, "_call", broken)
    stream = io.StringIO()
    results = run_demo(PluginHost.create(), brokers=["double"], stream=stream)
    assert [r.ok for r in results] == [True, False, False, False]
    assert results[2].detail == "skipped"
    assert "FAIL" in stream.getvalue()
    assert "the sandbox answered nonsense" in stream.getvalue()


def test_unknown_broker_is_a_clear_error() -> None:
    result = run("demo", "nobroker")
    assert result.returncode == 2
    assert "no installed plugin provides broker 'nobroker'" in result.stderr
    assert "pip install" not in result.stderr
