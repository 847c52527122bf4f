"""brokerauth: sign requests, obtain, refresh and safely store credentials for broker APIs.

Only what a script needs is imported here, and lazily, so ``import brokerauth`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokerauth._version import __version__

if TYPE_CHECKING:
    from brokerauth.contract.events import CredentialEvent
    from brokerauth.contract.hookspecs import hookimpl
    from brokerauth.contract.tokens import Token, TokenKey
    from brokerauth.engine.api import horizon, session, users
    from brokerauth.engine.grants import Grant
    from brokerauth.engine.horizons import Horizon
    from brokerauth.engine.profiles import Profile
    from brokerauth.engine.sessions import Session
    from brokerauth.toolkit.secrets import Secret

_LAZY = {
    "session": "brokerauth.engine.api",
    "horizon": "brokerauth.engine.api",
    "users": "brokerauth.engine.api",
    "Horizon": "brokerauth.engine.horizons",
    "Grant": "brokerauth.engine.grants",
    "CredentialEvent": "brokerauth.contract.events",
    "hookimpl": "brokerauth.contract.hookspecs",
    "Profile": "brokerauth.engine.profiles",
    "Secret": "brokerauth.toolkit.secrets",
    "Session": "brokerauth.engine.sessions",
    "Token": "brokerauth.contract.tokens",
    "TokenKey": "brokerauth.contract.tokens",
}

__all__ = [
    "CredentialEvent", "Grant", "Horizon", "Profile", "Secret", "Session", "Token", "TokenKey",
    "__version__", "hookimpl", "horizon", "session", "users",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'brokerauth' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
