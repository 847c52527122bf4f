"""Plugins with defects (and one without), loaded through fake entry points by
test_pluginhost."""

from __future__ import annotations

import attrs
from brokerauth import hookimpl
from brokerauth.contract.specs import BrokerSpec, PluginInfo, StrategySpec


class Misspelled:
    @hookimpl
    def sign_requests(self, signer: str) -> None:  # no such hook
        return None


class WrongArgument:
    @hookimpl
    def sign_request(self, signer: str, requets: object) -> None:  # misspelled argument
        return None


class DeclaresWithoutImplementing:
    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(strategies=(StrategySpec("store", "half"),))


class Duplicate:
    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(strategies=(StrategySpec("signer", "double-hmac"),))

    @hookimpl
    def sign_request(self, signer: str) -> None:
        return None


class Exploding:
    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(strategies=(StrategySpec("signer", "boom"),))

    @hookimpl
    def sign_request(self, signer: str) -> None:
        if signer == "boom":
            raise ZeroDivisionError("deep inside the plugin")
        return None


@attrs.frozen
class _Settings:
    api_base_url: str = "https://api.example.com"


class Webull:
    """Declares the broker id of a distribution published with brokerauth (with the built-in
    strategies), so that a typo of a known id is tested without that distribution."""

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(brokers=(BrokerSpec("webull", _Settings, signer="bearer", flow="none"),))
