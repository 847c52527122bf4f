"""``python -m brokerauth_webull_connect.sandbox.server`` and Ctrl-C: whenever SIGINT comes (before
the banner, during it, while serving, while stopping) the command line stops cleanly: exit 0,
nothing on stderr, nothing left behind. Every wait has a deadline; no test sleeps and hopes:
each SIGINT lands at a known point (held until the command line takes it, after a line read on
stdout, or raised by the child itself at a pinned point)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from brokerauth_sandbox.commandline_check import (
    ctrl_c_after_the_banner,
    ctrl_c_at_a_pinned_point,
    ctrl_c_at_once,
)

COMMAND = [sys.executable, "-m", "brokerauth_webull_connect.sandbox.server", "--auto-approve"]
FIRST_LINE = "Webull Connect sandbox listening on"
LAST_LINE = "Ctrl-C stops."

def test_ctrl_c_at_once_after_start_is_a_clean_exit(tmp_path: Path) -> None:
    ctrl_c_at_once(COMMAND, tmp_path, LAST_LINE)



def test_ctrl_c_after_the_banner_and_more_while_stopping(tmp_path: Path) -> None:
    assert FIRST_LINE in ctrl_c_after_the_banner(COMMAND, tmp_path, LAST_LINE)



@pytest.mark.parametrize("point", ["reading the arguments", "binding the port",
                                   "the server just started", "printing the banner",
                                   "stopping"])
def test_ctrl_c_at_each_point_is_a_clean_exit(point: str, tmp_path: Path) -> None:
    ctrl_c_at_a_pinned_point(point, COMMAND[2:], tmp_path, LAST_LINE)
