"""The countdown a login shows while it waits, as a person's terminal shows it.

On a terminal (a real pty, 80 columns, set with ``TIOCSWINSZ``) it is one row redrawn in place:
the bytes written are played through a tiny terminal emulation (printable characters with the
terminal's wrap at the last column, ``\\r``, ``\\n``, ``\\x1b[K``), and no row but the current
one may hold countdown text, however long the message, with notes printed in between and one
time left on the row.  Without a terminal, the URL to open comes first, then a plain progress
line at most every 30 seconds.  Time is a manual clock in both: nothing sleeps."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from brokerauth.cli.terminal import TerminalInteraction

COLUMNS = 80
CLOCK_FACE = re.compile(r"\b(?:\d+:)?\d+:\d{2} left\b")

# Played in a child process whose stderr is the pty: the wait of the Webull 2FA login (a
# message and a status longer than the terminal, the status with a clock face of its own),
# ~10 simulated seconds, a note in the middle; then it waits for a line before it ends.
CHILD = """
import sys
from datetime import UTC, datetime, timedelta
from brokerauth.cli.terminal import TerminalInteraction

moment = [datetime(2026, 1, 1, tzinfo=UTC)]
deadline = moment[0] + timedelta(seconds=300)
interaction = TerminalInteraction(open_browser=False, paste=False, now=lambda: moment[0])
waiting = interaction.waiting(
    "Waiting for the SMS code (5 minutes to do it)",
    deadline=deadline)
with waiting:
    for second in range(1, 11):
        moment[0] += timedelta(seconds=1)
        left = int((deadline - moment[0]).total_seconds())
        waiting.update(f"PENDING: {left // 60}:{left % 60:02d} left to enter the SMS code "
                       "in the Webull App", deadline=deadline)
        if second == 5:
            interaction.say("Webull no longer knows that 2FA token (417); requesting a new one.")
    sys.stderr.write("\\x1b[0K")  # a no-op for the screen: the last tick is written
    sys.stderr.flush()
    sys.stdin.readline()
sys.stderr.write("logged in\\n")
"""


class Screen:
    """Just enough of a terminal: rows of text, a cursor, autowrap at the last column."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.rows: list[list[str]] = [[]]
        self.row = 0
        self.col = 0
        self._pending = ""

    def feed(self, data: bytes) -> None:
        text = self._pending + data.decode("utf-8", errors="strict")
        self._pending = ""
        i = 0
        while i < len(text):
            char = text[i]
            if char == "\x1b":
                match = re.match(r"\x1b\[(\d*)K", text[i:])
                if match is None:
                    if len(text) - i < 4:  # an escape split across reads
                        self._pending = text[i:]
                        return
                    raise AssertionError(f"unexpected escape {text[i:i + 8]!r}")
                line = self.rows[self.row]
                if match.group(1) in ("", "0"):
                    del line[self.col:]
                elif match.group(1) == "2":
                    line.clear()
                else:
                    raise AssertionError(f"unexpected erase {match.group(0)!r}")
                i += len(match.group(0))
                continue
            if char == "\r":
                self.col = 0
            elif char == "\n":
                self._down()
            elif char == "\x07" or ord(char) < 0x20:
                raise AssertionError(f"unexpected control character {char!r}")
            else:
                if self.col >= self.columns:  # the terminal wraps onto the next row
                    self._down()
                    self.col = 0
                line = self.rows[self.row]
                line.extend(" " * (self.col - len(line)))
                if self.col < len(line):
                    line[self.col] = char
                else:
                    line.append(char)
                self.col += 1
            i += 1

    def _down(self) -> None:
        self.row += 1
        if self.row == len(self.rows):
            self.rows.append([])

    def text(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.rows]


def _spawn(columns: int, child: str = CHILD) -> tuple[subprocess.Popen[bytes], int]:
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    mode = termios.tcgetattr(secondary)
    mode[3] &= ~termios.ECHO  # the line that ends the child is not shown
    termios.tcsetattr(secondary, termios.TCSANOW, mode)
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-c", child], stdin=secondary, stdout=secondary,
                               stderr=secondary, close_fds=True, env=env)
    os.close(secondary)
    return process, primary


