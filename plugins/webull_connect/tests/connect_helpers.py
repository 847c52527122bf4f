"""Helpers shared by the Webull Connect plugin's tests (a uniquely named module: the test
folders of several plugins share one import namespace)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import urllib3
from brokerauth.engine.profiles import Profile

BROKER = "webull_connect"
ACCOUNTS = "/oauth-openapi/account/list"
PLATFORM_REDIRECT = "https://platform.example/webull/callback"
# Canary credentials: any test that finds them in a log, a message or a repr found a leak.
CANARY_CLIENT_SECRET = "canary-client-secret-Qm4Xv7"
CANARY_APP_SECRET = "canary-app-secret-Lp9Wz3"
CANARY_APP_KEY = "canary-app-key-Rt5Ny8"

_pool = urllib3.PoolManager(retries=False, timeout=5.0)


def profile_for(sandbox: Any, name: str = "connect", **keys: Any) -> Profile:
    return Profile.from_mapping(name, {"broker": BROKER, **sandbox.profile_settings(), **keys})


@contextlib.contextmanager
def _as_a_browser() -> Iterator[None]:
    # These helpers play the user's browser, which writes nothing to the program's logs;
    # urllib3 would log each URL, authorization codes included, at DEBUG.
    logger = logging.getLogger("urllib3.connectionpool")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def approve(url: str) -> str:
    """Visit the login page like a browser whose user approves at once, and return the
    callback URL Webull redirects to (without following it)."""
    with _as_a_browser():
        response = _pool.request("GET", url, redirect=False)
    assert response.status == 302, response.data[:300]
    location = response.headers["Location"]
    assert isinstance(location, str)
    return location


def get(url: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
    with _as_a_browser():
        return _pool.request("GET", url, redirect=False, **kwargs)


def post(url: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
    with _as_a_browser():
        return _pool.request("POST", url, redirect=False, **kwargs)
