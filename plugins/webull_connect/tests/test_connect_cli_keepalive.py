"""``brokerauth keepalive``, ``users`` and ``status`` as cron and a platform's operator run them:
separate processes on the real clock, against a Connect sandbox in this one. Keep-alive is
quiet and exits 0 when nothing is due, exits 10 when it pushed something back, and exits 3
naming the command when a person must act; ``users --expiring`` lists who; ``status`` shows
until when each credential works and by when a person must act."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import brokerauth
import pytest
import tomli_w
from brokerauth.contract.clock import SystemClock
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.emulators import profile_table
from brokerauth_sandbox.server import HeadlessBrowser
from brokerauth_webull_connect import begin_login, complete
from connect_helpers import ACCOUNTS, approve, profile_for

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


@pytest.fixture
def live(sandbox_factory: Any, token_home: Path, tmp_path: Path,
         plugin_host: PluginHost) -> tuple[Any, dict[str, str]]:
    """A Connect sandbox on the real clock, a user logged in, and the environment in which
    the profiles file names it."""
    connect = sandbox_factory("webull_connect", clock=SystemClock())
    connect.auto_approve = True
    with brokerauth.session(profile_for(connect), host=plugin_host,
                            interaction=HeadlessBrowser()) as session:
        assert session.get(ACCOUNTS).ok
        connect.test_identity = session.token.identity  # Webull's identity_id for the user
    table, env = profile_table("webull_connect", connect.profile_settings(), "CONNECT_")
    path = tmp_path / "brokerauth.toml"
    path.write_text(tomli_w.dumps({"profiles": {"connect": table}}), encoding="utf-8")
    return connect, {**os.environ, **env, "BROKERAUTH_PROFILES": str(path)}


def brokerauth_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKERAUTH, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


def test_nothing_due_is_quiet_and_exits_0(live: tuple[Any, dict[str, str]]) -> None:
    connect, env = live
    result = brokerauth_cli(env, "keepalive", "--within", "3d")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert connect.refresh_calls == 0


def test_a_hard_end_inside_the_window_is_reported_with_the_command(
    live: tuple[Any, dict[str, str]],
) -> None:
    connect, env = live
    # 15 days left, inside a 20-day window, and no refresh moves it: a person must act by
    # then.  (Logged in a moment ago: not refreshed again, which would change nothing.)
    result = brokerauth_cli(env, "keepalive", "connect", "--within", "20d", "--json")
    assert result.returncode == 3, result.stderr
    (row,) = json.loads(result.stdout)["credentials"]
    assert row["action"] == "person"
    assert row["refreshed"] is False
    assert row["command"] == "brokerauth login connect"
    assert row["must_act_by"] is not None
    assert connect.refresh_calls == 0
    text = brokerauth_cli(env, "keepalive", "connect", "--within", "20d")
    assert "a person must act by" in text.stdout
    assert "run: brokerauth login connect" in text.stdout


def test_a_revoked_authorization_exits_3_with_the_login_command_and_users_lists_it(
    live: tuple[Any, dict[str, str]],
) -> None:
    connect, env = live
    connect.revoke_user(connect.test_identity)
    request = brokerauth_cli(env, "request", "connect", "GET", ACCOUNTS)
    assert request.returncode == 3, request.stderr  # refused: the user withdrew it
    result = brokerauth_cli(env, "keepalive", "--within", "1d")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "run: brokerauth login connect" in result.stdout
    users = brokerauth_cli(env, "users", "connect", "--expiring", "1d", "--json")
    assert users.returncode == 3, users.stderr
    (user,) = json.loads(users.stdout)["users"]
    assert user["needs_person"] is True
    assert user["login_command"] == "brokerauth login connect"


def test_status_shows_until_when_it_works_and_by_when_a_person_must_act(
    live: tuple[Any, dict[str, str]],
) -> None:
    _, env = live
    result = brokerauth_cli(env, "status", "connect", "--json")
    (row,) = json.loads(result.stdout)["profiles"]
    assert row["works_until"] is not None
    assert row["works_until"] == row["must_act_by"]  # the authorization's 15 days
    text = brokerauth_cli(env, "status", "connect")
    assert "works until" in text.stdout
    assert "a person must act by" in text.stdout
    assert "(in 14d 23h)" in text.stdout or "(in 15d 0h)" in text.stdout


def test_all_users_goes_through_every_stored_identity(
    live: tuple[Any, dict[str, str]], plugin_host: PluginHost,
) -> None:
    connect, env = live
    # A second user of the platform, named by the platform.
    pending = begin_login(profile_for(connect), user="second", host=plugin_host)
    complete(pending, approve(pending.url), user="second", profile=profile_for(connect),
             host=plugin_host)
    result = brokerauth_cli(env, "keepalive", "--all-users", "--within", "20d", "--json")
    rows = json.loads(result.stdout)["credentials"]
    assert sorted(row["identity"] for row in rows) == ["default", "second"]
    assert {row["command"] for row in rows} == {"brokerauth login connect",
                                               "brokerauth login connect --user second"}


def test_a_refused_refresh_names_the_login_command_and_no_url_it_cannot_finish(
    live: tuple[Any, dict[str, str]],
) -> None:
    """The error's login URL belongs to a pending login that ends with this process: no one
    waits for its state, so the command line shows the command that logs in instead."""
    connect, env = live
    connect.revoke_user(connect.test_identity)
    result = brokerauth_cli(env, "refresh", "connect")
    assert result.returncode == 3, result.stderr
    assert "fix: run `brokerauth login connect`" in result.stderr
    assert "login url" not in result.stderr
    assert "/oauth2/authenticate/login" not in result.stderr
    assert ".;" not in result.stderr
