"""What commands print: aligned tables for people, one JSON document for scripts."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


class Output:
    def __init__(self, *, json_mode: bool, stream: TextIO | None = None,
                 errors: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stream = stream or sys.stdout
        self.errors = errors or sys.stderr

    def line(self, text: str = "") -> None:
        """A line for people; nothing in JSON mode."""
        if not self.json_mode:
            print(text, file=self.stream)

    def data(self, payload: Any) -> None:
        """The command's result for scripts; nothing outside JSON mode."""
        if self.json_mode:
            import json  # only in JSON mode: kept out of every command's start-up

            json.dump(payload, self.stream, indent=2, default=str)
            self.stream.write("\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.json_mode:
            return
        cells = [[str(c) for c in row] for row in rows]
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
        print(f"error: {message}", file=self.errors)
        for key, value in extra.items():
            if value is not None:
                print(f"  {key.replace('_', ' ')}: {value}", file=self.errors)
        if hint:
            print(f"  fix: {hint}", file=self.errors)
