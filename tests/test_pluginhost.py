"""Plugin discovery and loading: lazy, loud on mistakes, resilient to broken plugins."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from brokerauth.contract.errors import PluginError, PluginLoadError
from brokerauth.contract.wire import Request
from brokerauth.engine.pluginhost import PluginHost


def host_with(**extra: str) -> PluginHost:
    installed = [
        ep for ep in importlib.metadata.entry_points(group="brokerauth") if ep.name not in extra
    ]
    fakes = [importlib.metadata.EntryPoint(name, value, "brokerauth")
             for name, value in extra.items()]
    return PluginHost.create(installed + fakes)


def test_entry_points_are_found_and_builtin_registers_like_any_plugin() -> None:
    host = PluginHost.create()
    assert {"builtin", "double"} <= set(host.available)
    assert host.loaded == {}
    _, owner = host.strategy("store", "file")
    assert owner == "builtin"
    assert host.loaded["builtin"].distribution == "brokerauth"


def test_only_the_profiles_plugins_are_imported() -> None:
    # Every other plugin stays a module nobody imported: the installed ones, and a bystander
    # so that there is one even where the test double is the only plugin installed.
    code = textwrap.dedent("""
        import importlib.metadata, sys
        from brokerauth.engine import entrypoints
        from brokerauth.engine.pluginhost import PluginHost
        bystander = importlib.metadata.EntryPoint("bystander", "fake_plugins:Webull", "brokerauth")
        found = [*entrypoints.entry_points("brokerauth"), bystander]
        host = PluginHost.create(found)
        host.broker("double")
        others = {ep.value.partition(":")[0] for ep in found if ep.name != "double"}
        print(sorted(host.loaded), sorted(name for name in others if name in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['builtin', 'double'] []"


@pytest.mark.parametrize("plugin", ["Misspelled", "WrongArgument"])
def test_a_misspelled_hook_fails_loudly(plugin: str) -> None:
    host = host_with(bad=f"fake_plugins:{plugin}")
    with pytest.raises(PluginLoadError) as info:
        host.load("bad")
    assert "bad" in str(info.value)
    assert info.value.__cause__ is not None


def test_a_strategy_without_its_hooks_is_refused() -> None:
    host = host_with(half="fake_plugins:DeclaresWithoutImplementing")
    with pytest.raises(PluginLoadError, match="does not implement the load_token hook"):
        host.load("half")


def test_a_duplicate_strategy_name_is_refused() -> None:
    host = host_with(dup="fake_plugins:Duplicate")
    host.load("double")
    with pytest.raises(PluginLoadError, match="declared by both 'double' and 'dup'"):
        host.load("dup")


def test_a_broken_plugin_keeps_its_traceback_and_spares_the_others() -> None:
    host = host_with(broken="fake_broken_import")
    with pytest.raises(PluginLoadError) as info:
        host.load("broken")
    assert isinstance(info.value.__cause__, ImportError)
    assert "needs a library that is not installed" in str(info.value)
    assert "pip uninstall" in str(info.value)
    host.load_all()
    assert "double" in host.loaded
    assert "broken" in host.failures
    _, owner = host.broker("double")
    assert owner == "double"


def test_unknown_strategy_mentions_plugins_that_failed() -> None:
    host = host_with(broken="fake_broken_import")
    with pytest.raises(PluginError, match="failed to load: broken"):
        host.strategy("signer", "nope")


def test_an_exception_inside_a_plugin_names_the_plugin() -> None:
    host = host_with(exploding="fake_plugins:Exploding")
    host.load("exploding")
    request = Request.from_url("GET", "http://127.0.0.1/")
    with pytest.raises(PluginError, match="plugin 'exploding' failed in sign_request") as info:
        host.sign_request("boom", request, None, None, None, "n", owner="exploding")  # type: ignore[arg-type]
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_missing_known_plugin_names_its_distribution() -> None:
    host = PluginHost.create([])
    with pytest.raises(PluginError) as caught:
        host.broker("webull")
    assert caught.value.hint == "pip install brokerauth-webull"


def test_an_unknown_broker_gets_no_package_name_made_from_the_typo() -> None:
    """``broker = "webul"`` must not advise ``pip install brokerauth-webul``: a package
    nobody publishes, and a name a typosquatter would register."""
    host = host_with(webull="fake_plugins:Webull")
    with pytest.raises(PluginError) as caught:
        host.broker("webul")
    assert "did you mean 'webull'" in caught.value.message
    assert "pip install" not in (caught.value.hint or "")
    assert "webul-" not in (caught.value.hint or "") and "brokerauth-webul" not in str(caught.value)


def test_core_imports_and_lists_plugins_with_no_broker_plugin(tmp_path: Path) -> None:
    """The core alone: a host over only the core's own entry points works."""
    host = PluginHost.create([])
    host.load_all()
    assert list(host.loaded) == ["builtin", "builtin.webhook"]
    assert host.brokers == {}
