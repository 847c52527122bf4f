"""Meta-tests: the contract in hookspecs.py is complete, documented and exercised."""

from __future__ import annotations

import inspect
from typing import Any

from brokerauth.contract import hookspecs
from brokerauth_sandbox.pytest_plugin import NOTIFY_WEBHOOK

SPECS = {
    name: fn for name, fn in vars(hookspecs).items()
    if inspect.isfunction(fn) and hasattr(fn, "brokerauth_spec")
}


def test_the_four_design_hooks_exist() -> None:
    assert {"sign_request", "acquire_token", "refresh_token", "store_token"} <= set(SPECS)


def test_every_hookspec_documents_its_contract() -> None:
    for name, fn in SPECS.items():
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 80, f"{name} needs a docstring that is the plugin author's contract"
        assert ":return:" in doc, f"{name} must say what it returns"
        assert "None" in doc, f"{name} must say when (or whether) None is returned"
        signature = inspect.signature(fn)
        for param in signature.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}.{param.name}"
        assert signature.return_annotation is not inspect.Signature.empty


def test_every_hookspec_is_exercised(double: Any, session_factory: Any, plugin_host: Any,
                                     manual_clock: Any, webhook: Any) -> None:
    from brokerauth.engine.registry import stored_keys

    called: set[str] = set()
    undo = plugin_host.monitor(lambda name, kwargs: called.add(name))
    try:
        session = session_factory(double, notify=NOTIFY_WEBHOOK)
        assert session.get("/api/me").ok
        assert session.get("/api/nothing-here").status == 404  # judged by the plugin
        manual_clock.advance(double.token_lifetime + 1)
        assert session.get("/api/me").ok
        assert webhook.kinds() == ["refreshed"]  # the notifier was told
        assert [key.identity for key in stored_keys(session.binding)] == ["default"]
        assert set(session.binding.load_many(["default"])) == {"default"}
        binding = session.binding
        request = binding.build("GET", "/api/me")
        assert plugin_host.explain_signature(
            binding.signer_name, request, binding.settings, session.token,
            manual_clock.now(), "n" * 32, owner=binding.resolved.signer.owner)
        assert session.logout()
    finally:
        undo()
    # describe_plugin ran when the plugins loaded, before monitoring began; load a fresh host.
    fresh = type(plugin_host).create()
    seen: set[str] = set()
    fresh.monitor(lambda name, kwargs: seen.add(name))
    fresh.load("double")
    assert set(SPECS) == called | seen, f"never called: {set(SPECS) - called - seen}"
