"""Generate every page of the site that restates the code or a README.

    python -m tools.docs_gen.build --json        # {page path: Markdown}, for the mkdocs hook
    python -m tools.docs_gen.build --out DIR     # the same pages written under DIR

Run with the project's interpreter (``.venv/bin/python``): the profiles and CLI references
read the installed plugins and commands.  The mkdocs hook (:mod:`tools.docs_gen.mkdocs_hook`)
runs it on every build, so nothing generated is ever committed or stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from tools.docs_gen import markdown as md

#: Repository files whose whole text is a page, and where: links to them become site links.
WHOLE_FILES: dict[str, str] = {
    "plugins/webull/README.md": "getting-started/webull.md",
    "plugins/webull_connect/README.md": "getting-started/webull-connect.md",
    "plugins/futu/README.md": "getting-started/futu.md",
    "plugins/sql_store/README.md": "stores/sql.md",
}


@attrs.frozen
class Part:
    """A piece of a page cut from a repository file (whose links are rewritten)."""

    source: str
    text: str


Piece = Part | str


def _readme_parts() -> dict[str, list[Piece]]:
    readme = md.read("README.md")

    def sec(title: str, top: int = 1, drop: Sequence[str] = ()) -> Part:
        text = md.section(readme, title)
        for sub in drop:
            text = text.replace(md.section(text, sub), "")
        return Part("README.md", md.shift_headings(text, top))

    platforms = md.section(readme, "Platforms: many users, one profile")
    which_store = md.between(platforms, "Which store:")
    platforms = platforms.replace(which_store, "")
    rules = md.between(md.section(readme, "Using it"), "A session signs every request",
                       "Every error derives")
    whole: dict[str, list[Piece]] = {page: [Part(path, md.shift_headings(md.read(path), 1))]
             for path, page in WHOLE_FILES.items()}
    return {
        **whole,
        "getting-started/index.md": [sec("Quickstart per broker")],
        "getting-started/using.md": [sec("Using it",
                                         drop=("Profile keys", "How tokens are stored"))],
        "guides/http-libraries.md": [sec("Keep your HTTP library")],
        "guides/keeping-alive.md": [sec("Keeping credentials alive")],
        "guides/platforms.md": [Part("README.md", md.shift_headings(platforms, 1))],
        "guarantees.md": [
            sec("Guarantees"),
            "## What a session does in each situation\n",
            Part("README.md", rules),
            sec("Where credentials go", top=2),
        ],
        "stores/index.md": [
            "# Choosing a store\n",
            Part("README.md", which_store),
        ],
        "stores/file.md": [sec("How tokens are stored")],
        "stores/redis.md": [
            sec("Fleets: one Redis for many machines"),
            Part("plugins/redis_store/README.md",
                 md.shift_headings(md.read("plugins/redis_store/README.md"), 2)),
        ],
        "plugins/guide.md": [
            Part("README.md", md.shift_headings(md.section(readme, "Writing a plugin: a walk "
                                                           "through `examples/acme`"), 1)),
            _entry_point_groups(),
        ],
    }


def _entry_point_groups() -> str:
    from brokerauth.cli import COMMAND_GROUP
    from brokerauth.engine.pluginhost import ENTRY_POINT_GROUP
    from brokerauth_sandbox.emulators import GROUP as SANDBOX_GROUP

    return "\n".join([
        "## Entry-point groups", "",
        "| group | an entry point names | example |", "|---|---|---|",
        f"| `{ENTRY_POINT_GROUP}` | the plugin: a module or class with `@hookimpl` functions, "
        "named after its broker id | `acme = \"brokerauth_acme.plugin\"` |",
        f"| `{SANDBOX_GROUP}` | the broker's emulator for `brokerauth sandbox` and `demo` "
        "(`brokerauth_sandbox.emulators.Emulator`) | "
        "`acme = \"brokerauth_acme.sandbox:EMULATOR\"` |",
        f"| `{COMMAND_GROUP}` | a `brokerauth` command: a module with `HELP`, "
        "`add_arguments(parser)` and `run(args, out)` | the test bench's `sandbox` and `demo` |",
        "",
        "The hooks, the `hookimpl` marker and the contract test class are in the "
        "[contract reference](contract.md).", "",
    ])


def _contract_page() -> str:
    return "\n".join([
        "# Contract reference", "",
        "Generated from the docstrings of the plugin contract: every hook a plugin may "
        "implement, what it receives, returns and raises.", "",
        "## Hooks", "",
        "::: brokerauth.contract.hookspecs",
        "    options:",
        "      show_root_heading: false",
        "      heading_level: 3",
        "",
        "## What a plugin declares", "",
        "::: brokerauth.contract.specs",
        "    options:",
        "      show_root_heading: false",
        "      heading_level: 3",
        "",
        "## The contract test class", "",
        "::: brokerauth_sandbox.pytest_plugin.BrokerContract",
        "    options:",
        "      heading_level: 3",
        "",
    ])


def public_api() -> dict[str, str]:
    """``name -> module`` of brokerauth's public API: the lazy exports of ``import brokerauth``
    (the one list ``brokerauth/__init__.py`` keeps)."""
    import brokerauth

    lazy: dict[str, str] = dict(brokerauth._LAZY)
    missing = [name for name in brokerauth.__all__
               if name not in lazy and not name.startswith("__")]
    if missing:
        raise RuntimeError(f"brokerauth.__all__ names {missing} outside its lazy exports")
    return {name: lazy[name] for name in sorted(lazy, key=str.lower)}


def api_page() -> str:
    out = ["# API reference", "",
           "Generated from the docstrings of what `import brokerauth` offers (its lazy "
           "exports: each is imported on first use, so `import brokerauth` stays cheap).", "",
           "| name | defined in |", "|---|---|"]
    api = public_api()
    out += [f"| [`brokerauth.{name}`](#{module}.{name}) | `{module}` |"
            for name, module in api.items()]
    out.append("")
    for name, module in api.items():
        out += [f"::: {module}.{name}", "    options:", "      show_root_heading: true",
                "      show_root_full_path: false", "      heading_level: 2", ""]
    return "\n".join(out).rstrip() + "\n"


def pages() -> dict[str, str]:
    """Every generated page, by its path under the site's ``docs/``."""
    from tools.docs_gen.cli import cli_reference
    from tools.docs_gen.profiles import profiles_reference

    parts = _readme_parts()
    anchors: dict[str, str] = {}
    for page, pieces in parts.items():
        for piece in pieces:
            if isinstance(piece, Part) and piece.source == "README.md":
                for _, _, title in md.headings(piece.text):
                    anchors.setdefault(md.slug(title), page)
    readme = md.read("README.md")
    anchors.setdefault(md.slug("Profile keys"), "reference/profiles.md")
    anchors.setdefault(md.slug("Command line"), "reference/cli.md")

    def site(piece: Piece, page: str) -> str:
        if isinstance(piece, str):
            return piece
        return md.relink(piece.text, piece.source, page, WHOLE_FILES, anchors)

    out = {page: "\n".join(site(p, page).rstrip() + "\n" for p in pieces)
           for page, pieces in parts.items()}
    common = md.shift_headings(md.section(readme, "Profile keys"), top=2)
    out["reference/profiles.md"] = profiles_reference(
        common=md.relink(common, "README.md", "reference/profiles.md", WHOLE_FILES, anchors))
    exit_codes = md.between(md.section(readme, "Command line"), "Every command takes")
    out["reference/cli.md"] = cli_reference(
        exit_codes=md.relink(exit_codes, "README.md", "reference/cli.md", WHOLE_FILES, anchors))
    out["reference/api.md"] = api_page()
    out["plugins/contract.md"] = _contract_page()
    return out


def write(target: Path, generated: dict[str, str]) -> list[Path]:
    """Write the pages under ``target``, leaving a file whose text is already right alone (so
    ``mkdocs serve`` is not woken by an unchanged page); the paths written."""
    written = []
    for page, text in generated.items():
        path = target / page
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None,
         generate: Callable[[], dict[str, str]] = pages) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs_gen.build",
                                     description="generate the site's reference pages")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--json", action="store_true", help="print {page: Markdown} as JSON")
    group.add_argument("--out", type=Path, help="write the pages under this folder")
    args = parser.parse_args(argv)
    generated = generate()
    if args.json:
        json.dump(generated, sys.stdout, ensure_ascii=False)
    else:
        for path in write(args.out, generated):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