def _read_until(primary: int, screen: Screen, seen: bytearray, marker: bytes,
                timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([primary], [], [], max(0.0, left))
        if not ready:
            raise AssertionError(f"{marker!r} never came; the terminal got {bytes(seen)!r}")
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            raise AssertionError(f"the child ended early; the terminal got {bytes(seen)!r}")
        seen += chunk
        screen.feed(chunk)


def _countdown_rows(rows: list[str]) -> list[int]:
    return [number for number, row in enumerate(rows) if CLOCK_FACE.search(row)
            or "Waiting for the SMS" in row or "enter the SMS code" in row]


def test_the_countdown_stays_on_one_row_of_an_80_column_terminal() -> None:
    process, primary = _spawn(COLUMNS)
    screen = Screen(COLUMNS)
    seen = bytearray()
    try:
        _read_until(primary, screen, seen, b"4:50 left")
        _read_until(primary, screen, seen, b"\x1b[0K")  # the no-op after the last tick
        rows = screen.text()
        assert _countdown_rows(rows) == [screen.row], "\n".join(rows)
        current = rows[screen.row]
        assert len(current) < COLUMNS
        assert CLOCK_FACE.findall(current) == ["4:50 left"], current  # one timer, live
        assert current.startswith(
            "4:50 left — Waiting for the SMS code (5 minutes to do it) — PENDING: to enter")
        # The note is on a row of its own, above, once.
        assert [row for row in rows if "requesting a new one" in row] == [
            "Webull no longer knows that 2FA token (417); requesting a new one."]

        os.write(primary, b"\n")
        _read_until(primary, screen, seen, b"logged in")
        assert process.wait(timeout=20) == 0
        rows = screen.text()
        assert _countdown_rows(rows) == [], "\n".join(rows)  # erased at the end
        assert "logged in" in rows
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(primary)


# A flow whose words come from a server or a file: its message, its status, a note and the
# URL to open carry an OSC retitle ended by BEL, a clear-screen CSI, CR, a C1 CSI, a bidi
# override; each must reach the terminal as its escape, never as the control itself.
HOSTILE_CHILD = """
import sys
from datetime import UTC, datetime, timedelta
from brokerauth.cli.terminal import TerminalInteraction

evil = "\\x1b]0;pwned\\x07\\x1b[2J\\rX\\x9b31m\\u202eevil"
moment = [datetime(2026, 1, 1, tzinfo=UTC)]
interaction = TerminalInteraction(open_browser=False, paste=False, now=lambda: moment[0])
interaction.say("before the wait: " + evil)
with interaction.waiting("waiting " + evil, deadline=moment[0] + timedelta(seconds=60)) as w:
    w.update("status " + evil)
    interaction.say("a note " + evil)
    interaction.open_url("https://broker.example/authorize?x=" + evil)
    moment[0] += timedelta(seconds=1)
    w.update("status again " + evil)
    sys.stderr.write("\\x1b[0K")
    sys.stderr.flush()
    sys.stdin.readline()
sys.stderr.write("done\\n")
"""


def test_text_from_a_server_is_shown_not_obeyed_by_the_terminal() -> None:
    process, primary = _spawn(COLUMNS, HOSTILE_CHILD)
    screen = Screen(COLUMNS)  # refuses any escape but erase-line, any control but CR and LF
    seen = bytearray()
    try:
        _read_until(primary, screen, seen, b"\x1b[0K")
        os.write(primary, b"\n")
        _read_until(primary, screen, seen, b"done")
        assert process.wait(timeout=20) == 0
        text = seen.decode()
        for raw in ("\x07", "\x9b", "\u202e", "\x1b]", "\x1b[2J"):
            assert raw not in text, f"{raw!r} reached the terminal: {text!r}"
        shown = "\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\x9b31m\\u202eevil"
        rows = screen.text()
        for words in ("before the wait: ", "a note "):
            assert [row for row in rows if row.startswith(words)] == [words + shown], rows
        # The URL wraps (it is longer than the row): its rows read as one.
        assert "  https://broker.example/authorize?x=" + shown in "".join(rows), rows
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(primary)


def test_the_countdown_row_shows_a_servers_controls_as_escapes() -> None:
    moment = [datetime(2026, 1, 1, tzinfo=UTC)]
    stream = io.StringIO()
    interaction = TerminalInteraction(open_browser=False, paste=False, stream=stream,
                                      now=lambda: moment[0])
    with interaction.waiting("waiting \x1b[2J\u202e", deadline=moment[0]) as waiting:
        waiting.update("status \x07\r")
        assert waiting.line() == "0:00 left — waiting \\x1b[2J\\u202e — status \\x07\\x0d"


def test_without_a_terminal_the_url_comes_first_then_a_line_every_30_seconds() -> None:
    moment = [datetime(2026, 1, 1, tzinfo=UTC)]
    stream = io.StringIO()  # not a TTY: a log file, a CI job's output
    interaction = TerminalInteraction(open_browser=False, paste=False, stream=stream,
                                      now=lambda: moment[0])
    deadline = moment[0] + timedelta(seconds=300)
    # As the OAuth flows do: the wait starts, then the URL is shown.
    with interaction.waiting("waiting for the login in your browser",
                             deadline=deadline) as waiting:
        interaction.open_url("https://broker.example/authorize?client_id=c")
        for _ in range(100):
            moment[0] += timedelta(seconds=1)
            waiting.update("still waiting")
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["Open this URL to continue:",
                         "  https://broker.example/authorize?client_id=c"]
    progress = lines[2:]
    # 100 simulated seconds: at 30, 60 and 90, nothing more.
    assert progress == [
        "4:30 left — waiting for the login in your browser — still waiting",
        "4:00 left — waiting for the login in your browser — still waiting",
        "3:30 left — waiting for the login in your browser — still waiting",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_this_file_plays_the_terminal_it_describes() -> None:
    # The emulation itself: a row longer than the terminal wraps and leaves a row behind,
    # which is what the countdown must never do.
    screen = Screen(10)
    screen.feed(b"0123456789ab\r\x1b[Kxy")
    assert screen.text() == ["0123456789", "xy"]
