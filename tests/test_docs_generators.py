"""The documentation site's generators (tools/docs_gen): the references they write name
everything that is installed, and the pages they cut from the READMEs keep what a reader
needs. Fast, and without mkdocs: the generators are plain Python over the installed project.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from brokerauth.engine.pluginhost import PluginHost

from tools.docs_gen import build, markdown
from tools.docs_gen.cli import cli_reference
from tools.docs_gen.griffe_roles import markdown_text
from tools.docs_gen.profiles import profiles_reference

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def host() -> Any:
    host = PluginHost.create()
    host.load_all()
    return host


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return build.pages()


def _section(page: str, heading: str) -> str:
    """The text under ``heading`` (a Markdown heading line) up to the next heading as high."""
    level = len(heading) - len(heading.lstrip("#"))
    start = page.index(heading + "\n")
    rest = page[start + len(heading):]
    ends = [m.start() for m in re.finditer(rf"^#{{1,{level}}} ", rest, re.MULTILINE)]
    return rest[:ends[0]] if ends else rest


def test_the_profiles_reference_names_every_installed_broker_and_each_of_its_settings(
        host: Any) -> None:
    page = profiles_reference(host)
    assert host.brokers  # the core's tests install their double; `make test`, every plugin too
    for broker_id, (spec, _) in host.brokers.items():
        section = _section(page, f"### `{broker_id}`")
        for field in attrs.fields(spec.settings):
            key = field.alias or field.name
            row = next((line for line in section.splitlines() if line.startswith(f"| `{key}` |")),
                       None)
            assert row is not None, f"{broker_id}: no row for {key}"
            help_text = field.metadata.get("help", "")
            assert " ".join(help_text.replace("|", "\\|").split()) in row, (broker_id, key)


def test_a_required_setting_and_a_secret_are_marked_so(host: Any) -> None:
    if "webull" not in host.brokers:
        pytest.skip("brokerauth-webull is not installed (make test-alone's core run)")
    section = _section(profiles_reference(host), "### `webull`")
    app_secret = next(line for line in section.splitlines() if line.startswith("| `app_secret` |"))
    assert "required" in app_secret and "secret reference" in app_secret
    environment = next(line for line in section.splitlines()
                       if line.startswith("| `environment` |"))
    assert '`"us"`' in environment


def test_the_profiles_reference_lists_each_strategys_options(host: Any) -> None:
    page = profiles_reference(host)
    for (kind, name), (strategy, _) in host.strategies.items():
        section = _section(page, f"### {kind} `{name}`")
        if strategy.options is not None:
            for field in attrs.fields(strategy.options):
                assert f"| `{field.alias or field.name}` |" in section, (kind, name, field.name)


def _commands_in_help() -> set[str]:
    """The commands ``brokerauth --help`` lists, read from the real command in a subprocess."""
    script = Path(sys.executable).with_name("brokerauth")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60,
                          check=True, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200",
                                           **_pythonpath()})
    listing = done.stdout.split("COMMAND ...", 1)[1]
    return set(re.findall(r"^    ([a-z][a-z-]*)\s", listing, re.MULTILINE))


def _pythonpath() -> dict[str, str]:
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def test_the_cli_reference_names_every_command_and_each_of_its_options() -> None:
    from brokerauth.cli import build_parser

    page = cli_reference()
    commands = _commands_in_help()
    assert {"login", "status", "sign", "keepalive", "init", "plugins", "profiles"} <= commands
    for command in commands:
        section = _section(page, f"## `brokerauth {command}` {{#brokerauth-{command}}}")
        parser = build_parser(command)
        choices = next(a for a in parser._actions if a.dest == "command").choices
        assert isinstance(choices, dict)
        sub = choices[command]
        for action in sub._actions:
            if action.dest in ("help", "profiles", "json", "verbose"):
                continue
            names = action.option_strings or [str(action.metavar or action.dest)]
            row = next((line for line in section.splitlines()
                        if any(line.startswith(f"| `{name}") or f", `{name}" in line
                               for name in names)), None)
            assert row is not None, (command, names)
            if action.help and "%" not in action.help:
                assert " ".join(action.help.replace("|", "\\|").split()) in row, (command, names)
        assert f"usage: brokerauth {command}" in section


def test_every_numbered_guarantee_of_the_readme_is_on_the_guarantees_page(
        pages: dict[str, str]) -> None:
    readme = markdown.section(markdown.read("README.md"), "Guarantees")
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", readme, re.MULTILINE)
    assert len(rows) >= 30
    for number, guarantee in rows:
        assert f"| {number} | {guarantee} |" in pages["guarantees.md"], number


def test_the_api_reference_documents_every_public_name(pages: dict[str, str]) -> None:
    import brokerauth

    for name in brokerauth.__all__:
        if not name.startswith("__"):
            module = getattr(brokerauth, name).__module__ if name != "hookimpl" else (
                "brokerauth.contract.hookspecs")
            assert f"::: {module}.{name}\n" in pages["reference/api.md"], name


def test_every_link_between_pages_reaches_a_page(pages: dict[str, str]) -> None:
    on_disk = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    known = set(pages) | on_disk
    for page, text in pages.items():
        for target in re.findall(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            path = target.partition("#")[0]
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
            assert resolved in known, f"{page}: link to {target}"


def test_a_readme_link_to_source_code_becomes_text_and_one_to_a_readme_a_page() -> None:
    text = ("see [its README](plugins/futu/README.md), [`examples/acme`](examples/acme), "
            "[the flow](core/brokerauth/engine/authflow.py) and [up](#guarantees)\n")
    out = markdown.relink(text, "README.md", "guides/x.md", build.WHOLE_FILES,
                          {"guarantees": "guarantees.md"})
    assert out == ("see [its README](../getting-started/futu.md), `examples/acme`, "
                   "the flow (`core/brokerauth/engine/authflow.py`) and "
                   "[up](../guarantees.md#guarantees)\n")


def test_writing_the_pages_twice_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    generated = {"a.md": "# A\n", "sub/b.md": "# B\n"}
    assert len(build.write(tmp_path, generated)) == 2
    assert build.write(tmp_path, generated) == []
    assert build.write(tmp_path, {**generated, "a.md": "# A2\n"}) == [tmp_path / "a.md"]


def test_sphinx_roles_in_docstrings_become_code_spans() -> None:
    text = ("Raise :class:`~brokerauth.contract.errors.PluginError`; see :mod:`brokerauth.x` "
            "and :py:func:`describe_plugin`. Like this::\n\n    code\n")
    assert markdown_text(text) == ("Raise `PluginError`; see `brokerauth.x` and "
                                   "`describe_plugin`. Like this:\n\n    code\n")
