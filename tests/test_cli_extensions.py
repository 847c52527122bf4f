"""Commands other distributions add to ``brokerauth`` (group ``brokerauth.commands``): listed
in the help, run like the core's own, and named with their package when missing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from brokerauth import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from brokerauth.cli import main; "
                           "sys.exit(main())", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_test_benchs_commands_are_listed_and_run() -> None:
    listed = run("--help").stdout
    assert "sandbox" in listed and "demo" in listed
    assert "brokers" in run("demo", "--help").stdout  # its own arguments, from its module


def test_a_core_command_never_reads_the_extensions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up: ``brokerauth sign`` must not scan entry points for commands."""
    def scanned() -> dict[str, object]:
        raise AssertionError("looked for extension commands")

    monkeypatch.setattr(cli, "extension_commands", scanned)
    assert cli.command_in(["sign", "--help"]) == "sign"
    assert set(cli._command_modules("sign")) == {"sign"}


def test_a_missing_extension_names_the_package_that_brings_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "extension_commands", dict)
    assert cli.main(["demo"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "`brokerauth demo` comes with brokerauth-sandbox" in err
    assert "pip install brokerauth-sandbox" in err
