"""brokerauth plugin for Futu OpenAPI, and a drop-in for the Futu SDK's authentication API.

Code written for the Futu SDK ports by changing one import::

    from brokerauth_futu import Config, OAuthBuilder

    oauth = OAuthBuilder("your-client-id").build(lambda url: print("visit", url))
    config = Config.from_oauth(oauth)
    with config.session() as api:
        api.get("/v1/quote/snapshot")

The names are imported on first use, so loading the plugin for a profile (which imports this
package) does not pay for the SDK layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brokerauth_futu.oauthflow import revoke_token
    from brokerauth_futu.sdk import Config, OAuth, OAuthBuilder, logout
    from brokerauth_futu.streaming import WebSocketHandshake, handshake

__all__ = ["Config", "OAuth", "OAuthBuilder", "WebSocketHandshake", "handshake", "logout",
           "revoke_token"]

_LAZY = {
    "Config": "brokerauth_futu.sdk",
    "OAuth": "brokerauth_futu.sdk",
    "OAuthBuilder": "brokerauth_futu.sdk",
    "logout": "brokerauth_futu.sdk",
    "revoke_token": "brokerauth_futu.oauthflow",
    "handshake": "brokerauth_futu.streaming",
    "WebSocketHandshake": "brokerauth_futu.streaming",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'brokerauth_futu' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
