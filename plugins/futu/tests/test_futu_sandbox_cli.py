"""``python -m brokerauth_futu.sandbox.server``: prints where it listens and its throwaway
credentials, serves signed requests and logins, and stops cleanly on Ctrl-C whenever it comes
(before the banner, during it, while serving, while stopping): exit 0, nothing on stderr, its
token folder removed. Every wait has a deadline; no test sleeps and hopes: each SIGINT lands at a
known point (held until the command line takes it, after a line read on stdout, or raised by the
child itself at a pinned point)."""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import urllib3
from brokerauth.contract.wire import Request
from brokerauth_futu import signing
from brokerauth_sandbox.commandline_check import (
    Child,
    assert_clean_exit,
    ctrl_c_after_the_banner,
    ctrl_c_at_a_pinned_point,
    ctrl_c_at_once,
)

COMMAND = [sys.executable, "-m", "brokerauth_futu.sandbox.server"]
FIRST_LINE = "Futu sandbox listening on"
LAST_LINE = "Ctrl-C stops."

def field(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the banner"
    return match.group(1)


def test_command_line_sandbox(tmp_path: Path) -> None:
    with Child([*COMMAND, "--port", "0"], tmp_path) as child:
        banner = child.until(LAST_LINE)
        base_url = field(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        key = field(r"app key:\s+(\S+)", banner)
        secret = field(r"app secret:\s+(\S+)", banner)
        token = field(r"access token:\s+(\S+)", banner)
        folder = Path(field(r"token folder:\s+(\S+)", banner))
        assert f'base_url = "{base_url}"' in banner
        assert folder.is_dir()
        assert folder.parent == child.tmp

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
        child.interrupt()  # right after a request was served
        assert_clean_exit(child)
    assert not os.path.exists(folder)  # the sandbox's token folder goes with it


def test_ctrl_c_at_once_after_start_is_a_clean_exit(tmp_path: Path) -> None:
    ctrl_c_at_once(COMMAND, tmp_path, LAST_LINE)



def test_ctrl_c_after_the_banner_and_more_while_stopping(tmp_path: Path) -> None:
    assert FIRST_LINE in ctrl_c_after_the_banner(COMMAND, tmp_path, LAST_LINE)



@pytest.mark.parametrize("point", ["reading the arguments", "binding the port",
                                   "the server just started", "printing the banner",
                                   "stopping"])
def test_ctrl_c_at_each_point_is_a_clean_exit(point: str, tmp_path: Path) -> None:
    ctrl_c_at_a_pinned_point(point, COMMAND[2:], tmp_path, LAST_LINE)


def test_the_banners_profiles_are_toml_whatever_the_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import tomllib
    from types import SimpleNamespace

    from brokerauth_futu.sandbox.server import _print_banner

    folder = 'C:\\Users\\o"hara\\tokens'  # a Windows path, and a quote
    _print_banner(SimpleNamespace(  # type: ignore[arg-type]
        token_dir=folder, base_url="http://127.0.0.1:1", oauth_base_url="http://127.0.0.1:1/o",
        app_key="k", app_secret="s", access_token="t"))
    toml = "\n".join(line for line in capsys.readouterr().out.splitlines()
                     if line.startswith("[profiles.") or re.match(r"\w+ = ", line))
    profiles = tomllib.loads(toml)["profiles"]
    assert {name: p["token_dir"] for name, p in profiles.items()} == {
        "futu-sandbox": folder, "futu-sandbox-key": folder}


def test_sigterm_is_a_clean_stop_too(tmp_path: Path) -> None:
    # What a service manager, `docker stop` or `kill` sends: the sandbox's token folder must
    # not stay behind in the temp folder.
    import signal

    with Child([*COMMAND, "--port", "0"], tmp_path) as child:
        folder = Path(field(r"token folder:\s+(\S+)", child.until(LAST_LINE)))
        assert folder.is_dir()
        child.process.send_signal(signal.SIGTERM)
        assert_clean_exit(child)
    assert not os.path.exists(folder)
