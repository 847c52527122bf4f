"""The built-in plugin, driven through pluggy exactly as the core drives a third-party one."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import pytest
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.builtin.plugin import BuiltinPlugin
from brokerauth.contract import hookspecs
from brokerauth.contract.errors import ConfigError, TokenError
from brokerauth.contract.specs import PluginInfo
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.contract.wire import Request
from brokerauth.engine.pluginhost import PluginHost

ACCESS = "canary-access-4c4c"
KEY = TokenKey("prod", "alice")
NOW = datetime(2026, 1, 2, tzinfo=UTC)
REQUEST = Request(method="GET", scheme="https", host="api.example.com", path="/v1/accounts")

STORE_HOOKS = ("load_token", "store_token", "delete_token", "lock_token")
KIND_HOOKS = {
    "signer": ("sign_request",),
    "flow": ("acquire_token", "refresh_token"),
    "store": STORE_HOOKS,
}


def make_token(**changes: Any) -> Token:
    return Token(ACCESS, "webull", refresh_token="canary-refresh-4c4c").replace(**changes)


@pytest.fixture
def plugin() -> BuiltinPlugin:
    return BuiltinPlugin()


@pytest.fixture
def hook(plugin: BuiltinPlugin) -> Any:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin, name="builtin")
    manager.check_pending()  # every hookimpl matches a hookspec
    return manager.hook


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BROKERAUTH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_registered_in_code_not_through_an_entry_point():
    assert [e for e in entry_points(group="brokerauth") if e.name == "builtin"] == []
    host = PluginHost.create([])  # a host embedded with no entry points at all
    spec, owner = host.strategy("store", "file")
    assert (spec.name, owner) == ("file", "builtin")
    assert isinstance(host.loaded["builtin"].plugin, BuiltinPlugin)
    assert host.loaded["builtin"].distribution == "brokerauth"


def test_describes_its_strategies(hook: Any):
    (info,) = hook.describe_plugin()
    assert isinstance(info, PluginInfo)
    assert info.brokers == ()
    declared = {(s.kind, s.name): s for s in info.strategies}
    assert set(declared) == {
        ("store", "file"),
        ("store", "memory"),
        ("signer", "bearer"),
        ("flow", "none"),
    }
    assert declared["store", "file"].options is FileStoreOptions
    assert "process-local" in declared["store", "memory"].description
    assert "within the process" in declared["store", "memory"].description
    assert declared["signer", "bearer"].needs == ()
    for spec in info.strategies:
        assert spec.description


def test_implements_every_hook_its_strategies_oblige(plugin: BuiltinPlugin):
    info = plugin.describe_plugin()
    for spec in info.strategies:
        for name in KIND_HOOKS[spec.kind]:
            method = getattr(plugin, name)
            assert getattr(method, "brokerauth_impl", None) is not None, name


# --- bearer signer --------------------------------------------------------------------


def sign(hook: Any, signer: str, token: Token | None) -> Any:
    return hook.sign_request(
        signer=signer, request=REQUEST, settings=None, token=token, now=NOW, nonce="n" * 32
    )


def test_bearer_adds_the_authorization_header(hook: Any):
    assert sign(hook, "bearer", make_token()) == {"Authorization": f"Bearer {ACCESS}"}
    assert sign(hook, "bearer", make_token(token_type="bearer")) == {
        "Authorization": f"Bearer {ACCESS}"
    }
    assert sign(hook, "bearer", make_token(token_type="MAC")) == {"Authorization": f"MAC {ACCESS}"}


def test_bearer_without_a_token_adds_nothing(hook: Any):
    assert sign(hook, "bearer", None) == {}


@pytest.mark.parametrize(
    "changes",
    [
        {"access_token": f"{ACCESS}\r\nX-Evil: 1"},
        {"access_token": f"{ACCESS} more"},
        {"access_token": f"{ACCESS}é"},
        {"access_token": ""},
        {"token_type": "Bearer\r\nX-Evil: 1"},
        {"token_type": "Be arer"},
    ],
)
def test_bearer_refuses_what_a_header_cannot_carry(hook: Any, changes: dict[str, str]):
    with pytest.raises(TokenError) as caught:
        sign(hook, "bearer", make_token(**changes))
    assert ACCESS not in str(caught.value)
    assert "canary-refresh" not in str(caught.value)


# --- none flow ------------------------------------------------------------------------


def test_none_flow_needs_no_token(hook: Any):
    assert hook.acquire_token(flow="none", context=None) is None
    assert hook.refresh_token(flow="none", context=None, token=make_token()) is None


# --- stores ---------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["file", "memory"])
def test_store_hooks_roundtrip(hook: Any, home: Path, store: str):
    def call(name: str, **kwargs: Any) -> Any:
        return getattr(hook, name)(store=store, key=KEY, options=None, **kwargs)

    assert call("load_token") is None
    assert call("delete_token") is False
    assert call("store_token", token=make_token()) is None
    assert call("load_token") == make_token()
    with call("lock_token", timeout=0) as held:
        assert held is True
        with call("lock_token", timeout=0) as again:
            assert again is False
    assert call("delete_token") is True
    assert call("load_token") is None


def test_file_store_uses_the_default_root_or_the_path_option(hook: Any, home: Path, tmp_path):
    hook.store_token(store="file", key=KEY, token=make_token(), options=None)
    assert (home / "tokens" / "prod" / "alice.json").is_file()
    options = FileStoreOptions(path=str(tmp_path / "elsewhere"))
    assert hook.load_token(store="file", key=KEY, options=options) is None
    hook.store_token(store="file", key=KEY, token=make_token(scope="x"), options=options)
    assert (tmp_path / "elsewhere" / "prod" / "alice.json").is_file()
    loaded = hook.load_token(store="file", key=KEY, options=options)
    assert loaded is not None
    assert loaded.scope == "x"


def test_file_store_refuses_foreign_options(hook: Any, home: Path):
    with pytest.raises(ConfigError, match="FileStoreOptions"):
        hook.load_token(store="file", key=KEY, options={"path": "/tmp"})


def test_memory_store_belongs_to_the_plugin_instance(hook: Any):
    hook.store_token(store="memory", key=KEY, token=make_token(), options=None)
    other = BuiltinPlugin()
    assert other.load_token(store="memory", key=KEY, options=None) is None
    assert hook.load_token(store="memory", key=KEY, options=None) == make_token()


def test_nothing_is_stored_until_asked(hook: Any, home: Path):
    assert hook.load_token(store="memory", key=KEY, options=None) is None
    assert hook.load_token(store="file", key=KEY, options=None) is None
    assert not home.exists()


def test_repr_shows_no_token(plugin: BuiltinPlugin):
    plugin.store_token(store="memory", key=KEY, token=make_token(), options=None)
    assert ACCESS not in repr(plugin)
