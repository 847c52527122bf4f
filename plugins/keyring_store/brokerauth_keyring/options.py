"""The ``keyring`` store's options, as a profile gives them::

    store = { name = "keyring" }
    store = { name = "keyring", service = "brokerauth-trading" }
    store = { name = "keyring", backend = "keyring.backends.SecretService.Keyring" }

Everything is checked when the profile is read; the keyring itself is reached at the first
use of the store.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["DEFAULT_SERVICE", "KeyringStoreOptions"]

#: The keyring "service" every item of the store is kept under.
DEFAULT_SERVICE = "brokerauth"
_MAX_SERVICE = 100
_MAX_BACKEND = 200


def _valid_service(instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("service must be a non-empty string")
    if len(value) > _MAX_SERVICE:
        raise ValueError(f"service must be at most {_MAX_SERVICE} characters")
    if not value.isprintable():
        raise ValueError("service must hold no control characters")


def _valid_backend(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    parts = value.split(".") if isinstance(value, str) else []
    if len(value) > _MAX_BACKEND or len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(
            "backend must be a keyring back end's class as module.Class "
            "(for example keyring.backends.SecretService.Keyring)"
        )


def _valid_path(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value or "\0" in value):
        raise ValueError("lock_path must be a folder's path")


@attrs.frozen
class KeyringStoreOptions:
    """Options of the ``keyring`` store."""

    #: The keyring "service" (Secret Service attribute ``service``) the items are kept
    #: under; two services keep two separate sets of tokens in one keyring.
    service: str = attrs.field(default=DEFAULT_SERVICE, validator=_valid_service)
    #: A keyring back end's class (``module.Class``) to use instead of the one ``keyring``
    #: chooses (itself from ``$PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``, then the
    #: platform).  Naming a back end is how one the store does not know is trusted; a
    #: back end that keeps secrets in clear, or none at all, is refused even when named.
    backend: str | None = attrs.field(default=None, validator=_valid_backend)
    #: The folder of the refresh lock files (and token-endpoint budgets) instead of
    #: ``$BROKERAUTH_HOME/keyring`` (or the platform's per-user state folder): the OS keyring
    #: has no lock, so processes agree through a file lock that dies with its holder.
    lock_path: str | None = attrs.field(default=None, validator=_valid_path)
