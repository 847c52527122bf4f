"""``python -m brokerauth_webull.sandbox``: prints where it listens and its credentials, serves
signed requests, lets the user "enter the SMS code" with Enter, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import urllib3
from brokerauth.wire import Request
from brokerauth_webull import signing


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    seen = ""
    while marker not in seen:
        line = process.stdout.readline()
        assert line, f"the sandbox exited early: {seen!r}"
        seen += line
    return seen


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


def test_command_line_sandbox() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "brokerauth_webull.sandbox", "--two-factor", "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_until(process, "Ctrl-C stops.")
        base_url = field(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        key = field(r"app key:\s+(\S+)", banner)
        secret = field(r"app secret:\s+(\S+)", banner)
        assert f'base_url = "{base_url}"' in banner

        config = signed_call(base_url, key, secret, "GET", "/openapi/config")
        assert config.json() == {"token_check_enabled": True}
        created = signed_call(base_url, key, secret, "POST", "/auth/tokens/create", b"{}").json()
        assert created["status"] == "PENDING"

        assert process.stdin is not None
        process.stdin.write("\n")
        process.stdin.flush()
        read_until(process, "verified the latest pending token")
        body = json.dumps({"token": created["token"]}).encode()
        checked = signed_call(base_url, key, secret, "POST", "/auth/tokens/check", body).json()
        assert checked["status"] == "NORMAL"
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
