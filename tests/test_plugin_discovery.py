"""How the host finds plugins: built-ins in code, entry points for the rest, a clash refused
loudly, and errors that suggest what is installed rather than a package name made up."""

from __future__ import annotations

import attrs
import pytest
from brokerauth import hookimpl
from brokerauth.contract.errors import PluginError, PluginLoadError
from brokerauth.contract.specs import BrokerSpec, PluginInfo
from brokerauth.engine.pluginhost import KNOWN_DISTRIBUTIONS, PluginHost
from fake_entry_points import FakeDistribution as Dist
from fake_entry_points import FakeEntryPoint as Entry


@attrs.frozen
class Settings:
    api_base_url: str = "https://api.example.com"


class Broker:
    def __init__(self, broker_id: str) -> None:
        self.broker_id = broker_id

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(brokers=(BrokerSpec(id=self.broker_id, settings=Settings,
                                              signer="bearer", flow="none"),))


def test_the_built_ins_need_no_entry_point() -> None:
    host = PluginHost.create([])
    assert host.available == ["builtin", "builtin.webhook"]
    assert host.strategy("signer", "bearer")[1] == "builtin"
    # The notifier is imported only for a profile that names one.
    assert list(host.loaded) == ["builtin"]
    assert host.strategy("notifier", "webhook")[1] == "builtin.webhook"
    host.load_all()
    assert list(host.loaded) == ["builtin", "builtin.webhook"]
    assert host.failures == {}


def test_two_distributions_with_one_plugin_name_load_neither_and_name_both() -> None:
    host = PluginHost.create([
        Entry("twin", Broker("twin"), Dist("brokerauth-twin"), "twin_a:plugin"),
        Entry("twin", Broker("twin"), Dist("evil-twin"), "twin_b:plugin"),
    ])
    with pytest.raises(PluginLoadError) as caught:
        host.broker("twin")
    assert "brokerauth-twin" in str(caught.value) and "evil-twin" in str(caught.value)
    host.load_all()
    assert "twin" in host.failures and "twin" not in host.loaded


def test_the_same_distribution_found_twice_on_the_path_is_one_plugin() -> None:
    """An editable install next to a path entry lists one distribution twice: no clash."""
    plugin = Broker("dup")
    host = PluginHost.create([
        Entry("dup", plugin, Dist("brokerauth-dup")),
        Entry("dup", plugin, Dist("brokerauth-dup")),
    ])
    assert host.broker("dup")[1] == "dup"


def test_no_entry_point_may_take_the_built_ins_name() -> None:
    host = PluginHost.create([Entry("builtin", Broker("sly"), Dist("sly-dist"))])
    assert host.strategy("store", "file")[1] == "builtin"
    assert host.loaded["builtin"].distribution == "brokerauth"
    (failure,) = host.failures.values()
    assert "sly-dist" in str(failure.error) and "brokerauth's own" in str(failure.error)


def test_a_typo_gets_did_you_mean_and_no_made_up_package() -> None:
    host = PluginHost.create([Entry("acmecorp", Broker("acmecorp"), Dist("x"))])
    with pytest.raises(PluginError) as caught:
        host.broker("acmecorq")
    assert "did you mean 'acmecorp'?" in caught.value.message
    assert "acmecorq" not in (caught.value.hint or "")
    assert "pip install" not in (caught.value.hint or "")


@pytest.mark.parametrize("broker", sorted(KNOWN_DISTRIBUTIONS))
def test_a_published_plugin_that_is_missing_gets_its_real_name(broker: str) -> None:
    with pytest.raises(PluginError) as caught:
        PluginHost.create([]).broker(broker)
    assert caught.value.hint == f"pip install {KNOWN_DISTRIBUTIONS[broker]}"
