"""brokerauth: sign requests, obtain, refresh and safely store credentials for broker APIs.

Only what a script needs is imported here, and lazily, so ``import brokerauth`` stays cheap:
it imports nothing but this package and its version (not even :mod:`typing`).  The public
names are :data:`__all__`, which is also all ``dir(brokerauth)`` and ``from brokerauth import
*`` show; each is imported on first use.  Everything else is reached through its module
(``brokerauth.contract.errors``, ``brokerauth.adapters``, ...).
"""

from __future__ import annotations

from brokerauth._version import __version__

# Not typing.TYPE_CHECKING: importing typing would double what ``import brokerauth`` costs.
# Type checkers treat any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from brokerauth.contract.events import CredentialEvent
    from brokerauth.contract.hookspecs import hookimpl
    from brokerauth.contract.tokens import Token, TokenKey
    from brokerauth.engine.api import horizon, session, users
    from brokerauth.engine.grants import Grant
    from brokerauth.engine.horizons import Horizon
    from brokerauth.engine.profiles import Profile
    from brokerauth.engine.sessions import Session
    from brokerauth.toolkit.secrets import Secret

#: Each public name, by the module it is imported from on first use.
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


def __dir__() -> list[str]:
    # The public names only: not this module's helpers, nor the subpackages that importing
    # them (or anything else) binds here.
    return sorted(__all__)
