"""A Webull Connect profile never sends its client secret, signatures or tokens over plain
http to another host (QUALITY item 18): ``base_url``, ``login_url`` and an absolute
``token_path`` are refused by ``brokerauth profiles`` and ``brokerauth.session``; no named
environment is plain http.  ``redirect_uri`` keeps its own rules."""

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
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import PLAIN_HTTP_ONLY_LOCAL, plain_http_allowed
from brokerauth_webull_connect import environments
from brokerauth_webull_connect.settings import ConnectSettings
from connect_helpers import PLATFORM_REDIRECT, profile_for

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
_COMMON = (
    'broker = "webull_connect"\nclient_id = "cid"\nscope = "user:trade:wr"\n'
    'client_secret = { env = "WBC_PLAIN_CS" }\napp_key = { env = "WBC_PLAIN_KEY" }\n'
    'app_secret = { env = "WBC_PLAIN_SECRET" }\n'
)


def check_profiles(tmp_path: Path, profiles: dict[str, dict[str, str]]) -> tuple[int, Any]:
    path = tmp_path / "profiles.toml"
    path.write_text("".join(
        f"[profiles.{name}]\n{_COMMON}"
        + "".join(f'{key} = "{value}"\n' for key, value in
                  {"redirect_uri": PLATFORM_REDIRECT, **keys}.items()) + "\n"
        for name, keys in profiles.items()), encoding="utf-8")
    env = {**os.environ, "WBC_PLAIN_CS": "c", "WBC_PLAIN_KEY": "k", "WBC_PLAIN_SECRET": "s"}
    result = subprocess.run([BROKERAUTH, "profiles", "--profiles", str(path), "--json"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    return result.returncode, {row["name"]: row for row in json.loads(result.stdout)["profiles"]}


REMOTE = {
    "base": ("base_url", "http://us-oauth-open-api.webull.com"),
    "login": ("login_url", "http://passport.webull.com/oauth2/authenticate/login"),
    "token": ("token_path", "http://us-oauth-open-api.webull.com/openapi/oauth2/token"),
}


def test_profiles_refuses_plain_http_urls_on_another_host(tmp_path: Path,
                                                          token_home: Path) -> None:
    code, rows = check_profiles(tmp_path, {
        **{name: {key: url} for name, (key, url) in REMOTE.items()},
        "local": {"base_url": "http://127.0.0.1:8080",
                  "login_url": "http://[::1]:8080/oauth2/login",
                  "token_path": "http://localhost:8080/oauth2/token"},
        "tls": {"base_url": "https://us-oauth-open-api.webull.com"},
        # the redirect is not where credentials go: its rules are its own
        "redirect": {"redirect_uri": "http://platform.example/callback"},
    })
    assert code == 2
    for name, (key, _) in REMOTE.items():
        assert not rows[name]["ok"], name
        assert f"profile '{name}', key '{key}'" in rows[name]["error"]
        assert PLAIN_HTTP_ONLY_LOCAL in rows[name]["error"]
    assert all(rows[name]["ok"] for name in ("local", "tls", "redirect")), rows


@pytest.mark.parametrize(("key", "path"), [("base_url", ""), ("login_url", "/login"),
                                           ("token_path", "/openapi/oauth2/token")])
def test_a_session_refuses_before_sending_anything(connect: Any, token_home: Path,
                                                   key: str, path: str) -> None:
    # 0.0.0.0 reaches this sandbox on Linux, but it is not loopback: refused all the same.
    profile = profile_for(connect, "remote", **{key: f"http://0.0.0.0:{connect.port}{path}"})
    with pytest.raises(ProfileError) as info:
        brokerauth.session(profile, clock=connect.clock)
    assert info.value.key == key
    assert sum(connect.calls.values()) == 0


@pytest.mark.parametrize("name", list(environments.BY_NAME))
def test_no_named_environment_is_plain_http(name: str) -> None:
    settings = ConnectSettings(client_id="c", client_secret=Secret(env="C"),
                               app_key=Secret(env="K"), app_secret=Secret(env="S"), scope="s",
                               redirect_uri=PLATFORM_REDIRECT, environment=name)
    urls = [settings.api_base_url, settings.authorize_url]
    if not settings.token_url.startswith("/"):
        urls.append(settings.token_url)
    for url in urls:
        assert url.startswith("https://"), url
        assert plain_http_allowed(url)
