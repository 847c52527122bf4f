"""Credential events reach the profile's webhook once, however many processes notice them:
four programs sharing a token store, each seeing the user's withdrawn authorization (or each
running keep-alive near the authorization's end), make one POST — over real HTTP on loopback,
in separate processes, against a Connect sandbox and a webhook receiver in this one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import brokerauth
import pytest
import tomli_w
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.emulators import profile_table
from brokerauth_sandbox.pytest_plugin import NOTIFY_WEBHOOK
from brokerauth_sandbox.receiver import WebhookReceiver
from brokerauth_sandbox.server import HeadlessBrowser
from connect_helpers import ACCOUNTS, profile_for

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
PROCESSES = 4


@pytest.fixture
def world(sandbox_factory: Any, token_home: Path, tmp_path: Path, plugin_host: PluginHost,
          webhook: WebhookReceiver) -> tuple[Any, dict[str, str]]:
    """A Connect sandbox on the real clock with a user logged in, and the environment whose
    profiles file names it with the webhook notifier."""
    connect = sandbox_factory("webull_connect", clock=SystemClock())
    connect.auto_approve = True
    with brokerauth.session(profile_for(connect), host=plugin_host,
                            interaction=HeadlessBrowser()) as session:
        assert session.get(ACCOUNTS).ok
        connect.test_identity = session.token.identity
    table, env = profile_table("webull_connect", connect.profile_settings(), "CONNECT_")
    table["notify"] = NOTIFY_WEBHOOK
    path = tmp_path / "brokerauth.toml"
    path.write_text(tomli_w.dumps({"profiles": {"connect": table}}), encoding="utf-8")
    return connect, {**os.environ, **env, "BROKERAUTH_PROFILES": str(path)}


def at_once(env: dict[str, str], *args: str) -> list[subprocess.CompletedProcess[str]]:
    children = [subprocess.Popen([BROKERAUTH, *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                 env=env) for _ in range(PROCESSES)]
    done = []
    for child in children:
        out, err = child.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return done


def test_a_withdrawn_authorization_is_told_once_by_four_processes(
    world: tuple[Any, dict[str, str]], webhook: WebhookReceiver,
) -> None:
    connect, env = world
    connect.revoke_user(connect.test_identity)
    results = at_once(env, "request", "connect", "GET", ACCOUNTS)
    assert [r.returncode for r in results] == [3] * PROCESSES, [r.stderr for r in results]
    (event,) = webhook.events
    assert event["event"] == "login_needed"
    assert event["profile"] == "connect"
    assert event["login_command"] == "brokerauth login connect"
    for result in results:
        assert "s3cr3t-path" not in result.stdout + result.stderr
    # Later runs adopt the record: still one.
    at_once(env, "keepalive", "--within", "1d")
    assert len(webhook.events) == 1


def test_an_approaching_end_is_told_once_by_four_keepalives(
    world: tuple[Any, dict[str, str]], webhook: WebhookReceiver,
) -> None:
    _, env = world
    results = at_once(env, "keepalive", "--within", "20d")
    assert {r.returncode for r in results} == {3}
    (event,) = webhook.events
    assert event["event"] == "expiring"
    assert event["must_act_by"] is not None
    at_once(env, "keepalive", "--within", "20d")
    assert len(webhook.events) == 1


def test_a_person_retrying_a_dead_grant_is_not_told_again(
    connect: Any, make_session: Any, webhook: WebhookReceiver,
) -> None:
    session = make_session(notify=NOTIFY_WEBHOOK)
    assert session.get(ACCOUNTS).ok
    connect.revoke_user(session.token.identity)
    for _ in range(3):  # `brokerauth refresh`, asked again and again: each one tries
        with pytest.raises(LoginRequiredError):
            session.refresh()
    assert [e["event"] for e in webhook.events] == ["login_needed"]
    assert connect.refresh_calls >= 3
