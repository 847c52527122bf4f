"""A command line run as a subprocess whose Ctrl-C handling is under test: the harness behind
the sandbox command lines' tests (core and every plugin), as :mod:`brokerauth_sandbox.fleet` is
behind the multi-process ones.

Every wait has a deadline and no test sleeps and hopes: a SIGINT lands at a known point — held
until the command takes SIGINT over, sent after a line read on stdout, or raised by the child
itself at a pinned point (:data:`PIN`, a test's patch, not a hook of the command line).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = [
    "PIN",
    "Child",
    "assert_clean_exit",
    "ctrl_c_after_the_banner",
    "ctrl_c_at_a_pinned_point",
    "ctrl_c_at_once",
]

#: Run as ``python -c PIN POINT MODULE ARGS...``: the command line, with Ctrl-C raised by the
#: process itself at one point (a test's patch, not a hook of the command line).
PIN = """
import argparse, builtins, importlib, signal, sys
from http.server import ThreadingHTTPServer
from brokerauth_sandbox.server import SandboxServer

point, module, *argv = sys.argv[1:]

def pin(owner, name, *, nth=1, after=False):
    real, calls = getattr(owner, name), []
    def pinned(*args, **kwargs):
        calls.append(1)
        if len(calls) == nth and not after:
            signal.raise_signal(signal.SIGINT)
        result = real(*args, **kwargs)
        if len(calls) == nth and after:
            signal.raise_signal(signal.SIGINT)
        return result
    setattr(owner, name, pinned)

if point == "reading the arguments":
    pin(argparse.ArgumentParser, "parse_args")
elif point == "loading the plugin":
    from brokerauth.engine.pluginhost import PluginHost
    pin(PluginHost, "create")
elif point == "binding the port":
    pin(ThreadingHTTPServer, "server_activate")
elif point == "the server just started":
    pin(SandboxServer, "start", after=True)
elif point == "printing the banner":
    pin(builtins, "print", nth=2)
elif point == "stopping":
    pin(SandboxServer, "stop")
elif point == "answering a typed line":
    # Whatever the emulator does with a typed line, it does it in its on_line callback.
    import types
    import brokerauth_sandbox.server as sandbox_server
    serve = sandbox_server.serve_until_interrupted
    def serve_pinned(*args, on_line=None, **kwargs):
        if on_line is not None:
            holder = types.SimpleNamespace(on_line=on_line)
            pin(holder, "on_line")
            on_line = holder.on_line
        return serve(*args, on_line=on_line, **kwargs)
    sandbox_server.serve_until_interrupted = serve_pinned
if module == "brokerauth":
    from brokerauth.cli import main
else:
    main = importlib.import_module(module).main
sys.exit(main(argv))
"""


class Child:
    """A sandbox command line in a subprocess, its output read by threads so that every wait
    has a deadline. Its ``TMPDIR`` is :attr:`tmp`, a new folder in ``folder``: whatever it
    leaves behind is there."""

    def __init__(self, command: list[str], folder: Path, *, hold_sigint: bool = False,
                 stdin: int = subprocess.DEVNULL) -> None:
        self.tmp = folder / "tmpdir"
        self.tmp.mkdir(parents=True)
        self.stdout = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        env = {**os.environ, "TMPDIR": str(self.tmp)}
        # Blocked here, so blocked in the child from its first instruction: a SIGINT sent at
        # once waits until the command line takes SIGINT over, instead of landing in Python's
        # own start-up (before any code of the command line runs).
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hold_sigint else None
        try:
            self.process = subprocess.Popen(  # noqa: S603 - the test's own command line
                command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=env,
            )
        finally:
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_lines, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_errors, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_lines(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _read_errors(self, stream: IO[str]) -> None:
        self._errors.append(stream.read())

    def until(self, marker: str, timeout: float = 10.0) -> str:
        """Stdout up to the line with ``marker``, read within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while marker not in self.stdout:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} within {timeout} s: {self.stdout!r}") from None
            if line is None:
                code, _, errors = self.finish()
                raise AssertionError(f"exited ({code}) before {marker!r}: {self.stdout!r} {errors}")
            self.stdout += line
        return self.stdout

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def interrupt_until_exit(self, timeout: float = 10.0) -> None:
        """A SIGINT now, and another every 5 ms until the process exits: some land while it
        stops, or while Python exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.interrupt()
            try:
                self.process.wait(timeout=0.005)
                return
            except subprocess.TimeoutExpired:
                continue

    def write(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def finish(self, timeout: float = 10.0) -> tuple[int | None, str, str]:
        """Wait ``timeout`` seconds at most for the exit (then kill): the exit code (``None``
        if killed), all of stdout and stderr."""
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self.close()
        while not self._lines.empty():
            self.stdout += self._lines.get_nowait() or ""
        return code, self.stdout, "".join(self._errors)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:  # they end at the pipes' end, which the exit brings
            reader.join(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def assert_clean_exit(child: Child, timeout: float = 10.0) -> str:
    """Exit code 0 within ``timeout`` seconds, nothing on stderr (no traceback), nothing left in
    its TMPDIR; returns its stdout."""
    code, out, errors = child.finish(timeout)
    assert (code, errors) == (0, ""), (
        f"{'hung, killed' if code is None else f'exit {code}'}; stderr: {errors}")
    assert not list(child.tmp.iterdir())
    return out


def ctrl_c_at_once(command: list[str], folder: Path, last_line: str, *, runs: int = 20) -> None:
    """``runs`` starts of ``command``, each sent SIGINT at once: every one a clean exit that
    printed nothing (held, SIGINT is taken before anything starts) or, should this process lag
    far behind the child, its whole banner, never a banner cut short."""
    children: list[Child] = []
    try:
        for run in range(runs):
            children.append(Child(command, folder / str(run), hold_sigint=True))
            children[-1].interrupt()
        deadline = time.monotonic() + 20
        for child in children:
            out = assert_clean_exit(child, max(0.0, deadline - time.monotonic()))
            assert out == "" or out.rstrip().endswith(last_line), out
    finally:
        for child in children:
            child.close()


def ctrl_c_after_the_banner(command: list[str], folder: Path, last_line: str) -> str:
    """SIGINT once ``last_line`` was printed, and again every 5 ms until the exit (some land
    while it stops): a clean exit; returns what it printed."""
    with Child(command, folder) as child:
        child.until(last_line)
        child.interrupt_until_exit()
        return assert_clean_exit(child)


def ctrl_c_at_a_pinned_point(
    point: str, target: list[str], folder: Path, last_line: str
) -> None:
    """``target`` (``MODULE ARGS...``, or ``brokerauth ARGS...``) run with SIGINT raised by the
    process itself at ``point`` (see :data:`PIN`): a clean exit, and a banner either whole or
    not begun."""
    import sys

    command = [sys.executable, "-c", PIN, point, *target]
    with Child(command, folder) as child:
        if point == "stopping":  # the Ctrl-C that starts the stop, then one inside it
            child.until(last_line)
            child.interrupt()
        out = assert_clean_exit(child)
    if point in ("printing the banner", "stopping"):
        assert out.rstrip().endswith(last_line)  # never cut in the middle
    else:
        assert out == ""  # stopped before it said it listens
