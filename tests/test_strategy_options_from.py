"""``StrategySpec.options_from``: options a profile leaves out, derived from its broker
settings.  The profile's own options win, and a plugin's mistake there is named as the
plugin's, never as a key the user wrote."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest
from brokerauth.contract.errors import PluginError
from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import PluginInfo, StrategySpec
from brokerauth.engine.api import open_binding
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit.secrets import Secret
from fake_entry_points import FakeEntryPoint
from test_store_listing import Unlistable


@attrs.frozen
class VaultOptions:
    folder: str | None = None
    shelf: str = "top"


class Vault(Unlistable):
    """A store plugin whose store derives options from the profile's settings."""

    def __init__(self, derive: Callable[[Any], Mapping[str, Any]]) -> None:
        self.derive = derive

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(strategies=(StrategySpec(
            "store", "vault", "keeps tokens", options=VaultOptions, options_from=self.derive),))


def bind(derive: Callable[[Any], Mapping[str, Any]], store: Any = "vault") -> Any:
    from doubles import plugin as double

    host = PluginHost.create([FakeEntryPoint("double", double),
                              FakeEntryPoint("vaultplug", Vault(derive))])
    profile = Profile.from_mapping("p", {
        "broker": "double", "client_id": "c", "client_secret": Secret.from_value("s"),
        "store": store,
    })
    return open_binding(profile, host=host, interactive=False)


def test_derived_options_fill_in_and_the_profiles_own_win() -> None:
    derive = lambda settings: {"folder": f"/from/{settings.client_id}", "shelf": None}  # noqa: E731
    assert bind(derive).resolved.store.options == VaultOptions(folder="/from/c")
    own = bind(derive, {"name": "vault", "folder": "/mine"}).resolved.store.options
    assert own == VaultOptions(folder="/mine")


@pytest.mark.parametrize(("derive", "says"), [
    (lambda settings: settings.no_such_setting,
     "failed to derive its options from the profile's settings (AttributeError)"),
    (lambda settings: {"bogus": 1}, "derives options it does not have (bogus)"),
])
def test_a_plugins_mistake_is_the_plugins_error(
    derive: Callable[[Any], Mapping[str, Any]], says: str
) -> None:
    with pytest.raises(PluginError) as caught:
        bind(derive)
    assert "plugin 'vaultplug'" in caught.value.message
    assert says in caught.value.message
