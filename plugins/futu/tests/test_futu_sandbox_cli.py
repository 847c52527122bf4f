"""``python -m brokerauth_futu.sandbox``: prints where it listens and its throwaway
credentials, serves signed requests and logins, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import urllib3
from brokerauth.wire import Request
from brokerauth_futu import signing


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


def test_command_line_sandbox() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "brokerauth_futu.sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    try:
        banner = read_until(process, "Ctrl-C stops.")
        base_url = field(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        key = field(r"app key:\s+(\S+)", banner)
        secret = field(r"app secret:\s+(\S+)", banner)
        token = field(r"access token:\s+(\S+)", banner)
        folder = Path(field(r"token folder:\s+(\S+)", banner))
        assert f'base_url = "{base_url}"' in banner
        assert folder.is_dir()

        request = Request.from_url("GET", base_url + "/v1/quote/snapshot")
        headers = signing.headers(
            method="GET", path=request.path, body=None,
            timestamp=int(datetime.now(UTC).timestamp()), app_key=key, app_secret=secret,
            access_token=token,
        )
        answer = urllib3.request("GET", request.url, headers=headers, retries=False)
        assert answer.status == 200, answer.data
        metadata = urllib3.request(
            "GET", base_url + "/.well-known/oauth-authorization-server/oauth2", retries=False)
        assert metadata.json()["issuer"] == base_url + "/oauth2"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
            assert process.stdout is not None
            assert process.stderr is not None
            process.stdout.close()
            process.stderr.close()
    assert not os.path.exists(folder)  # the sandbox's token folder goes with it
