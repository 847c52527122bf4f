"""Strategy hooks are called on the plugin that declared the strategy, and on no other, one
way on every path (pluggy's), so hook monitors see every call and no plugin guards names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from brokerauth import hookimpl
from brokerauth.contract.errors import PluginError
from brokerauth.contract.specs import PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request
from brokerauth.engine.pluginhost import PluginHost
from fake_entry_points import FakeEntryPoint

NOW = datetime(2026, 1, 2, tzinfo=UTC)
REQUEST = Request(method="GET", scheme="https", host="api.example.com", path="/v1/x")


class Signer:
    """Declares one signer and answers every sign_request it receives, whatever the name:
    the host must never hand it another plugin's."""

    def __init__(self, name: str, answer: Mapping[str, str] | None) -> None:
        self.name = name
        self.answer = answer
        self.asked: list[str] = []

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(strategies=(StrategySpec("signer", self.name),))

    @hookimpl
    def sign_request(self, signer: str) -> Mapping[str, str] | None:
        self.asked.append(signer)
        return self.answer


def host_of(*plugins: Signer) -> PluginHost:
    host = PluginHost.create([FakeEntryPoint(p.name, p) for p in plugins])
    host.load_all()
    return host


def test_only_the_declaring_plugin_is_asked() -> None:
    first, second = Signer("first", {"X-First": "1"}), Signer("second", {"X-Second": "2"})
    host = host_of(first, second)
    sign = host.signer("second", owner="second")
    assert dict(sign(REQUEST, None, None, NOW, "n" * 32)) == {"X-Second": "2"}
    assert dict(host.sign_request("first", REQUEST, None, None, NOW, "n", owner="first")) == {
        "X-First": "1"}
    assert first.asked == ["first"]
    assert second.asked == ["second"]


def test_a_signer_answering_none_is_a_plugin_bug_not_a_pass() -> None:
    host = host_of(Signer("quiet", None), Signer("other", {"X-Other": "1"}))
    with pytest.raises(PluginError, match="did not sign"):
        host.signer("quiet", owner="quiet")(REQUEST, None, None, NOW, "n")


def test_a_strategy_is_called_only_as_its_owner() -> None:
    host = host_of(Signer("mine", {}), Signer("theirs", {}))
    with pytest.raises(PluginError, match="not declared by plugin 'theirs'"):
        host.signer("mine", owner="theirs")


def test_monitors_see_every_call_on_the_session_path_too() -> None:
    """Tracing must not miss the hot path: the session signs through ``signer()``."""
    host = host_of(Signer("traced", {"X-T": "1"}))
    sign = host.signer("traced", owner="traced")
    seen: list[tuple[str, str]] = []
    stop = host.monitor(lambda hook, kwargs: seen.append((hook, kwargs["signer"])))
    sign(REQUEST, None, None, NOW, "n")
    host.sign_request("traced", REQUEST, None, None, NOW, "n", owner="traced")
    stop()
    sign(REQUEST, None, None, NOW, "n")
    assert seen == [("sign_request", "traced")] * 2


class FullSigner(Signer):
    """Declares every argument of sign_request, in the spec's order (as broker plugins do):
    the session path then calls it without pluggy's executor, unless something watches."""

    @hookimpl
    def sign_request(  # type: ignore[override]
        self, signer: str, request: Request, settings: object, token: Token | None,
        now: datetime, nonce: str,
    ) -> Mapping[str, str] | None:
        self.asked.append(f"{signer} {request.path} {settings} {token} {now:%Y} {nonce}")
        return self.answer


def test_a_signer_declaring_every_argument_gets_them_and_is_seen_by_monitors() -> None:
    plugin = FullSigner("full", {"X-F": "1"})
    host = host_of(plugin)
    sign = host.signer("full", owner="full")
    assert dict(sign(REQUEST, "S", None, NOW, "n1")) == {"X-F": "1"}
    seen: list[tuple[str, str]] = []
    stop = host.monitor(lambda hook, kwargs: seen.append((hook, kwargs["nonce"])))
    sign(REQUEST, "S", None, NOW, "n2")
    stop()
    sign(REQUEST, "S", None, NOW, "n3")
    assert seen == [("sign_request", "n2")]
    assert plugin.asked == [f"full /v1/x S None 2026 n{n}" for n in (1, 2, 3)]


def test_a_plugin_registered_later_is_not_asked_by_a_resolved_signer() -> None:
    early = Signer("early", {"X-Early": "1"})
    late = Signer("late", {"X-Late": "1"})
    host = PluginHost.create([FakeEntryPoint("early", early), FakeEntryPoint("late", late)])
    host.load("early")
    sign = host.signer("early", owner="early")
    host.load("late")
    assert dict(sign(REQUEST, None, None, NOW, "n")) == {"X-Early": "1"}
    assert late.asked == []


def test_an_optional_hook_the_owner_lacks_answers_for_it_not_another_plugin() -> None:
    class Revoker:
        @hookimpl
        def describe_plugin(self) -> PluginInfo:
            return PluginInfo()

        @hookimpl
        def revoke_token(self, flow: str) -> bool:
            raise AssertionError(f"asked to revoke a token of flow {flow!r}, not its own")

    host = PluginHost.create([FakeEntryPoint("revoker", Revoker())])
    host.load_all()
    token = Token("canary-access-77aa", "Bearer")
    assert host.revoke_token("none", None, token, owner="builtin") is False  # type: ignore[arg-type]
