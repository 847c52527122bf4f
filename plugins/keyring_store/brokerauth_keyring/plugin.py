"""The ``keyring`` plugin: one store strategy, ``keyring``, for any broker's profile.

Entry point ``keyring = "brokerauth_keyring.plugin:KeyringPlugin"``; the core makes one
instance per plugin host, and the instance keeps one store per distinct store options.  This
module imports only attrs-level code, so listing plugins does not pay for keyring, its back
ends or D-Bus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brokerauth import hookimpl
from brokerauth.contract.specs import PluginInfo, StrategySpec
from brokerauth.toolkit.storeplugin import StorePlugin

from brokerauth_keyring.options import KeyringStoreOptions

if TYPE_CHECKING:
    from brokerauth_keyring.store import KeyringStore

__all__ = ["KEYRING_STORE", "KeyringPlugin"]

KEYRING_STORE = "keyring"


class KeyringPlugin(StorePlugin[KeyringStoreOptions, "KeyringStore"]):
    """Provides the ``keyring`` store."""

    store_name = KEYRING_STORE
    options_type = KeyringStoreOptions
    example = 'store = { name = "keyring" }'

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

    def make_store(self, options: KeyringStoreOptions) -> KeyringStore:
        from brokerauth_keyring.store import KeyringStore

        return KeyringStore(options)
