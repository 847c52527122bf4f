"""The command line at its edges, as a review found them: a port out of range, a reader that
goes away (``brokerauth --version | head -0``), a URL whose query holds a credential, a word
forgotten while ``$BROKERAUTH_PROFILE`` is set, ``keepalive -p``.  Driven as a user drives it:
the real ``brokerauth`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import BROKERAUTH, run

TWO = """
[profiles.live]
broker = "double"
base_url = "http://127.0.0.1:9"
client_id = "c-live"
client_secret = { env = "EDGES_SECRET" }

[profiles.paper]
broker = "double"
base_url = "http://127.0.0.1:9"
client_id = "c-paper"
client_secret = { env = "EDGES_SECRET" }
"""


@pytest.fixture
def two(tmp_path: Path, token_home: Path) -> dict[str, str]:
    path = tmp_path / "profiles.toml"
    path.write_text(TWO)
    return {"BROKERAUTH_PROFILES": str(path), "EDGES_SECRET": "edges-client-secret"}


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    for text in ("Traceback", "unexpected", "report it"):
        assert text not in result.stderr, result.stderr


# A port out of range is a usage error, not an OverflowError at bind.


@pytest.mark.parametrize("args", [["double", "--port", "99999"], ["--port", "99999", "double"],
                                  ["double", "--port", "-1"], ["double", "--port", "http"]])
def test_a_sandbox_port_out_of_range_is_a_usage_error(args: list[str]) -> None:
    result = run("sandbox", *args)
    assert result.returncode == 2, result.stderr
    assert "is not a port: give a number from 1 to 65535, or 0 for a free one" in result.stderr
    assert result.stderr.startswith("usage: brokerauth sandbox")
    _clean(result)


@pytest.mark.parametrize("module", ["brokerauth_webull.sandbox.server",
                                    "brokerauth_futu.sandbox.server"])
def test_a_python_m_sandbox_port_out_of_range_is_a_usage_error(module: str) -> None:
    pytest.importorskip(module.split(".")[0])  # a broker plugin's: not in a core-only install
    result = subprocess.run([sys.executable, "-m", module, "--port", "99999"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "is not a port: give a number from 1 to 65535" in result.stderr
    _clean(result)


# A reader that went away: a quiet exit, as `yes | head` ends.


@pytest.mark.parametrize("args", [["--version"], ["completion", "bash"], ["profiles", "--names"],
                                  ["status"], ["profiles", "--json"]])
def test_a_closed_pipe_ends_quietly(args: list[str], two: dict[str, str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails
    try:
        result = subprocess.run([BROKERAUTH, *args], stdout=write_end, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, **two}, timeout=60)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141  # what a shell reports for SIGPIPE (128 + 13)


def test_head_0_in_a_shell_prints_no_traceback() -> None:
    # As a person types it; whether head closes before or after the write, nothing is said.
    result = subprocess.run(["bash", "-c", f"'{BROKERAUTH}' --version | head -0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


# A URL in an error never repeats what may be a credential: its query, its user part.


def test_a_url_error_quotes_neither_query_nor_user_part(tmp_path: Path,
                                                       token_home: Path) -> None:
    leaky = tmp_path / "leaky.toml"
    leaky.write_text(
        "[profiles.leaky]\n"
        'broker = "double"\n'
        'base_url = "https://bob:pa55word-edges@api.example.com/v1?api_key=QUERY-SECRET-1#frag-2"\n'
        'client_id = "c"\n'
        'client_secret = { env = "EDGES_SECRET" }\n')
    origins = tmp_path / "origins.toml"
    origins.write_text(
        "[profiles.origins]\n"
        'broker = "double"\n'
        'base_url = "https://api.example.com"\n'
        'allowed_origins = ["https://data.example.com/?token=QUERY-SECRET-3"]\n'
        'client_id = "c"\n'
        'client_secret = { env = "EDGES_SECRET" }\n')
    results = []
    for path, name in ((leaky, "leaky"), (origins, "origins")):
        env = {"BROKERAUTH_PROFILES": str(path), "EDGES_SECRET": "edges-client-secret"}
        results += [run("profiles", env=env), run("profiles", "--json", env=env),
                    run("sign", name, "GET", "/x", "--no-token", env=env)]
    for result in results:
        shown = result.stdout + result.stderr
        assert result.returncode == 2, shown
        for secret in ("QUERY-SECRET", "pa55word", "bob", "frag-2"):
            assert secret not in shown, shown
        _clean(result)
    # What is wrong stays in sight: scheme, host, path, and that there is a query.
    assert "not 'https://***@api.example.com/v1?***#***'" in results[0].stdout
    assert "'https://data.example.com/?***' is not an origin" in results[3].stderr


# A word forgotten while the profile comes from elsewhere is an error, not another command.


@pytest.mark.parametrize(("command", "slots"), [("sign", "METHOD URL"), ("request", "METHOD PATH")])
def test_a_forgotten_word_is_not_taken_for_another_command(command: str, slots: str,
                                                           two: dict[str, str]) -> None:
    # `live GET` with the URL forgotten: read as written, it would be method "live" for URL
    # "GET", with the profile paper.
    cases = {
        "variable": (run(command, "live", "GET", env={**two, "BROKERAUTH_PROFILE": "paper"}),
                     "the profile 'paper' from $BROKERAUTH_PROFILE"),
        "-p": (run(command, "-p", "paper", "live", "GET", env=two), "the profile 'paper' from -p"),
        "neither": (run(command, "live", "GET", env=two), "no profile"),
    }
    second = slots.split()[1]
    for result, source in cases.values():
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith(
            f"error: 'live' is a profile, but it was read as the method ({source}, "
            f"METHOD 'live', {second} 'GET'): is a word missing?\n"), result.stderr
        assert f"`brokerauth {command} live {slots}`" in result.stderr
        assert result.stdout == ""
        _clean(result)


def test_a_method_is_never_taken_for_a_forgotten_profile(two: dict[str, str],
                                                         tmp_path: Path) -> None:
    # A profile named like a method does not make `sign GET /x` ambiguous: methods are read
    # as methods, without even reading the profiles file.
    path = Path(two["BROKERAUTH_PROFILES"])
    path.write_text(TWO + '\n[profiles.GET]\nbroker = "double"\n')
    result = run("sign", "GET", "/x", "--no-token", "--json",
                 env={**two, "BROKERAUTH_PROFILE": "live"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["method"] == "GET"


# keepalive takes -p like every other command.


def test_keepalive_takes_p(two: dict[str, str]) -> None:
    one = run("keepalive", "-p", "paper", "--json", env=two)
    assert one.returncode == 0, one.stderr
    assert [row["profile"] for row in json.loads(one.stdout)["credentials"]] == ["paper"]
    both = run("keepalive", "live", "--profile", "paper", "--json", env=two)
    assert sorted(row["profile"] for row in json.loads(both.stdout)["credentials"]) == [
        "live", "paper"]
    ghost = run("keepalive", "-p", "ghost", env=two)
    assert ghost.returncode == 2
    assert "no profile named 'ghost'" in ghost.stdout + ghost.stderr
