"""A Webull profile never sends its app key and signatures over plain http to another host
(QUALITY item 18): ``brokerauth profiles`` and ``brokerauth.session`` refuse the setting, and
no named environment is plain http."""

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
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.settings_checks import PLAIN_HTTP_ONLY_LOCAL, plain_http_allowed
from brokerauth_webull import environments
from brokerauth_webull.settings import WebullSettings

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


def check_profiles(tmp_path: Path, **base_urls: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "profiles.toml"
    path.write_text("".join(
        f'[profiles.{name}]\nbroker = "webull"\nbase_url = "{url}"\n'
        'app_key = { env = "WB_PLAIN_KEY" }\napp_secret = { env = "WB_PLAIN_SECRET" }\n\n'
        for name, url in base_urls.items()), encoding="utf-8")
    env = {**os.environ, "WB_PLAIN_KEY": "k", "WB_PLAIN_SECRET": "s"}
    result = subprocess.run([BROKERAUTH, "profiles", "--profiles", str(path), "--json"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    return result.returncode, {row["name"]: row for row in json.loads(result.stdout)["profiles"]}


def test_profiles_refuses_plain_http_base_url_on_another_host(tmp_path: Path,
                                                              token_home: Path) -> None:
    code, rows = check_profiles(tmp_path, remote="http://api.webull.com",
                                private="http://10.1.2.3:8080", local="http://127.0.0.1:8080",
                                v6="http://[::1]:8080", named="http://localhost:8080",
                                tls="https://api.webull.com")
    assert code == 2
    for name in ("remote", "private"):
        assert not rows[name]["ok"]
        assert f"profile '{name}', key 'base_url'" in rows[name]["error"]
        assert PLAIN_HTTP_ONLY_LOCAL in rows[name]["error"]
    assert "use 'https://api.webull.com'" in rows["remote"]["error"]
    assert all(rows[name]["ok"] for name in ("local", "v6", "named", "tls")), rows


def test_only_loopback_passes(tmp_path: Path, token_home: Path) -> None:
    code, rows = check_profiles(tmp_path, local="http://127.0.0.1:8080", v6="http://[::1]:8080",
                                named="http://localhost:8080")
    assert code == 0, rows


def test_a_session_refuses_before_sending_anything(sandbox_factory: Any, manual_clock: Any,
                                                   token_home: Path) -> None:
    sandbox = sandbox_factory("webull", clock=manual_clock)
    # 0.0.0.0 reaches this sandbox on Linux, but it is not loopback: refused all the same.
    table = {"broker": "webull", **sandbox.profile_settings(),
             "base_url": f"http://0.0.0.0:{sandbox.port}"}
    with pytest.raises(ProfileError) as info:
        brokerauth.session(Profile.from_mapping("remote", table), clock=manual_clock)
    assert info.value.key == "base_url"
    assert sum(sandbox.calls.values()) == 0


@pytest.mark.parametrize("name", list(environments.BY_NAME))
def test_no_named_environment_is_plain_http(name: str) -> None:
    settings = WebullSettings(app_key=Secret(env="K"), app_secret=Secret(env="S"),
                              environment=name)
    assert settings.api_base_url.startswith("https://")
    assert plain_http_allowed(settings.api_base_url)
