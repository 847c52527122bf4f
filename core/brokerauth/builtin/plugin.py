"""The core's own strategies, registered exactly like a third-party plugin.

Registered in code by :class:`~brokerauth.engine.pluginhost.PluginHost` under the id
``builtin``, before any entry point, one instance per host.  It provides:

* store ``file`` (:mod:`brokerauth.builtin.filestore`) and store ``memory``
  (:mod:`brokerauth.builtin.memorystore`, whose tokens belong to the plugin instance);
* signer ``bearer``: ``Authorization: <token_type> <access_token>``;
* flow ``none``: requests are signed without a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.builtin.memorystore import MemoryStore
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.hookspecs import hookimpl
from brokerauth.contract.specs import CallBudget, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.headers import bearer_authorization

__all__ = ["BuiltinPlugin"]

FILE_STORE = "file"
MEMORY_STORE = "memory"
BEARER_SIGNER = "bearer"
NO_FLOW = "none"

class BuiltinPlugin:
    """The ``file`` and ``memory`` stores, the ``bearer`` signer and the ``none`` flow."""

    def __init__(self) -> None:
        # One memory store per plugin instance, so two plugin managers (two tests) never share
        # tokens.
        self.memory = MemoryStore()

    def __repr__(self) -> str:
        return f"BuiltinPlugin(memory={self.memory!r})"

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(
            description="brokerauth's built-in strategies",
            strategies=(
                StrategySpec(
                    kind="store",
                    name=FILE_STORE,
                    description=(
                        "one JSON file per profile and identity in your state folder "
                        "(or path = ...), mode 0600, atomic writes, locked across processes"
                    ),
                    options=FileStoreOptions,
                ),
                StrategySpec(
                    kind="store",
                    name=MEMORY_STORE,
                    description=(
                        "process-local, for tests: tokens live in memory and are lost on exit; "
                        "locks only within the process"
                    ),
                ),
                StrategySpec(
                    kind="signer",
                    name=BEARER_SIGNER,
                    description=(
                        "OAuth 2.0 bearer token (RFC 6750): Authorization: <token_type> "
                        "<access_token>; adds nothing when the flow uses no token"
                    ),
                ),
                StrategySpec(
                    kind="flow",
                    name=NO_FLOW,
                    description="no token: requests are signed without one",
                ),
            ),
        )

    # --- signer -------------------------------------------------------------------------

    @hookimpl
    def sign_request(self, signer: str, token: Token | None) -> Mapping[str, str]:
        if token is None:
            return {}
        return {"Authorization": bearer_authorization(token)}

    # --- flow ---------------------------------------------------------------------------

    @hookimpl
    def acquire_token(self, flow: str) -> Token | None:
        # ``none``, this plugin's only flow: requests are signed without a token.
        return None

    @hookimpl
    def refresh_token(self, flow: str) -> Token | None:
        # ``none`` has nothing to refresh (it never hands out a token).
        return None

    # --- stores -------------------------------------------------------------------------

    @hookimpl
    def load_token(self, store: str, key: TokenKey, options: Any) -> Token | None:
        if store == FILE_STORE:
            return filestore.load(key, _file_options(options))
        return self.memory.load(key)

    @hookimpl
    def store_token(self, store: str, key: TokenKey, token: Token, options: Any) -> None:
        if store == FILE_STORE:
            filestore.save(key, token, _file_options(options))
        else:
            self.memory.save(key, token)

    @hookimpl
    def delete_token(self, store: str, key: TokenKey, options: Any) -> bool:
        if store == FILE_STORE:
            return filestore.delete(key, _file_options(options))
        return self.memory.delete(key)

    @hookimpl
    def list_tokens(self, store: str, profile: str, options: Any) -> Iterable[TokenKey]:
        if store == FILE_STORE:
            return filestore.list_keys(profile, _file_options(options))
        return self.memory.list_keys(profile)

    @hookimpl
    def take_call(
        self, store: str, key: TokenKey, options: Any, budget: CallBudget, now: float
    ) -> float:
        if store == FILE_STORE:
            return filestore.take_call(key, budget, now, _file_options(options))
        return self.memory.take_call(key, budget, now)

    @hookimpl
    def lock_token(
        self, store: str, key: TokenKey, options: Any, timeout: float
    ) -> AbstractContextManager[bool]:
        if store == FILE_STORE:
            return filestore.lock(key, _file_options(options), timeout)
        return self.memory.lock(key, timeout)


def _file_options(options: Any) -> FileStoreOptions:
    if options is None:
        return FileStoreOptions()
    if isinstance(options, FileStoreOptions):
        return options
    raise ConfigError(
        f"the file store's options must be FileStoreOptions, not {type(options).__name__}",
        hint='in a profile: store = { name = "file", path = "..." }',
    )
