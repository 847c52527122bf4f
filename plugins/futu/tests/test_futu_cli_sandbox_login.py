"""``brokerauth sandbox futu`` and the profiles it prints, used as a user uses them: the sandbox
in one process, ``brokerauth status``, ``login`` and ``request`` in others, on loopback and the
real clock. The OAuth profile names only ``base_url``: the login finds the OAuth server through
the RFC 8414 metadata served there (never at Futu's own hosts), registers a client, and the
browser (a script named by ``BROWSER``, as :mod:`webbrowser` runs it) follows the approval back
to the loopback listener. The login's account facts are shown by ``status``."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))

# webbrowser runs BROWSER with the URL as its one argument and waits for it to end.
VISIT = f"""#!{sys.executable}
import sys
from brokerauth_sandbox.server import HeadlessBrowser

browser = HeadlessBrowser()
browser.open_url(sys.argv[1])
sys.exit(0 if browser.final_status == 200 else 1)
"""


@pytest.fixture
def started(sandbox_command: Any, tmp_path: Path) -> Any:
    """``started(*options)``: ``brokerauth --json sandbox futu OPTIONS`` running, and the
    environment in which its printed profiles are the profiles file and the browser visits
    what it is given."""
    browser = tmp_path / "visit"
    browser.write_text(VISIT, encoding="utf-8")
    browser.chmod(stat.S_IRWXU)

    def start(*options: str) -> tuple[dict[str, Any], dict[str, str]]:
        described, env = sandbox_command("futu", *options, name="fu")
        return described, {**env, "BROWSER": str(browser)}

    return start


def brokerauth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


def status(env: dict[str, str], profile: str) -> dict[str, Any]:
    result = brokerauth(env, "status", profile, "--json")
    row: dict[str, Any] = json.loads(result.stdout)["profiles"][0]
    return row


@pytest.mark.parametrize("options", [(), ("--authorize-path", "/oauth2/authorize/confirm")],
                         ids=["openapi-layout", "futu-cli-layout"])
def test_the_oauth_profile_logs_in_through_discovery_alone(
    started: Any, options: tuple[str, ...]
) -> None:
    described, env = started(*options)
    table = described["profiles"]["fu"]
    assert "oauth_base_url" not in table
    assert "authorize_path" not in table
    assert table["base_url"] == described["base_url"]
    assert status(env, "fu")["state"] == "needs login"

    login = brokerauth(env, "login", "fu", "--json")
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["token"] is True
    # The authorization URL the person opens is the one the metadata names.
    assert described["base_url"] + (options[1] if options else "/oauth2/authorize") + "?" \
        in login.stderr

    row = status(env, "fu")
    assert row["state"] == "fresh"
    assert row["refresh_token"] is True
    assert row["facts"]["futu_id"] == "10000001"
    assert row["facts"]["account_no"] == "SANDBOX-0001"
    assert row["facts"]["quote_permissions"] == "us:lv1 hk:lv2"
    shown = brokerauth(env, "status", "fu")
    assert "Sandbox User" in shown.stdout
    assert "futu_id" in shown.stdout

    request = brokerauth(env, "request", "fu", "GET", "/v1/quote/snapshot")
    assert request.returncode == 0, request.stderr
    refreshed = brokerauth(env, "refresh", "fu")
    assert refreshed.returncode == 0, refreshed.stderr
    assert status(env, "fu")["facts"]["futu_id"] == "10000001"  # kept across a refresh


def test_the_api_key_profile_is_printed_beside_it(started: Any) -> None:
    described, env = started()
    table = described["profiles"]["fu-key"]
    assert table["mode"] == "api_key"
    assert set(described["env"]) == {"BROKERAUTH_SANDBOX_FUTU_APP_KEY",
                                     "BROKERAUTH_SANDBOX_FUTU_APP_SECRET",
                                     "BROKERAUTH_SANDBOX_FUTU_ACCESS_TOKEN"}
    assert status(env, "fu-key")["state"] != "needs login"
    request = brokerauth(env, "request", "fu-key", "GET", "/v1/quote/snapshot")
    assert request.returncode == 0, request.stderr
    for secret in described["env"].values():
        assert secret not in request.stdout + request.stderr


def test_api_key_first_when_asked(started: Any) -> None:
    described, _ = started("--mode", "api_key")
    assert described["profiles"]["fu"]["mode"] == "api_key"
    assert "mode" not in described["profiles"]["fu-oauth"]
