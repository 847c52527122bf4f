"""The ``keyring`` plugin: one store strategy, ``keyring``, for any broker's profile.

Entry point ``keyring = "brokerauth_keyring.plugin:KeyringPlugin"``; the core makes one
instance per plugin host, and the instance keeps one store per distinct store options.  This
module imports only attrs-level code, so listing plugins does not pay for keyring, its back
ends or D-Bus.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from brokerauth import hookimpl
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.specs import CallBudget, PluginInfo, StrategySpec
from brokerauth.contract.tokens import Token, TokenKey

from brokerauth_keyring.options import KeyringStoreOptions

if TYPE_CHECKING:
    from brokerauth_keyring.store import KeyringStore

__all__ = ["KEYRING_STORE", "KeyringPlugin"]

KEYRING_STORE = "keyring"


class KeyringPlugin:
    """Provides the ``keyring`` store."""

    def __init__(self) -> None:
        self._stores: dict[KeyringStoreOptions, KeyringStore] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyringPlugin({len(self._stores)} stores)"

    @hookimpl
    def describe_plugin(self) -> PluginInfo:
        return PluginInfo(
            description="tokens in the OS keyring, one item per profile and identity",
            strategies=(
                StrategySpec(
                    kind="store",
                    name=KEYRING_STORE,
                    description=(
                        "tokens in the OS keyring through the keyring library (the Secret "
                        "Service on Linux: gnome-keyring or KWallet; the macOS Keychain; the "
                        "Windows Credential Manager), one item per profile and identity; "
                        "refuses keyring's plaintext and null back ends; single-flight refresh "
                        "with an OS file lock in the brokerauth folder, which dies with its "
                        "holder; listing needs the Secret Service"
                    ),
                    options=KeyringStoreOptions,
                ),
            ),
        )

    @hookimpl
    def load_token(self, store: str, key: TokenKey, options: Any) -> Token | None:
        return self.store_for(options).load(key)

    @hookimpl
    def store_token(self, store: str, key: TokenKey, token: Token, options: Any) -> None:
        self.store_for(options).save(key, token)

    @hookimpl
    def delete_token(self, store: str, key: TokenKey, options: Any) -> bool | None:
        return self.store_for(options).delete(key)

    @hookimpl
    def list_tokens(self, store: str, profile: str, options: Any) -> Iterable[TokenKey] | None:
        return self.store_for(options).list_keys(profile)

    @hookimpl
    def take_call(
        self, store: str, key: TokenKey, options: Any, budget: CallBudget, now: float
    ) -> float | None:
        return self.store_for(options).take_call(key, budget, now)

    @hookimpl
    def lock_token(
        self, store: str, key: TokenKey, options: Any, timeout: float
    ) -> AbstractContextManager[bool] | None:
        return self.store_for(options).lock(key, timeout)

    def store_for(self, options: Any) -> KeyringStore:
        """The store for ``options``, made on first use (``None``: the default options)."""
        if options is None:
            options = KeyringStoreOptions()
        if not isinstance(options, KeyringStoreOptions):
            raise ConfigError(
                f"the keyring store's options must be KeyringStoreOptions, not "
                f"{type(options).__name__}",
                hint='in a profile: store = { name = "keyring" }',
            )
        found = self._stores.get(options)
        if found is not None:
            return found
        with self._guard:
            found = self._stores.get(options)
            if found is None:
                from brokerauth_keyring.store import KeyringStore

                found = self._stores[options] = KeyringStore(options)
            return found
