"""``brokerauth sandbox webull`` and the profile it prints, used as a user uses them: the sandbox
in one process, ``brokerauth status``, ``login`` and ``request`` in others, on loopback and the
real clock. With ``--two-factor`` the login goes through the whole 2FA flow (the test plays the
user entering the SMS code with ``POST /sandbox/2fa/verify``); without it, status and login
agree that the profile needs no token."""

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
import urllib3
from brokerauth.contract.clock import SystemClock

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


@pytest.fixture
def started(sandbox_command: Any) -> Any:
    """``started(*options)``: ``brokerauth --json sandbox webull OPTIONS`` running, and the
    environment in which its printed profile is the profiles file."""
    return lambda *options: sandbox_command("webull", *options, name="wb")


def brokerauth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def status(env: dict[str, str]) -> tuple[int, str]:
    result = brokerauth(env, "status", "wb", "--json")
    return result.returncode, json.loads(result.stdout)["profiles"][0]["state"]


def enter_sms_code(base_url: str, stop: threading.Event) -> None:
    """Play the user: enter the code once a token waits for it."""
    while not stop.is_set():
        answer = urllib3.request("POST", base_url + "/sandbox/2fa/verify", body=b"{}",
                                 retries=False)
        if answer.status == 200:
            return
        time.sleep(0.1)


def test_two_factor_login_end_to_end(started: Any) -> None:
    described, env = started("--two-factor")
    assert status(env) == (3, "needs login")

    stop = threading.Event()
    person = threading.Thread(target=enter_sms_code, args=(described["base_url"], stop))
    person.start()
    try:
        login = brokerauth(env, "login", "wb", "--json")
    finally:
        stop.set()
        person.join()
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["token"] is True
    assert status(env) == (0, "fresh")
    request = brokerauth(env, "request", "wb", "GET", "/openapi/account/list")
    assert request.returncode == 0, request.stderr
    for secret in described["env"].values():
        assert secret not in login.stdout + login.stderr + request.stderr


def test_without_two_factor_status_and_login_agree_no_token_is_needed(started: Any) -> None:
    _, env = started()
    assert status(env) == (0, "no token needed")
    login = brokerauth(env, "login", "wb", "--json")
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["token"] is False
    assert status(env) == (0, "no token needed")
    request = brokerauth(env, "request", "wb", "GET", "/openapi/account/list")
    assert request.returncode == 0, request.stderr


def test_an_unknown_emulator_option_is_refused_with_the_emulator_s_options(
    tmp_path: Path,
) -> None:
    result = subprocess.run([BROKERAUTH, "sandbox", "webull", "--two-factors"],
                            capture_output=True, text=True, timeout=60, check=False,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "--two-factors" in result.stderr
    helped = subprocess.run([BROKERAUTH, "sandbox", "webull", "--help"], capture_output=True,
                            text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert helped.returncode == 0
    assert "--two-factor" in helped.stdout
    assert "--auto-verify" in helped.stdout


def test_status_of_a_profile_that_asks_the_broker_sends_nothing(
    sandbox_factory: Any, token_home: Path, tmp_path: Path
) -> None:
    sandbox = sandbox_factory("webull", clock=SystemClock())
    path = tmp_path / "profiles.toml"
    path.write_text(
        "[profiles.wb]\n"
        'broker = "webull"\n'
        f'base_url = "{sandbox.base_url}"\n'
        'app_key = { env = "WB_KEY" }\n'
        'app_secret = { env = "WB_SECRET" }\n'
        'two_factor = "auto"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "WB_KEY": sandbox.app_key, "WB_SECRET": sandbox.app_secret,
           "BROKERAUTH_PROFILES": str(path)}
    # Only a login may ask Webull whether the account needs a token: status is offline.
    assert status(env) == (3, "needs login")
    signed = brokerauth(env, "sign", "-p", "wb", "GET", "/openapi/account/list")
    assert signed.returncode == 0, signed.stderr
    assert "brokerauth login wb" in signed.stderr
    assert sandbox.count("GET", "/openapi/config") == 0
