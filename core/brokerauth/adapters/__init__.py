"""Keep your HTTP stack: brokerauth's signing, token attachment and refresh-on-401 as an auth
plugin for requests or httpx.

    import requests, brokerauth.adapters
    requests.get(url, auth=brokerauth.adapters.requests_auth("webull-uat"))

    import httpx
    httpx.Client(auth=brokerauth.adapters.httpx_auth("futu"))       # AsyncClient too

Install the extra: ``pip install brokerauth[requests]`` or ``brokerauth[httpx]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokerauth.adapters.extras import MissingExtraError

if TYPE_CHECKING:
    from brokerauth.adapters.httpx_adapter import BrokerAuthHttpx
    from brokerauth.adapters.requests_adapter import BrokerAuthRequests


def requests_auth(profile: Any, **session_options: Any) -> BrokerAuthRequests:
    """A ``requests.auth.AuthBase`` for ``profile`` (a name or a Profile); ``session_options``
    are those of :func:`brokerauth.session` (``user``, ``profiles``, ``clock``...)."""
    from brokerauth.adapters.requests_adapter import BrokerAuthRequests

    return BrokerAuthRequests(profile, **session_options)


def httpx_auth(profile: Any, **session_options: Any) -> BrokerAuthHttpx:
    """An ``httpx.Auth`` for ``profile``, for ``httpx.Client`` and ``httpx.AsyncClient``."""
    from brokerauth.adapters.httpx_adapter import BrokerAuthHttpx

    return BrokerAuthHttpx(profile, **session_options)


__all__ = ["MissingExtraError", "httpx_auth", "requests_auth"]
