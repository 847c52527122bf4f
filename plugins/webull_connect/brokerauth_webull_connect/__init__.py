"""brokerauth plugin for Webull Connect: OAuth 2.0 for third-party platforms.

The broker ``webull_connect``, the signer ``webull-connect`` (Bearer on API calls, the
``webull`` plugin's HMAC on the token endpoint), the flow ``webull-connect-oauth``
(authorization code, rotating refresh tokens, tokens per Webull user), and a sandbox.

The public API for logging users in (imported lazily, so loading the plugin stays cheap):

* :func:`begin_login` / :func:`complete` — a platform's web server receives the redirect;
* :func:`login` — a desktop script receives it on the loopback listener;
* :class:`PendingLogin` — a started login, serialisable without secrets;
* :class:`AuthorizationRequired` — raised when the user must authorize (again), with the
  ``login_url`` and the ``pending`` login that finishes it.

Modules: :mod:`~brokerauth_webull_connect.settings`, :mod:`~.environments`, :mod:`~.signing`,
:mod:`~.flow`, :mod:`~.authorize`, :mod:`~.pending`, :mod:`~.codes`, :mod:`~.plugin` (the
hooks) and :mod:`~.sandbox` (``python -m brokerauth_webull_connect.sandbox.server``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from brokerauth_webull_connect.authorize import begin_login, complete, login
    from brokerauth_webull_connect.flow import AuthorizationRequired
    from brokerauth_webull_connect.pending import PendingLogin

_LAZY = {
    "begin_login": "brokerauth_webull_connect.authorize",
    "complete": "brokerauth_webull_connect.authorize",
    "login": "brokerauth_webull_connect.authorize",
    "AuthorizationRequired": "brokerauth_webull_connect.flow",
    "PendingLogin": "brokerauth_webull_connect.pending",
}

__all__ = [
    "AuthorizationRequired", "PendingLogin", "__version__", "begin_login", "complete", "login",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'brokerauth_webull_connect' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
