"""``brokerauth login --no-browser`` with the browser on another machine: the redirect to the
loopback listener never arrives, and the person pastes the address the browser shows instead.

The sandbox runs as ``brokerauth --json sandbox futu`` in one process and the login in another,
on loopback and the real clock.  The test is the far browser: it opens the authorization URL
printed on stderr, stops at the redirect to the loopback port (its ``Location``, not followed),
and pastes that on the login's standard input.  Wrong pastes are refused with a reason and the
login goes on; a pasted code the server does not know fails at the token exchange with the
server's reason; the code never shows on the terminal."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import tomli_w
from brokerauth_sandbox.commandline_check import Child, assert_clean_exit

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))
AUTHORIZE = re.compile(r"^\s*(http://\S+/oauth2/authorize\?\S+)$", re.MULTILINE)


@pytest.fixture
def env(tmp_path: Path, token_home: Path) -> Iterator[dict[str, str]]:
    """The environment of a login against a running ``brokerauth --json sandbox futu``: its
    OAuth profile ``fu``, listening on a free port (not the sandbox's fixed one, which another
    run on this machine may hold)."""
    child = Child([BROKERAUTH, "--json", "sandbox", "futu", "--name", "fu"], tmp_path / "sandbox")
    try:
        described = json.loads(child.until("\n}\n"))
        profiles = described["profiles"]
        profiles["fu"] = {**profiles["fu"], "redirect_uri": "http://127.0.0.1:0/callback",
                          "login_timeout": 60}
        path = tmp_path / "brokerauth.toml"
        path.write_text(tomli_w.dumps({"profiles": profiles}), encoding="utf-8")
        yield {**os.environ, **described["env"], "BROKERAUTH_PROFILES": str(path),
               "BROWSER": "false"}
    finally:
        child.interrupt()
        assert_clean_exit(child)


class Login:
    """``brokerauth --json login fu --no-browser`` in a subprocess, stdin a pipe; its stderr
    read by a thread so that every wait has a deadline."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [BROKERAUTH, "--json", "login", "fu", "--no-browser"], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.stderr = ""
        self._chunks: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._chunks.put(line)
        self._chunks.put(None)

    def until(self, pattern: str | re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        """The first match of ``pattern`` in stderr (what was read so far, then more) within
        ``timeout`` seconds."""
        found = re.compile(re.escape(pattern) if isinstance(pattern, str) else pattern.pattern,
                           re.MULTILINE)
        deadline = time.monotonic() + timeout
        while (match := found.search(self.stderr)) is None:
            try:
                chunk = self._chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {found.pattern!r} within {timeout} s: "
                                     f"{self.stderr!r}") from None
            if chunk is None:
                raise AssertionError(f"exited before {found.pattern!r}: {self.stderr!r}")
            self.stderr += chunk
        return match

    def paste(self, url: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(url + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
        """The exit code and the JSON printed on stdout."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise AssertionError(f"the login hung: {self.stderr!r}") from None
        self._reader.join(10)
        while not self._chunks.empty():
            self.stderr += self._chunks.get_nowait() or ""
        return self.process.returncode, json.loads(out)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def login(env: dict[str, str]) -> Iterator[Any]:
    started: list[Login] = []

    def start() -> Login:
        started.append(Login(env))
        return started[-1]

    yield start
    for each in started:
        each.close()


def approve_far_away(authorization_url: str) -> str:
    """What the far browser does after the person approves: follows the authorization
    server's redirects, and shows in its address bar the first one that leaves the server —
    the redirect to the loopback listener, which it cannot reach (not followed here)."""
    url = authorization_url
    server = urlsplit(authorization_url).netloc
    for _ in range(5):
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            response = connection.getresponse()
            response.read()
            location = response.getheader("Location")
        finally:
            connection.close()
        assert response.status in (302, 303), response.status
        assert location
        url = urljoin(url, location)
        if urlsplit(url).netloc != server:
            return url
    raise AssertionError("the authorization server never redirected back")


def replaced(url: str, **changes: str) -> str:
    """``url`` with parts (``netloc``, ``path``) or query parameters changed."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if name in ("netloc", "path"):
            parts = parts._replace(**{name: value})
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def status(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run([BROKERAUTH, "status", "fu", "--json"], capture_output=True,
                            text=True, env=env, timeout=60, check=False,
                            stdin=subprocess.DEVNULL)
    row: dict[str, Any] = json.loads(result.stdout)["profiles"][0]
    return row


def assert_no_secret_shown(run: Login, redirect: str) -> None:
    query = dict(parse_qsl(urlsplit(redirect).query))
    assert query["code"] not in run.stderr
    assert query["state"] not in run.stderr.split("/oauth2/authorize?", 1)[-1].split("\n", 1)[1]
    assert "Traceback" not in run.stderr


def test_the_pasted_redirect_logs_in(env: dict[str, str], login: Any) -> None:
    assert status(env)["state"] == "needs login"
    run = login()
    redirect = approve_far_away(run.until(AUTHORIZE).group(1))
    run.until("paste the whole address it shows here")
    run.paste(redirect)
    code, answer = run.finish()
    assert code == 0, run.stderr
    assert answer["token"] is True
    assert_no_secret_shown(run, redirect)
    assert status(env)["state"] == "fresh"


def test_wrong_pastes_are_refused_and_the_right_one_still_logs_in(
    env: dict[str, str], login: Any
) -> None:
    run = login()
    redirect = approve_far_away(run.until(AUTHORIZE).group(1))
    here = urlsplit(redirect)
    assert here.hostname == "127.0.0.1"
    assert here.path == "/callback"
    wrongs = [
        (replaced(redirect, state="a" * 43), "its state is missing or is not this login's"),
        (replaced(redirect, netloc=f"127.0.0.1:{here.port + 1 if here.port != 65535 else 1}"),
         "its host or port is not this login's redirect"),
        (replaced(redirect, netloc=f"example.com:{here.port}"),
         "its host or port is not this login's redirect"),
        (replaced(redirect, path="/callbacks"), "its path is not this login's redirect"),
    ]
    for wrong, reason in wrongs:
        run.paste(wrong)
        run.until(reason)
    assert run.stderr.count("Paste it again.") == len(wrongs)
    assert run.process.poll() is None  # still waiting
    run.paste(redirect)
    code, answer = run.finish()
    assert code == 0, run.stderr
    assert answer["token"] is True
    assert_no_secret_shown(run, redirect)
    assert status(env)["state"] == "fresh"


def test_a_pasted_code_the_server_does_not_know_fails_at_the_exchange(
    env: dict[str, str], login: Any
) -> None:
    run = login()
    redirect = approve_far_away(run.until(AUTHORIZE).group(1))
    forged = replaced(redirect, code="not-the-code-" + "x" * 30)
    run.paste(forged)
    code, answer = run.finish()
    assert code != 0
    error = answer["error"]
    # The server's reason (the sandbox's invalid_grant description), scrubbed of the code.
    assert "unknown authorization code" in error["message"], error
    assert "not-the-code-" not in json.dumps(answer) + run.stderr
    assert_no_secret_shown(run, redirect)
    assert status(env)["state"] == "needs login"
