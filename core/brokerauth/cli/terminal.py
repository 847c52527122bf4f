"""The interaction the command line gives token flows: messages on stderr, a browser opened
for authorization pages, and a live countdown while waiting (a plain line when not a TTY).

Without a browser (``brokerauth login --no-browser``), the browser may run on another machine,
from which the redirect to the loopback listener never arrives.  While a flow waits for one
(:func:`~brokerauth.contract.interaction.announced_redirect`), the address the browser shows
after approving may be pasted on standard input instead; the listener judges it as it judges
an arriving redirect, and whichever comes first ends the wait.  The pasted text holds the
authorization code: it is not echoed on a terminal, and never printed or logged here.  Reading
stops with the wait (its timeout included), or at the end of standard input, after which the
listener alone waits (a port forward, or a browser on this machine, may still bring the
redirect).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import selectors
import sys
import threading
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from brokerauth.cli.output import shown
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.contract.interaction import RedirectReceiver, announced_redirect

log = logging.getLogger("brokerauth.cli.terminal")

#: Longer than any login redirect: text past it without a newline is not an address.
MAX_PASTE = 16 * 1024
# Terminals in bracketed-paste mode wrap what is pasted in these.
_PASTE_MARKERS = ("\x1b[200~", "\x1b[201~")


class TerminalInteraction:
    def __init__(
        self,
        *,
        open_browser: bool = True,
        stream: TextIO | None = None,
        paste: bool | None = None,
        stdin: TextIO | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.open_browser = open_browser
        #: The clock countdowns read (the system's UTC clock by default).
        self._now = now or _utc_now
        self.stream = stream or sys.stderr
        #: Whether a redirect may be pasted while a flow waits for one: by default, when no
        #: browser is opened here (it may be on another machine).
        self.paste = (not open_browser) if paste is None else paste
        self._stdin = stdin
        self._countdown: Countdown | None = None
        self._outer: dict[Countdown, Countdown] = {}
        self._reader: _PasteReader | None = None
        #: Standard input has ended (closed, or ``</dev/null``): no paste is offered again.
        self._input_ended = False
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        self._show(message)

    def open_url(self, url: str) -> None:
        self._show(f"Open this URL to continue:\n  {shown(url, lines=False)}")
        if self.open_browser and not webbrowser.open(url):
            self._show("No web browser could be started here: open the address above in one, "
                       "on this machine or another.")
            self.paste = True  # the browser is elsewhere: its redirect may have to be pasted
        self._offer_paste(announce=self._paste_instruction)

    def _paste_instruction(self, reader: _PasteReader) -> None:
        self._show(
            f"After you approve, the browser is sent to {reader.receiver.redirect_uri}. If "
            "that page does not load (the browser is on another machine), paste the whole "
            "address it shows here and press Enter"
            + (" (it is not shown as you paste)." if reader.hidden else ".")
        )

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Countdown:
        return Countdown(message, deadline, self.stream, on_enter=self._entered,
                         on_exit=self._left, now=self._now)

    def _show(self, text: str) -> None:
        # What a flow says may quote a server or a file: shown, never obeyed, by the terminal.
        text = shown(text)
        countdown = self._countdown
        if countdown is not None:
            countdown.note(text)
        else:
            print(text, file=self.stream, flush=True)

    def _entered(self, countdown: Countdown) -> None:
        # One timer on the screen: an outer countdown gives its row to the inner one.
        outer, self._countdown = self._countdown, countdown
        if outer is not None:
            outer.hide()
            self._outer[countdown] = outer
        self._offer_paste()

    def _left(self, countdown: Countdown) -> None:
        outer = self._outer.pop(countdown, None)
        if self._countdown is countdown:
            self._countdown = outer
        if outer is not None:
            outer.show()
        self._stop_reading()

    def _offer_paste(
        self, announce: Callable[[_PasteReader], None] | None = None
    ) -> _PasteReader | None:
        """The paste reader for the redirect the flow waits for, started on first need;
        ``announce`` tells the person before it reads anything (so that the end of an input
        already closed is said after the instruction, not before).  Once the input has ended,
        nothing more is offered."""
        if not self.paste or self._input_ended:
            return None
        receiver = announced_redirect()
        if receiver is None:
            return None
        with self._lock:
            reader = self._reader
            if reader is not None and reader.receiver is receiver and reader.running:
                if announce is not None:
                    announce(reader)
                return reader
        self._stop_reading()
        stdin = self._stdin if self._stdin is not None else sys.stdin
        try:
            fd = stdin.fileno() if stdin is not None else -1
        except (AttributeError, ValueError, OSError):  # replaced, closed, or not a file
            fd = -1
        if fd < 0 or not _may_read(fd):
            return None
        reader = _PasteReader(receiver, fd, self._show, on_end=self._ended)
        with self._lock:
            self._reader = reader
        reader.prepare()
        if announce is not None:
            announce(reader)
        reader.start()
        return reader

    def _ended(self) -> None:
        self._input_ended = True

    def _stop_reading(self) -> None:
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()


def _may_read(fd: int) -> bool:
    """Whether reading ``fd`` cannot stop this process: a run in the background of its
    terminal (``&``) would be stopped by SIGTTIN at the first read, listener and all.  Not on
    Windows: its ``select`` takes sockets only, and a blocking read could not be stopped, so
    there the listener alone waits (no paste offered rather than one that is never read)."""
    if sys.platform == "win32":
        return False
    try:
        return not os.isatty(fd) or os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:  # not this process's terminal: no job control to fear
        return True


class _PasteReader:
    """Reads pasted lines from ``fd`` and hands each to ``receiver`` until it stops waiting,
    :meth:`stop` is called, or the input ends.

    ``os.read`` on the descriptor, woken by a pipe, rather than ``sys.stdin``: a thread blocked
    in a buffered read could be stopped only by more input, and one that holds the buffer's
    lock at exit aborts the interpreter."""

    def __init__(self, receiver: RedirectReceiver, fd: int, show: Callable[[str], None], *,
                 on_end: Callable[[], None] | None = None) -> None:
        self.receiver = receiver
        self._fd = fd
        self._show = show
        self._on_end = on_end
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._pipe_open = True
        self._saved_mode: list[Any] | None = None
        self.hidden = False
        self._hinted = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="brokerauth-paste")

    @property
    def running(self) -> bool:
        return not self._stopping.is_set()

    def prepare(self) -> None:
        """Before :meth:`start`: the terminal's echo off (so :attr:`hidden` is known)."""
        self._hide_echo()

    def start(self) -> None:
        self._thread.start()
        # Last: a wait already over stops the reader at once.
        self.receiver.on_done(self.stop)

    def stop(self) -> None:
        """From any thread, any number of times; the reader's own thread included."""
        self._stopping.set()
        with self._lock:
            if self._pipe_open:
                os.write(self._wake_w, b"\0")
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join(timeout=2)
        self._restore_echo()

    # -- the terminal's echo -----------------------------------------------------------------
    def _hide_echo(self) -> None:
        # What is pasted holds the authorization code: like a password prompt, not echoed,
        # so it stays out of the screen and the terminal's scrollback.
        try:
            import termios
        except ImportError:  # Windows
            return
        try:
            if not os.isatty(self._fd):
                return
            mode = termios.tcgetattr(self._fd)
            quiet = list(mode)
            quiet[3] = int(quiet[3]) & ~termios.ECHO
            termios.tcsetattr(self._fd, termios.TCSANOW, quiet)
        except (OSError, termios.error):
            return
        self._saved_mode = mode
        self.hidden = True

    def _restore_echo(self) -> None:
        with self._lock:
            mode, self._saved_mode = self._saved_mode, None
        if mode is None:
            return
        import termios

        try:
            termios.tcsetattr(self._fd, termios.TCSANOW, mode)
        except (OSError, termios.error):
            log.debug("could not restore the terminal's echo")

    # -- the reading thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._read_lines()
        except Exception as exc:  # a thread's last resort: the listener still waits
            # Its name only: the text of an error about the input may quote it.
            log.debug("reading a pasted login address failed: %s", type(exc).__name__)
        finally:
            self._stopping.set()
            with self._lock:
                self._pipe_open = False
                os.close(self._wake_r)
                os.close(self._wake_w)
            self._restore_echo()

    def _read_lines(self) -> None:
        selector_class = getattr(selectors, "PollSelector", selectors.SelectSelector)
        buffer = b""
        skipping = False
        with selector_class() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            # Bounded by the wait: its end (a callback, an error, the timeout, a close) stops
            # this reader through the pipe.
            while not self._stopping.is_set():
                ready = {key.fd for key, _ in selector.select()}
                if self._wake_r in ready or self._stopping.is_set():
                    return
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    if buffer.strip() and not skipping:
                        self._judge(buffer)
                    self._input_ended()
                    return
                buffer += chunk
                while b"\n" in buffer and not self._stopping.is_set():
                    line, _, buffer = buffer.partition(b"\n")
                    if skipping:
                        skipping = False
                        continue
                    self._judge(line)
                if len(buffer) > MAX_PASTE:
                    buffer, skipping = b"", True
                    self._show("That is too long to be the login's address; it was ignored.")

    def _judge(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace")
        for marker in _PASTE_MARKERS:
            text = text.replace(marker, "")
        text = text.strip()
        if not text or not self.receiver.pending:
            return
        if self.hidden:
            self._show("Checking the pasted address…")
        try:
            self.receiver.accept_pasted(text)
        except BrokerAuthError as exc:
            text = f"{exc.message}."
            if self.receiver.pending:
                text += " Paste it again."
                if exc.hint and not self._hinted:  # once is enough: the line does not change
                    self._hinted = True
                    text += f"\n  ({exc.hint})"
            self._show(text)

    def _input_ended(self) -> None:
        if self._on_end is not None:
            self._on_end()
        if self.receiver.pending:
            self._show("Nothing more can be pasted (standard input is closed); waiting for the "
                       f"browser to reach {self.receiver.redirect_uri}.")


#: The most often a progress line is printed when the stream is not a terminal (a log file,
#: a CI job's output): one line per redraw would bury the instructions above it.
PLAIN_EVERY = 30.0
# A clock face a status carries itself ("4:58 left", "1:02:03 left"): the countdown shows the
# time left once, live, at the front of its line.
_CLOCK_FACE = re.compile(r"\s*\b(?:\d+:)?\d+:\d{2} left\b")
_ERASE = "\r\x1b[K"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _width_of(stream: TextIO) -> int:
    """The columns of the terminal ``stream`` writes to (its own size, else $COLUMNS)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        import shutil  # only here: not every stream is a terminal's

        return shutil.get_terminal_size().columns


class Countdown:
    """``m:ss left — message — status`` while a flow waits.

    On a terminal: one row, redrawn in place each second (carriage return, erase to the end
    of the row), never wider than the terminal (a row that wrapped could not be redrawn, and
    would stay behind); notes are printed above it; the row is erased at the end.  Only the
    innermost of nested countdowns draws.  Elsewhere (a pipe, a file): nothing when the wait
    starts, so that what the flow says first (the URL to open, the instruction) comes first,
    then a plain progress line at most every :data:`PLAIN_EVERY` seconds.

    ``now`` (the clock) and ``width`` (the terminal's columns) are read at each drawing."""

    def __init__(
        self,
        message: str,
        deadline: datetime | None,
        stream: TextIO,
        *,
        on_enter: Callable[[Countdown], None] | None = None,
        on_exit: Callable[[Countdown], None] | None = None,
        now: Callable[[], datetime] = _utc_now,
        width: Callable[[], int] | None = None,
        redraw_every: float | None = 1.0,
    ) -> None:
        self.message = message
        self.deadline = deadline
        self.status = ""
        self.stream = stream
        try:
            self.live = stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        #: Whether this countdown draws: not while a countdown entered after it is shown.
        self.shown = True
        self._now = now
        self._width = width if width is not None else functools.partial(_width_of, stream)
        #: Seconds between redraws by the countdown's own thread; ``None``: no thread, the
        #: owner calls :meth:`tick`.
        self._redraw_every = redraw_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._drawn = False  # a countdown row is on the terminal
        self._last_plain: datetime | None = None
        self._on_enter = on_enter
        self._on_exit = on_exit

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        with self._lock:
            self.status = status
            if deadline is not None:
                self.deadline = deadline
        self.tick()

    def note(self, text: str) -> None:
        """``text`` on lines of its own, above the countdown's row when it is live."""
        text = shown(text)
        with self._lock:
            if self.live and self._drawn:
                self.stream.write(f"{_ERASE}{text}\n{self._row()}")
                self.stream.flush()
            else:
                print(text, file=self.stream, flush=True)

    def tick(self) -> None:
        """Draws once: the row anew on a terminal; elsewhere a progress line when
        :data:`PLAIN_EVERY` seconds have passed since the start or the last one."""
        with self._lock:
            if not self.shown or self._stop.is_set():
                return
            if self.live:
                self.stream.write(f"{_ERASE}{self._row()}")
                self._drawn = True
            else:
                now = self._now()
                if (self._last_plain is not None
                        and (now - self._last_plain).total_seconds() < PLAIN_EVERY):
                    return
                self._last_plain = now
                self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """The whole line: ``m:ss left — message — status`` (one time left, the live one)."""
        parts = []
        if self.deadline is not None:
            left = max(0, int((self.deadline - self._now()).total_seconds()))
            hours, rest = divmod(left, 3600)
            parts.append(f"{hours}:{rest // 60:02d}:{rest % 60:02d} left" if hours
                         else f"{left // 60}:{left % 60:02d} left")
        # The message and the status may quote a server: their controls are shown, not obeyed.
        parts.append(shown(self.message, lines=False))
        status = " ".join(_CLOCK_FACE.sub("", shown(self.status, lines=False)).split())
        if status:
            parts.append(status)
        return " — ".join(parts)

    def _row(self) -> str:
        """The line cut to the terminal's width, less one column: text in the last column
        makes some terminals wrap, and a wrapped row is one the next redraw cannot erase."""
        text = " ".join(self.line().split())  # a newline in a message would leave a row
        room = max(1, self._width() - 1)
        return text if len(text) <= room else text[: room - 1] + "…"

    def _draw(self, every: float) -> None:
        while not self._stop.wait(every):
            self.tick()

    def __enter__(self) -> Countdown:
        if self._on_enter is not None:  # first: an outer countdown gives up its row
            self._on_enter(self)
        with self._lock:
            if self.live:
                self.stream.write(f"{_ERASE}{self._row()}")
                self.stream.flush()
                self._drawn = True
            else:
                self._last_plain = self._now()  # the first progress line after PLAIN_EVERY
        if self._redraw_every is not None:
            self._thread = threading.Thread(target=self._draw, args=(self._redraw_every,),
                                            daemon=True, name="brokerauth-countdown")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if self.live and self._drawn:
                self.stream.write(_ERASE)
                self.stream.flush()
            self._drawn = False
        if self._on_exit is not None:
            self._on_exit(self)

    def hide(self) -> None:
        """Stops drawing (a countdown entered after it takes the row), erasing its row."""
        with self._lock:
            self.shown = False
            if self.live and self._drawn:
                self.stream.write(_ERASE)
                self.stream.flush()
            self._drawn = False

    def show(self) -> None:
        with self._lock:
            self.shown = True
        self.tick()
