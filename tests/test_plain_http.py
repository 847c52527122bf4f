"""Plain ``http://`` only to this machine (README, Guarantees; QUALITY item 18): the host rule
itself, the shared URL validator, and a profile on another host refused by ``brokerauth
profiles`` and by ``brokerauth.session`` before anything is sent.  The brokers' own URL
settings are checked beside each plugin (``test_*_plain_http.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import brokerauth
import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import ConfigError, ProfileError
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit.settings_checks import (
    PLAIN_HTTP_ONLY_LOCAL,
    http_url,
    is_loopback_host,
    plain_http_allowed,
)
from test_cli import run

LOOPBACK_HOSTS = [
    "127.0.0.1", "127.0.0.2", "127.1.2.3", "127.255.255.254", "::1", "[::1]",
    "0:0:0:0:0:0:0:1", "localhost", "LOCALHOST", "::ffff:127.0.0.1", "::ffff:7f00:1",
    "[::ffff:127.0.0.1]",
]
OTHER_HOSTS = [
    "", " ", "0.0.0.0", "::", "[::]", "10.0.0.1", "192.168.1.1", "128.0.0.1",
    "126.255.255.255", "api.webull.com",
    # names that only start or end like a loopback one
    "127.0.0.1.evil.com", "localhost.evil.com", "evillocalhost", "localhost:8080",
    "127.0.0.1:8080", "127.0.0.1 ", "localhost\x00.evil.com",
    # names under localhost, and localhost.: glibc asks DNS for them, which anyone on the
    # network path may answer
    "localhost.", "sandbox.localhost", "a-b.c.localhost", "LOCALHOST.",
    "evil.com%2elocalhost", "a..localhost", "-a.localhost", "a_b.localhost", ".localhost",
    "evil\\.localhost",
    # abbreviated, numeric, octal, hex or zero-padded IPv4: resolvers disagree on them
    "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.000.000.001", "0x7f000001",
    "127.0.0.1.",
    # IPv6 that merely embeds 127.x, and brackets around what is not IPv6
    "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "[127.0.0.1]", "[localhost]",
]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_hosts_that_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


ALLOWED_URLS = [
    "https://api.webull.com", "HTTPS://api.webull.com/x?y=1", "https://10.0.0.1:8443",
    "http://127.0.0.1:8080", "http://127.9.8.7/x", "http://[::1]:8080/p", "http://localhost:1",
    "HTTP://LOCALHOST:1/p?q=1", "http://[::ffff:127.0.0.1]:9",
]
REFUSED_URLS = [
    "http://api.webull.com", "http://10.0.0.1:8080", "http://0.0.0.0:8080", "http://[::]:1",
    "http://127.0.0.1.evil.com/", "http://localhost.evil.com:80", "http://127.1:80",
    "http://sandbox.localhost:9/", "http://localhost.:9/",
    # what goes on the wire is the host after the user part, wherever the loopback name is
    "http://localhost@evil.com/", "http://127.0.0.1:80@evil.com/", "http://127.0.0.1\\@evil.com/",
    "ftp://127.0.0.1/", "ws://127.0.0.1/", "file:///etc/passwd", "127.0.0.1:80", "//127.0.0.1",
    "http://", "https://", "", "http://[::1", "https://[::1",
]


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_urls_credentials_may_go_to(url: str) -> None:
    assert plain_http_allowed(url)


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_urls_credentials_never_go_to(url: str) -> None:
    assert not plain_http_allowed(url)


@attrs.frozen
class _Settings:
    base_url: str | None = attrs.field(default=None, validator=http_url())
    redirect: str | None = attrs.field(default=None, validator=http_url(any_http_host=True))


def test_the_validator_names_the_setting_and_the_fix() -> None:
    with pytest.raises(ValueError, match="plain http") as info:
        _Settings(base_url="http://api.example.com:8080/v1")
    message = str(info.value)
    assert message.startswith("base_url must not be plain http to 'api.example.com'")
    assert "'https://api.example.com:8080/v1'" in message
    assert PLAIN_HTTP_ONLY_LOCAL in message
    for fine in ("https://api.example.com", "http://127.0.0.1:1", "http://[::1]:2",
                 "http://localhost:3"):
        assert _Settings(base_url=fine).base_url == fine
    # a setting with rules of its own (a registered OAuth redirect) opts out
    assert _Settings(redirect="http://platform.example/cb").redirect


def test_the_validator_never_shows_a_password_in_a_url() -> None:
    for url in ("http://user:pw-CANARY-123@api.example.com/", "ftp://u:pw-CANARY-123@h/"):
        with pytest.raises(ValueError, match="base_url") as info:
            _Settings(base_url=url)
        assert "pw-CANARY-123" not in str(info.value)
        assert "***@" in str(info.value)


def test_a_port_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute http"):
        _Settings(base_url="http://127.0.0.1:80:80")


# --- a profile, end to end ------------------------------------------------------------------


def _profiles(folder: Path, **base_urls: str) -> Path:
    path = folder / "profiles.toml"
    path.write_text("".join(
        f'[profiles.{name}]\nbroker = "double"\nclient_id = "cid"\n'
        f'client_secret = {{ env = "DOUBLE_PLAIN_SECRET" }}\nbase_url = "{url}"\n\n'
        for name, url in base_urls.items()))
    return path


def test_profiles_command_refuses_plain_http_to_another_host(tmp_path: Path,
                                                             token_home: Path) -> None:
    path = _profiles(tmp_path, remote="http://api.double.example", local="http://127.0.0.1:9",
                     v6="http://[::1]:9", named="http://localhost:9", tls="https://api.double.example")
    result = run("profiles", "--profiles", str(path), "--json", env={"DOUBLE_PLAIN_SECRET": "s"})
    assert result.returncode == 2, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["profiles"]}
    assert not rows["remote"]["ok"]
    assert "profile 'remote', key 'base_url'" in rows["remote"]["error"]
    assert PLAIN_HTTP_ONLY_LOCAL in rows["remote"]["error"]
    assert all(rows[name]["ok"] for name in ("local", "v6", "named", "tls")), rows


def test_a_session_on_plain_http_to_another_host_sends_nothing(sandbox_factory: Any,
                                                               token_home: Path) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    # 0.0.0.0 reaches this very sandbox on Linux, yet is not a loopback address: had the
    # profile been accepted, the client secret would have gone out signed-for in clear.
    table = {"broker": "double", **double.profile_settings(), "base_url": f"http://0.0.0.0:{double.port}"}
    with pytest.raises(ProfileError) as info:
        brokerauth.session(Profile.from_mapping("remote", table))
    assert isinstance(info.value, ConfigError)
    assert info.value.key == "base_url"
    assert sum(double.calls.values()) == 0


def test_a_session_on_localhost_works(sandbox_factory: Any, token_home: Path) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    table = {"broker": "double", **double.profile_settings(),
             "base_url": f"http://localhost:{double.port}"}
    with brokerauth.session(Profile.from_mapping("local", table)) as api:
        assert api.get("/api/me").status == 200
