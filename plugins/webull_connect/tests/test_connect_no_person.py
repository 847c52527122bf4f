"""A run no one can act in (no terminal, ``interactive=False``) never waits for a person: a
login that needs the browser fails at once, naming the command to run (QUALITY item 25)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth_sandbox.server import HeadlessBrowser
from connect_helpers import profile_for

ACCOUNTS = "/oauth-openapi/account/list"


@pytest.mark.parametrize("interactive", [False, None], ids=["interactive=False", "no terminal"])
def test_a_login_with_no_one_there_fails_at_once(
    connect: Any, token_home: Path, plugin_host: Any, interactive: bool | None
) -> None:
    # pytest's standard input is not a terminal: the default (None) is a run with no one.
    # A short login_timeout bounds the test should the login wait after all.
    session = brokerauth.session(profile_for(connect, login_timeout=2), user="nobody",
                                 clock=connect.clock, host=plugin_host, interactive=interactive)
    started = time.monotonic()
    with pytest.raises(LoginRequiredError) as caught:
        session.get(ACCOUNTS)
    assert time.monotonic() - started < 1.0
    assert "brokerauth login connect --user nobody" in (caught.value.hint or "")
    assert sum(connect.calls.values()) == 0  # not even the token endpoint was asked


def test_an_interaction_given_is_a_person(
    connect: Any, token_home: Path, plugin_host: Any
) -> None:
    session = brokerauth.session(profile_for(connect), clock=connect.clock, host=plugin_host,
                                 interaction=HeadlessBrowser())
    assert session.get(ACCOUNTS).ok


def test_interactive_false_wins_over_an_interaction(
    connect: Any, token_home: Path, plugin_host: Any
) -> None:
    session = brokerauth.session(profile_for(connect), clock=connect.clock, host=plugin_host,
                                 interaction=HeadlessBrowser(), interactive=False)
    with pytest.raises(LoginRequiredError):
        session.get(ACCOUNTS)
    assert sum(connect.calls.values()) == 0


def test_cli_request_without_a_terminal_fails_at_once(
    connect: Any, token_home: Path, tmp_path: Path
) -> None:
    settings = connect.profile_settings()
    lines = ["[profiles.connect]", 'broker = "webull_connect"', "login_timeout = 2"]
    env = dict(os.environ, BROKERAUTH_HOME=str(token_home))
    for key, value in settings.items():
        if hasattr(value, "reveal"):
            variable = f"CONNECT_{key.upper()}"
            env[variable] = value.reveal()
            lines.append(f'{key} = {{ env = "{variable}" }}')
        else:
            lines.append(f"{key} = {value!r}".replace("'", '"'))
    path = tmp_path / "profiles.toml"
    path.write_text("\n".join(lines) + "\n")
    env["BROKERAUTH_PROFILES"] = str(path)
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("brokerauth")), "request", "connect", "GET",
         ACCOUNTS],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 10  # a start-up, not the 300 s login timeout
    assert "brokerauth login connect" in result.stderr
    assert sum(connect.calls.values()) == 0
