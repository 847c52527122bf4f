"""Text the command line did not write itself reaches the terminal shown, never obeyed: a
profile's name from a profiles file someone cloned, and a server's answer, carry ESC
sequences (retitle the window, clear the screen), CR (overwrite what was printed), BEL, a C1
CSI and bidi overrides (reorder the line).  Each is printed as its escape (``\\x1b``,
``\\u202e``).  Driven as a user drives it: the real ``brokerauth`` in a subprocess, a real
HTTP server on 127.0.0.1 for the answer."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.scrub import terminal_text
from test_cli import run

#: What a hostile name or answer holds: an OSC retitle ended by BEL, a clear-screen CSI, a
#: carriage return, a C1 CSI, a right-to-left override, a zero-width space.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\rX\x9b31m\u202eevil\u200b"
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\u200b")


def _assert_shown_not_obeyed(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the terminal raw: {text!r}"
    # As this rule shows it, or as an error message's repr does (a name quoted in a message).
    assert ("\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\x9b31m\\u202eevil\\u200b" in text
            or "\\x1b]0;pwned\\x07\\x1b[2J\\rX\\x9b31m\\u202eevil\\u200b" in text), text


def test_the_rule_shows_every_control_as_its_escape_and_keeps_the_rest() -> None:
    assert terminal_text(HOSTILE) == "\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\x9b31m\\u202eevil\\u200b"
    assert terminal_text("Zürich 東京 a\xa0b") == "Zürich 東京 a\xa0b"  # any script, kept
    assert terminal_text("two\nlines\r\n\tend", lines=True) == "two\nlines\n\tend"
    assert terminal_text("one\nline") == "one\\x0aline"
    assert terminal_text(terminal_text(HOSTILE)) == terminal_text(HOSTILE)  # idempotent
    assert terminal_text("\U000e0041\u2028") == "\\U000e0041\\u2028"  # a tag, a separator


@pytest.fixture
def cloned(tmp_path: Path, token_home: Path) -> dict[str, str]:
    """A profiles file whose profile names were written by someone else."""
    path = tmp_path / "profiles.toml"
    name = json.dumps(HOSTILE)  # a TOML basic string: the same escapes as JSON's
    path.write_text(
        f"[profiles.{name}]\n"
        'broker = "double"\nbase_url = "http://127.0.0.1:9"\nclient_id = "c"\n'
        'client_secret = { env = "UNTRUSTED_SECRET" }\n'
        f"[profiles.{json.dumps('broken' + HOSTILE)}]\n"
        'broker = "double"\nno_such_key = 1\n')
    return {"BROKERAUTH_PROFILES": str(path), "UNTRUSTED_SECRET": "untrusted-secret"}


@pytest.mark.parametrize("command", [["profiles"], ["profiles", "--names"], ["status"],
                                     ["keepalive"], ["users"], ["sign"]])
def test_a_profile_name_from_a_cloned_file_is_shown_not_obeyed(
    command: list[str], cloned: dict[str, str]
) -> None:
    # users and sign name the profile (sign's note says how to log in to it); the others
    # list every profile.
    args = {"users": ["users", HOSTILE], "sign": ["sign", HOSTILE, "GET", "/x"]}.get(
        command[0], command)
    result = run(*args, env=cloned)
    _assert_shown_not_obeyed(result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


class _Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"an answer {HOSTILE}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def hostile_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_servers_answer_is_shown_not_obeyed(sandbox_factory: Any, token_home: Path,
                                              tmp_path: Path, hostile_server: str) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    path = tmp_path / "profiles.toml"
    path.write_text(
        "[profiles.live]\n"
        'broker = "double"\n'
        f'base_url = "{double.base_url}"\n'
        f'allowed_origins = ["{hostile_server}"]\n'
        f'client_id = "{double.client_id}"\n'
        'client_secret = { env = "DOUBLE_LIVE_SECRET" }\n')
    env = {"DOUBLE_LIVE_SECRET": double.client_secret, "BROKERAUTH_PROFILES": str(path)}
    assert run("login", "live", env=env).returncode == 0
    result = run("request", "live", "GET", f"{hostile_server}/news", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("an answer ")
    _assert_shown_not_obeyed(result.stdout)
    # For scripts, --json gives the answer exactly as it came (escaped by JSON itself).
    exact = run("request", "live", "GET", f"{hostile_server}/news", "--json", env=env)
    assert json.loads(exact.stdout)["body"] == f"an answer {HOSTILE}\n"
