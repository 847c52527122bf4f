"""What commands print: aligned tables for people, one JSON document for scripts.

Everything printed for people goes through :func:`shown` (the one rule,
:func:`brokerauth.contract.scrub.terminal_text`): a profile's name from a cloned file, a
server's answer or message, a file's words never reach the terminal with a control character
or a bidi override in them, which would move the cursor, retitle the window or reorder the
line; each is shown as its escape instead.  JSON for scripts is escaped by JSON itself."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


def shown(text: object, *, lines: bool = True) -> str:
    """``text`` fit for the terminal (see the module): as it is when it is printable, which
    costs nothing and imports nothing; ``lines``: its newlines and tabs kept."""
    raw = str(text)
    if raw.isprintable() or (lines and raw.replace("\n", "").replace("\t", "").isprintable()):
        return raw
    from brokerauth.contract.scrub import terminal_text

    return terminal_text(raw, lines=lines)


def _json_value(value: object) -> object:
    """What JSON has no type for: a time as RFC 3339 in UTC, as the token store writes it
    (``str`` puts a space for the ``T``), anything else as its text."""
    from datetime import datetime

    if isinstance(value, datetime):
        from brokerauth.contract.clock import utc_text

        return utc_text(value)
    return str(value)


class Output:
    def __init__(self, *, json_mode: bool, stream: TextIO | None = None,
                 errors: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stream = stream or sys.stdout
        self.errors = errors or sys.stderr

    def line(self, text: str = "") -> None:
        """A line for people; nothing in JSON mode."""
        if not self.json_mode:
            print(shown(text), file=self.stream)

    def data(self, payload: Any) -> None:
        """The command's result for scripts; nothing outside JSON mode."""
        if self.json_mode:
            import json  # only in JSON mode: kept out of every command's start-up

            json.dump(payload, self.stream, indent=2, default=_json_value)
            self.stream.write("\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.json_mode:
            return
        cells = [[shown(c, lines=False) for c in row] for row in rows]
        widths = [len(h) for h in headers]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        print(fmt.format(*headers).rstrip(), file=self.stream)
        print(fmt.format(*("-" * w for w in widths)).rstrip(), file=self.stream)
        for row in cells:
            print(fmt.format(*row).rstrip(), file=self.stream)

    def error(self, message: str, hint: str | None, *, kind: str,
              **extra: Any) -> None:
        if self.json_mode:
            payload: Mapping[str, Any] = {
                "error": {"type": kind, "message": message, "hint": hint,
                          **{k: v for k, v in extra.items() if v is not None}}
            }
            import json

            json.dump(payload, self.stream, indent=2)
            self.stream.write("\n")
            return
        print(f"error: {shown(message)}", file=self.errors)
        for key, value in extra.items():
            if value is not None:
                print(f"  {key.replace('_', ' ')}: {shown(value, lines=False)}",
                      file=self.errors)
        if hint:
            print(f"  fix: {shown(hint)}", file=self.errors)
