"""Credential events reach the profile's webhook once, however many processes notice them:
four programs sharing a token store, each seeing the user's withdrawn authorization (or each
running keep-alive near the authorization's end), make one POST — over real HTTP on loopback,
in separate processes, against a Connect sandbox and a webhook receiver in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import LoginRequiredError
import tomli_w
from brokerauth.contract.clock import SystemClock
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.emulators import profile_table
from brokerauth_sandbox.server import HeadlessBrowser
from connect_helpers import ACCOUNTS, profile_for

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
PROCESSES = 4


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint that keeps what it is sent."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook/s3cr3t-path"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(min(length, 65536)))
        with self.server.lock:
            self.server.events.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(sandbox_factory: Any, token_home: Path, tmp_path: Path, plugin_host: PluginHost,
          receiver: Receiver) -> tuple[Any, dict[str, str]]:
    """A Connect sandbox on the real clock with a user logged in, and the environment whose
    profiles file names it with the webhook notifier."""
    connect = sandbox_factory("webull_connect", clock=SystemClock())
    connect.auto_approve = True
    with brokerauth.session(profile_for(connect), host=plugin_host,
                            interaction=HeadlessBrowser()) as session:
        assert session.get(ACCOUNTS).ok
        connect.test_identity = session.token.identity
    table, env = profile_table("webull_connect", connect.profile_settings(), "CONNECT_")
    table["notify"] = {"name": "webhook", "url": {"env": "HOOK_URL"}}
    path = tmp_path / "brokerauth.toml"
    path.write_text(tomli_w.dumps({"profiles": {"connect": table}}), encoding="utf-8")
    return connect, {**os.environ, **env, "HOOK_URL": receiver.url,
                     "BROKERAUTH_PROFILES": str(path)}


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
    world: tuple[Any, dict[str, str]], receiver: Receiver,
) -> None:
    connect, env = world
    connect.revoke_user(connect.test_identity)
    results = at_once(env, "request", "connect", "GET", ACCOUNTS)
    assert [r.returncode for r in results] == [3] * PROCESSES, [r.stderr for r in results]
    (event,) = receiver.events
    assert event["event"] == "login_needed"
    assert event["profile"] == "connect"
    assert event["login_command"] == "brokerauth login connect"
    for result in results:
        assert "s3cr3t-path" not in result.stdout + result.stderr
    # Later runs adopt the record: still one.
    at_once(env, "keepalive", "--within", "1d")
    assert len(receiver.events) == 1


def test_an_approaching_end_is_told_once_by_four_keepalives(
    world: tuple[Any, dict[str, str]], receiver: Receiver,
) -> None:
    _, env = world
    results = at_once(env, "keepalive", "--within", "20d")
    assert {r.returncode for r in results} == {3}
    (event,) = receiver.events
    assert event["event"] == "expiring"
    assert event["must_act_by"] is not None
    at_once(env, "keepalive", "--within", "20d")
    assert len(receiver.events) == 1


def test_a_person_retrying_a_dead_grant_is_not_told_again(
    connect: Any, make_session: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url)
    session = make_session(notify={"name": "webhook", "url": {"env": "HOOK_URL"}})
    assert session.get(ACCOUNTS).ok
    connect.revoke_user(session.token.identity)
    for _ in range(3):  # `brokerauth refresh`, asked again and again: each one tries
        with pytest.raises(LoginRequiredError):
            session.refresh()
    assert [e["event"] for e in receiver.events] == ["login_needed"]
    assert connect.refresh_calls >= 3
