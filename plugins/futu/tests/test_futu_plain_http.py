"""A Futu profile never sends its app key, signatures or tokens over plain http to another
host (QUALITY item 18): ``base_url``, ``http_url`` and ``oauth_base_url`` are refused by
``brokerauth profiles`` and ``brokerauth.session``; no named environment is plain http."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import ProfileError
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit.settings_checks import PLAIN_HTTP_ONLY_LOCAL, plain_http_allowed
from brokerauth_futu import environments
from brokerauth_futu.settings import FutuSettings

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
REMOTE = {
    "base": ("base_url", "http://openapi.futunn.com"),
    "http": ("http_url", "http://openapi.futunn.com"),
    "oauth": ("oauth_base_url", "http://openapi.futunn.com/oauth2"),
}


def check_profiles(tmp_path: Path, profiles: dict[str, dict[str, str]]) -> tuple[int, Any]:
    path = tmp_path / "profiles.toml"
    path.write_text("".join(
        f'[profiles.{name}]\nbroker = "futu"\n'
        + "".join(f'{key} = "{value}"\n' for key, value in keys.items()) + "\n"
        for name, keys in profiles.items()), encoding="utf-8")
    result = subprocess.run([BROKERAUTH, "profiles", "--profiles", str(path), "--json"],
                            capture_output=True, text=True, env=dict(os.environ), timeout=60,
                            check=False)
    return result.returncode, {row["name"]: row for row in json.loads(result.stdout)["profiles"]}


def test_profiles_refuses_plain_http_urls_on_another_host(tmp_path: Path,
                                                          token_home: Path) -> None:
    code, rows = check_profiles(tmp_path, {
        **{name: {key: url} for name, (key, url) in REMOTE.items()},
        "local": {"base_url": "http://127.0.0.1:8080", "oauth_base_url": "http://[::1]:8080/o"},
        "named": {"http_url": "http://localhost:8080"},
        "tls": {"base_url": "https://openapi.futunn.com"},
    })
    assert code == 2
    for name, (key, _) in REMOTE.items():
        assert not rows[name]["ok"], name
        assert f"profile '{name}', key '{key}'" in rows[name]["error"]
        assert PLAIN_HTTP_ONLY_LOCAL in rows[name]["error"]
    assert all(rows[name]["ok"] for name in ("local", "named", "tls")), rows


@pytest.mark.parametrize(("mode", "key", "path"), [
    ("oauth", "base_url", ""), ("oauth", "http_url", ""), ("oauth", "oauth_base_url", "/oauth2"),
    ("api_key", "base_url", ""), ("api_key", "http_url", ""),
])
def test_a_session_refuses_before_sending_anything(make_sandbox: Any, clock: Any, mode: str,
                                                   key: str, path: str) -> None:
    sandbox = make_sandbox()
    sandbox.profile_mode = mode
    table = {"broker": "futu", **sandbox.profile_settings()}
    if key == "http_url":
        del table["base_url"]  # the SDK's name for the same setting: give one of the two
    # 0.0.0.0 reaches this sandbox on Linux, but it is not loopback: refused all the same.
    table[key] = f"http://0.0.0.0:{sandbox.port}{path}"
    with pytest.raises(ProfileError) as info:
        brokerauth.session(Profile.from_mapping("remote", table), clock=clock)
    assert info.value.key == key
    assert sum(sandbox.calls.values()) == 0


@pytest.mark.parametrize("name", list(environments.BY_NAME))
@pytest.mark.parametrize("mode", ["oauth", "api_key"])
def test_no_named_environment_is_plain_http(name: str, mode: Any) -> None:
    settings = FutuSettings(mode=mode, environment=name)
    for url in (settings.api_base_url, settings.oauth_base):
        assert url.startswith("https://"), url
        assert plain_http_allowed(url)
