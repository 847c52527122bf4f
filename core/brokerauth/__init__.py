"""brokerauth: sign requests, obtain, refresh and safely store credentials for broker APIs.

Only what a script needs is imported here, and lazily, so ``import brokerauth`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from brokerauth.api import session
    from brokerauth.hookspecs import hookimpl
    from brokerauth.profiles import Profile
    from brokerauth.secrets import Secret
    from brokerauth.sessions import Session
    from brokerauth.tokens import Token, TokenKey

_LAZY = {
    "session": "brokerauth.api",
    "hookimpl": "brokerauth.hookspecs",
    "Profile": "brokerauth.profiles",
    "Secret": "brokerauth.secrets",
    "Session": "brokerauth.sessions",
    "Token": "brokerauth.tokens",
    "TokenKey": "brokerauth.tokens",
}

__all__ = [
    "Profile", "Secret", "Session", "Token", "TokenKey", "__version__", "hookimpl", "session",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'brokerauth' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
