"""`brokerauth login` for a Webull profile, driven as a user drives it: a subprocess against
the sandbox on loopback, on the real clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


@pytest.fixture
def live(sandbox_factory: Any, token_home: Path, tmp_path: Path) -> dict[str, Any]:
    sandbox = sandbox_factory("webull", clock=SystemClock())
    sandbox.two_factor_required = True
    path = tmp_path / "profiles.toml"
    path.write_text(
        "[profiles.wb]\n"
        'broker = "webull"\n'
        f'base_url = "{sandbox.base_url}"\n'
        'app_key = { env = "WB_KEY" }\n'
        'app_secret = { env = "WB_SECRET" }\n'
        'two_factor = "on"\n'
        "poll_interval = 3\n"
        "verification_timeout = 3\n"
    )
    env = {**os.environ, "WB_KEY": sandbox.app_key, "WB_SECRET": sandbox.app_secret,
           "BROKERAUTH_PROFILES": str(path)}
    return {"sandbox": sandbox, "env": env}


def login(live: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, "login", "wb", *extra], capture_output=True, text=True,
                          env=live["env"], timeout=60)


def test_2fa_timeout_says_what_happened_and_what_to_do(live: dict[str, Any]) -> None:
    result = login(live)
    assert result.returncode == 3, result.stderr
    assert "OpenAPI Notifications" in result.stderr  # the user was told where to look
    assert "timed out" in result.stderr
    assert "brokerauth login wb" in result.stderr
    assert live["sandbox"].app_secret not in result.stdout + result.stderr


def test_2fa_login_completes_when_the_code_is_entered(live: dict[str, Any]) -> None:
    sandbox = live["sandbox"]

    def person() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sandbox.tokens_created:
                sandbox.enter_sms_code()
                return
            time.sleep(0.05)

    helper = threading.Thread(target=person)
    helper.start()
    result = login(live, "--json")
    helper.join()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["token"] is True
    status = subprocess.run([BROKERAUTH, "status", "wb", "--json"], capture_output=True,
                            text=True, env=live["env"], timeout=60)
    assert json.loads(status.stdout)["profiles"][0]["state"] == "fresh"
    request = subprocess.run([BROKERAUTH, "request", "wb", "GET", "/openapi/account/list"],
                             capture_output=True, text=True, env=live["env"], timeout=60)
    assert request.returncode == 0, request.stderr


def test_a_request_signed_with_a_wrong_app_secret_says_what_to_check(
    live: dict[str, Any]
) -> None:
    """The broker's answer alone ("Header x-signature is invalid.") does not tell a new user
    which setting is wrong: `request` adds the plugin's fix, as `login` does."""
    path = Path(live["env"]["BROKERAUTH_PROFILES"])
    path.write_text(path.read_text().replace('two_factor = "on"', 'two_factor = "off"'))
    env = {**live["env"], "WB_SECRET": "wrong-" + live["sandbox"].app_secret[6:]}
    result = subprocess.run([BROKERAUTH, "request", "wb", "GET", "/openapi/account/list"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 4, result.stderr
    assert "HTTP 401" in result.stderr
    assert "fix: check app_key, app_secret and the profile's environment" in result.stderr
    assert env["WB_SECRET"] not in result.stdout + result.stderr
    data = subprocess.run([BROKERAUTH, "request", "wb", "GET", "/openapi/account/list",
                           "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(data.stdout)["hint"].startswith("check app_key, app_secret")
