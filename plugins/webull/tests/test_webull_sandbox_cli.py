"""``python -m brokerauth_webull.sandbox.server``: prints where it listens and its credentials,
serves signed requests, lets the user "enter the SMS code" with Enter, and stops cleanly on Ctrl-C
whenever it comes (before the banner, during it, while serving or answering a line, while
stopping): exit 0, nothing on stderr. Every wait has a deadline; no test sleeps and hopes: each
SIGINT lands at a known point (held until the command line takes it, after a line read on stdout,
or raised by the child itself at a pinned point)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import urllib3
from brokerauth.contract.wire import Request
from brokerauth_sandbox.commandline_check import (
    PIN,
    Child,
    assert_clean_exit,
    ctrl_c_after_the_banner,
    ctrl_c_at_once,
)
from brokerauth_webull import signing

COMMAND = [sys.executable, "-m", "brokerauth_webull.sandbox.server"]
FIRST_LINE = "Webull sandbox listening on"
LAST_LINE = "Ctrl-C stops."

def field(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the banner"
    return match.group(1)


def signed_call(
    base_url: str, key: str, secret: str, method: str, path: str, body: bytes | None = None
) -> urllib3.BaseHTTPResponse:
    request = Request.from_url(method, base_url + path, body=body)
    now = datetime.now(UTC).strftime(signing.TIMESTAMP_FORMAT)
    headers = signing.signature_headers(request, key, secret, now, str(uuid.uuid4()))
    return urllib3.request(method, request.url, body=body, headers=headers, retries=False)


def test_command_line_sandbox(tmp_path: Path) -> None:
    command = [*COMMAND, "--two-factor", "--port", "0"]
    with Child(command, tmp_path, stdin=subprocess.PIPE) as child:
        banner = child.until(LAST_LINE)
        base_url = field(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        key = field(r"app key:\s+(\S+)", banner)
        secret = field(r"app secret:\s+(\S+)", banner)
        assert f'base_url = "{base_url}"' in banner

        config = signed_call(base_url, key, secret, "GET", "/openapi/config")
        assert config.json() == {"token_check_enabled": True}
        created = signed_call(base_url, key, secret, "POST", "/auth/tokens/create", b"{}").json()
        assert created["status"] == "PENDING"

        child.write("\n")
        child.until("verified the latest pending token")
        body = json.dumps({"token": created["token"]}).encode()
        checked = signed_call(base_url, key, secret, "POST", "/auth/tokens/check", body).json()
        assert checked["status"] == "NORMAL"
        child.interrupt()  # right after a request was served
        assert_clean_exit(child)


def test_ctrl_c_right_after_a_typed_line_was_answered(tmp_path: Path) -> None:
    with Child(COMMAND, tmp_path, stdin=subprocess.PIPE) as child:
        child.until(LAST_LINE)
        child.write("\n")
        child.until("no pending token to verify")
        child.interrupt()  # as it goes back to reading standard input
        assert_clean_exit(child)


def test_ctrl_c_at_once_after_start_is_a_clean_exit(tmp_path: Path) -> None:
    ctrl_c_at_once(COMMAND, tmp_path, LAST_LINE)



def test_ctrl_c_after_the_banner_and_more_while_stopping(tmp_path: Path) -> None:
    assert FIRST_LINE in ctrl_c_after_the_banner(COMMAND, tmp_path, LAST_LINE)



@pytest.mark.parametrize("point", ["reading the arguments", "binding the port",
                                   "the server just started", "printing the banner",
                                   "answering a typed line", "stopping"])
def test_ctrl_c_at_each_point_is_a_clean_exit(point: str, tmp_path: Path) -> None:
    command = [sys.executable, "-c", PIN, point, *COMMAND[2:]]
    with Child(command, tmp_path, stdin=subprocess.PIPE) as child:
        if point == "answering a typed line":
            child.until(LAST_LINE)
            child.write("\n")
        elif point == "stopping":  # the Ctrl-C that starts the stop, then one inside it
            child.until(LAST_LINE)
            child.interrupt()
        out = assert_clean_exit(child)
    if point in ("printing the banner", "answering a typed line", "stopping"):
        assert LAST_LINE in out  # never cut in the middle
    else:
        assert out == ""  # stopped before it said it listens
