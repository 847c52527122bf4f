"""Plugins with defects, loaded through fake entry points by test_pluginhost."""

from __future__ import annotations

from brokerauth import hookimpl
from brokerauth.contract.specs import PluginInfo, StrategySpec


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
        return PluginInfo(strategies=(StrategySpec("signer", "acme-hmac"),))

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
