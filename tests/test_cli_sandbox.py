"""``brokerauth sandbox BROKER`` and Ctrl-C: whenever SIGINT comes (while the plugin loads, before
the profile is printed, during it, while serving, while stopping) the command stops cleanly:
exit 0, nothing on stderr, nothing left behind. Every wait has a deadline; no test sleeps and
hopes: each SIGINT lands at a known point (held until the command takes it, after a line read on
stdout, or raised by the child itself at a pinned point). The profile it prints is used in
tests/test_cli_commands.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from brokerauth_sandbox.commandline_check import (
    Child,
    assert_clean_exit,
    ctrl_c_at_a_pinned_point,
    ctrl_c_at_once,
)
from test_cli import BROKERAUTH

COMMAND = [BROKERAUTH, "sandbox", "double"]
FIRST_LINE = "double sandbox listening on"
LAST_LINE = 'env = "BROKERAUTH_SANDBOX_DOUBLE_CLIENT_SECRET"'

def test_ctrl_c_at_once_after_start_is_a_clean_exit(tmp_path: Path) -> None:
    ctrl_c_at_once(COMMAND, tmp_path, LAST_LINE)



@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_ctrl_c_after_the_profile_and_more_while_stopping(json_mode: bool,
                                                          tmp_path: Path) -> None:
    command = [BROKERAUTH, "--json", *COMMAND[1:]] if json_mode else COMMAND
    with Child(command, tmp_path) as child:
        child.until("\n}\n" if json_mode else LAST_LINE)
        child.interrupt_until_exit()
        out = assert_clean_exit(child)
    if json_mode:
        assert json.loads(out)["broker"] == "double"  # one document, nothing after it
    else:
        assert out.startswith(FIRST_LINE)


@pytest.mark.parametrize("point", ["loading the plugin", "binding the port",
                                   "the server just started", "printing the banner",
                                   "stopping"])
def test_ctrl_c_at_each_point_is_a_clean_exit(point: str, tmp_path: Path) -> None:
    ctrl_c_at_a_pinned_point(point, ["brokerauth", *COMMAND[1:]], tmp_path, LAST_LINE)


def test_the_command_s_options_may_follow_the_broker(tmp_path: Path) -> None:
    # What follows BROKER is parsed once the emulator's own options are known: the command's
    # options (and --json) are still taken there.
    with Child([*COMMAND, "--json", "--name", "mine", "--port", "0"], tmp_path) as child:
        described = json.loads(child.until("\n}\n"))
        child.interrupt_until_exit()
        assert_clean_exit(child)
    assert described["profile"] == "mine"
    assert described["base_url"].startswith("http://127.0.0.1:")


def test_an_option_the_emulator_does_not_declare_is_refused(tmp_path: Path) -> None:
    with Child([*COMMAND, "--no-such-option"], tmp_path) as child:
        code, out, errors = child.finish()
    assert code == 2
    assert out == ""
    assert "brokerauth sandbox double" in errors
    assert "--no-such-option" in errors


@pytest.mark.skipif(importlib.util.find_spec("brokerauth_webull") is None,
                    reason="needs the Webull broker plugin, whose sandbox takes its credentials")
def test_the_export_lines_are_quoted_for_the_shell(tmp_path: Path) -> None:
    # Credentials the user chose, with what a shell would run or split: pasted into a shell,
    # each export sets the value as given and runs nothing.
    marker = tmp_path / "ran"
    key, secret = f"k$(touch {marker}) `touch {marker}` x", "it's; touch " + str(marker)
    command = [BROKERAUTH, "sandbox", "webull", "--app-key", key, "--app-secret", secret]
    with Child(command, tmp_path) as child:
        out = child.until("# brokerauth.toml")
        child.interrupt_until_exit()
        assert_clean_exit(child)
    exports = [line for line in out.splitlines() if line.startswith("export ")]
    assert len(exports) == 2, out
    show = ('printf "%s\\0%s" "$BROKERAUTH_SANDBOX_WEBULL_APP_KEY" '
            '"$BROKERAUTH_SANDBOX_WEBULL_APP_SECRET"')
    shell = subprocess.run(["bash", "-c", "\n".join([*exports, show])], capture_output=True,
                           text=True, timeout=30, cwd=tmp_path)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.split("\0") == [key, secret]
    assert not marker.exists()
