"""A signed request never goes through a forwarding proxy: for an ``http://`` origin (only a
loopback one is allowed) an HTTP proxy is sent the whole request in clear, credentials and
all, and the origin gets it only if the proxy passes it on.  ``HTTP_PROXY``/``ALL_PROXY`` in
the environment is enough for httpx and requests to do it.  The core's own session ignores
proxy variables.  (An HTTPS proxy tunnels: tests/test_adapter_https_proxy.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import OriginError
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.server import RecordingServer

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY",
                   "https_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def proxy() -> Iterator[RecordingServer]:
    """A loopback server that would be the proxy: it records whatever reaches it."""
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def profile(double: Any, token_home: Path, monkeypatch: pytest.MonkeyPatch) -> Profile:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return Profile.from_mapping("proxied", {"broker": "double", **double.profile_settings()})


def _send(client: str, profile: Profile, url: str, clock: Any, proxy_url: str | None) -> Any:
    if client == "httpx":
        import httpx
        from brokerauth.adapters import httpx_auth

        with httpx.Client(auth=httpx_auth(profile, clock=clock), proxy=proxy_url) as http:
            return http.get(url)
    import requests
    from brokerauth.adapters import requests_auth

    with requests.Session() as http:
        http.auth = requests_auth(profile, clock=clock)
        return http.get(url, timeout=10)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
@pytest.mark.parametrize("client", ["httpx", "requests"])
def test_a_proxy_from_the_environment_is_refused_before_anything_is_sent(
    client: str, variable: str, profile: Profile, double: Any, proxy: RecordingServer,
    manual_clock: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy's own credentials are not shown either.
    monkeypatch.setenv(variable, proxy.base_url.replace("://", "://someone:PROXY-PASS@"))
    with pytest.raises(OriginError) as caught:
        _send(client, profile, double.base_url + "/api/me", manual_clock, None)
    assert proxy.seen == []
    assert "PROXY-PASS" not in str(caught.value)
    assert caught.value.origin == proxy.base_url
    assert "proxy" in caught.value.message
    assert "NO_PROXY" in (caught.value.hint or "")
    # Exempted from the proxy, the same request goes straight to the origin.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    assert _send(client, profile, double.base_url + "/api/me", manual_clock, None).status_code \
        == 200
    assert proxy.seen == []


def test_a_proxy_given_to_httpx_is_refused_too(
    profile: Profile, double: Any, proxy: RecordingServer, manual_clock: Any
) -> None:
    with pytest.raises(OriginError):
        _send("httpx", profile, double.base_url + "/api/me", manual_clock, proxy.base_url)
    assert proxy.seen == []
