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

import logging
import os
import selectors
import sys
import threading
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

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
    ) -> None:
        self.open_browser = open_browser
        self.stream = stream or sys.stderr
        #: Whether a redirect may be pasted while a flow waits for one: by default, when no
        #: browser is opened here (it may be on another machine).
        self.paste = (not open_browser) if paste is None else paste
        self._stdin = stdin
        self._countdown: Countdown | None = None
        self._reader: _PasteReader | None = None
        self._lock = threading.Lock()

    def say(self, message: str) -> None:
        self._show(message)

    def open_url(self, url: str) -> None:
        self._show(f"Open this URL to continue:\n  {url}")
        if self.open_browser:
            webbrowser.open(url)
        reader = self._offer_paste()
        if reader is not None:
            self._show(
                f"After you approve, the browser is sent to {reader.receiver.redirect_uri}. If "
                "that page does not load (the browser is on another machine), paste the whole "
                "address it shows here and press Enter"
                + (" (it is not shown as you paste)." if reader.hidden else ".")
            )

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Countdown:
        return Countdown(message, deadline, self.stream, on_enter=self._entered,
                         on_exit=self._left)

    def _show(self, text: str) -> None:
        countdown = self._countdown
        if countdown is not None:
            countdown.note(text)
        else:
            print(text, file=self.stream, flush=True)

    def _entered(self, countdown: Countdown) -> None:
        self._countdown = countdown
        self._offer_paste()

    def _left(self, countdown: Countdown) -> None:
        if self._countdown is countdown:
            self._countdown = None
        self._stop_reading()

    def _offer_paste(self) -> _PasteReader | None:
        """The paste reader for the redirect the flow waits for, started on first need."""
        if not self.paste:
            return None
        receiver = announced_redirect()
        if receiver is None:
            return None
        with self._lock:
            reader = self._reader
            if reader is not None and reader.receiver is receiver and reader.running:
                return reader
        self._stop_reading()
        stdin = self._stdin if self._stdin is not None else sys.stdin
        try:
            fd = stdin.fileno() if stdin is not None else -1
        except (AttributeError, ValueError, OSError):  # replaced, closed, or not a file
            fd = -1
        if fd < 0 or not _may_read(fd):
            return None
        reader = _PasteReader(receiver, fd, self._show)
        with self._lock:
            self._reader = reader
        reader.start()
        return reader

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

    def __init__(self, receiver: RedirectReceiver, fd: int, show: Callable[[str], None]) -> None:
        self.receiver = receiver
        self._fd = fd
        self._show = show
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

    def start(self) -> None:
        self._hide_echo()
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
        if self.receiver.pending:
            self._show("Nothing more can be pasted (standard input is closed); waiting for the "
                       f"browser to reach {self.receiver.redirect_uri}.")


class Countdown:
    """``message — status — m:ss left``, redrawn each second on a terminal."""

    def __init__(
        self,
        message: str,
        deadline: datetime | None,
        stream: TextIO,
        *,
        on_enter: Callable[[Countdown], None] | None = None,
        on_exit: Callable[[Countdown], None] | None = None,
    ) -> None:
        self.message = message
        self.deadline = deadline
        self.status = ""
        self.stream = stream
        self.live = stream.isatty()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._on_enter = on_enter
        self._on_exit = on_exit

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        with self._lock:
            self.status = status
            if deadline is not None:
                self.deadline = deadline
        if not self.live:
            print(self._line(), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """``text`` on lines of its own, above the countdown's line when it is live."""
        with self._lock:
            if self.live:
                self.stream.write(f"\r\x1b[2K{text}\n{self._line()}")
                self.stream.flush()
            else:
                print(text, file=self.stream, flush=True)

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
                self.stream.write(f"\r\x1b[2K{self._line()}")
                self.stream.flush()

    def __enter__(self) -> Countdown:
        print(self._line(), file=self.stream, end="" if self.live else "\n", flush=True)
        if self.live:
            self._thread = threading.Thread(target=self._draw, daemon=True)
            self._thread.start()
        if self._on_enter is not None:
            self._on_enter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._on_exit is not None:
            self._on_exit(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self.stream.write("\n")
            self.stream.flush()
