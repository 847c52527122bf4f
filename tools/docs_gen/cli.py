"""The CLI reference, from the argparse parser ``brokerauth`` itself builds.

Every command (the core's and those other installed distributions add through the entry-point
group ``brokerauth.commands``) is read from :func:`brokerauth.cli.build_parser`: its usage,
description, arguments and epilog (where the examples are), so the page says what
``brokerauth COMMAND --help`` says.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: Columns the usage lines are wrapped at, whatever the terminal that builds the site.
WIDTH = 96


@contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse's formatter (brokerauth's too) wraps at ``$COLUMNS``: fix it while formatting."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width + 2)
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top parser and each command's parser, by command name, as ``brokerauth`` builds
    them (the formatter's width fixed, so the page does not depend on the terminal)."""
    from brokerauth.cli import build_parser

    with _columns(WIDTH):
        parser = build_parser()
    return parser, _subcommands(parser)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _help(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    if action.help is None or action.help == argparse.SUPPRESS:
        return ""
    text = str(action.help)
    if "%" in text:
        with _columns(WIDTH):
            formatter = parser._get_formatter()
            text = formatter._expand_help(action)
    return text


def _argument_rows(parser: argparse.ArgumentParser,
                   skip: frozenset[str] = frozenset()) -> list[str]:
    """A table row per argument, but those whose ``dest`` is in ``skip``."""
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.dest in skip:
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = " " + (action.metavar if isinstance(action.metavar, str)
                                 else action.dest.upper())
            name = ", ".join(f"`{o}{metavar}`" for o in action.option_strings)
        else:
            name = f"`{action.metavar if isinstance(action.metavar, str) else action.dest}`"
        choices = ""
        if action.choices is not None and not isinstance(action.choices, dict):
            choices = " (one of " + ", ".join(f"`{c}`" for c in action.choices) + ")"
        rows.append(f"| {name} | {_cell(_help(action, parser))}{choices} |")
    return rows


def cli_reference(*, exit_codes: str = "") -> str:
    """The Markdown of the CLI reference page."""
    parser, commands = command_parsers()
    with _columns(WIDTH):
        top_usage = parser.format_usage().strip()
    out = [
        "# Command-line reference",
        "",
        "Generated from `brokerauth`'s own argparse parser when the site is built: each "
        "section says what `brokerauth COMMAND --help` says.",
        "",
        f"```text\n{top_usage}\n```",
        "",
    ]
    if parser.description:
        out += [parser.description, ""]
    out += ["Options every command takes, before or after the command:", "",
            "| argument | meaning |", "|---|---|"]
    out += [*_argument_rows(parser), ""]
    if exit_codes:
        out += [exit_codes.rstrip(), ""]
    shared = [a for a in parser._actions
              if a.option_strings and not isinstance(a, argparse._HelpAction)]
    common = frozenset(a.dest for a in shared)
    out += ["| command | what it does |", "|---|---|"]
    for name, sub in sorted(commands.items()):
        out.append(f"| [`{name}`](#brokerauth-{name}) | {_cell(sub.description or '')} |")
    out.append("")
    for name, sub in sorted(commands.items()):
        with _columns(WIDTH):
            usage = sub.format_usage().strip()
        out += [f"## `brokerauth {name}` {{#brokerauth-{name}}}", ""]
        if sub.description:
            out += [sub.description, ""]
        out += [f"```text\n{usage}\n```", ""]
        rows = _argument_rows(sub, skip=common)
        if rows:
            out += ["| argument | meaning |", "|---|---|", *rows, ""]
        own = {a.dest for a in sub._actions}
        common_text = ", ".join(f"`{a.option_strings[0]}`" for a in shared if a.dest in own)
        out += [f"And the options every command takes: {common_text}.", ""]
        if sub.epilog:
            out += [f"```text\n{sub.epilog.strip()}\n```", ""]
    return "\n".join(out).rstrip() + "\n"
