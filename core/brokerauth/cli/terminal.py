"""The interaction the command line gives token flows: messages on stderr, a browser opened
for authorization pages, and a live countdown while waiting (a plain line when not a TTY)."""

from __future__ import annotations

import sys
import threading
import webbrowser
from datetime import UTC, datetime
from typing import TextIO


class TerminalInteraction:
    def __init__(self, *, open_browser: bool = True, stream: TextIO | None = None) -> None:
        self.open_browser = open_browser
        self.stream = stream or sys.stderr

    def say(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def open_url(self, url: str) -> None:
        print(f"Open this URL to continue:\n  {url}", file=self.stream, flush=True)
        if self.open_browser:
            webbrowser.open(url)

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Countdown:
        return Countdown(message, deadline, self.stream)


class Countdown:
    """``message — status — m:ss left``, redrawn each second on a terminal."""

    def __init__(self, message: str, deadline: datetime | None, stream: TextIO) -> None:
        self.message = message
        self.deadline = deadline
        self.status = ""
        self.stream = stream
        self.live = stream.isatty()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        with self._lock:
            self.status = status
            if deadline is not None:
                self.deadline = deadline
        if not self.live:
            print(self._line(), file=self.stream, flush=True)

    def _line(self) -> str:
        parts = [self.message]
        if self.status:
            parts.append(self.status)
        if self.deadline is not None:
            left = max(0, int((self.deadline - datetime.now(UTC)).total_seconds()))
            parts.append(f"{left // 60}:{left % 60:02d} left")
        return " — ".join(parts)

    def _draw(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                line = self._line()
            self.stream.write(f"\r\x1b[2K{line}")
            self.stream.flush()

    def __enter__(self) -> Countdown:
        print(self._line(), file=self.stream, end="" if self.live else "\n", flush=True)
        if self.live:
            self._thread = threading.Thread(target=self._draw, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self.stream.write("\n")
            self.stream.flush()
