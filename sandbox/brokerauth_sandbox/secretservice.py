"""A real Secret Service (freedesktop.org's keyring API over D-Bus) for tests: Debian's
``gnome-keyring-daemon`` on a private D-Bus session bus, in a throwaway folder of its own.

::

    with SecretService() as service:
        env = {**os.environ, **service.environ}   # DBUS_SESSION_BUS_ADDRESS, XDG_* ...
        subprocess.run(["secret-tool", "lookup", "service", "x"], env=env)

The bus is a ``dbus-daemon`` with a configuration of its own: it listens on a unix socket in
the folder and activates no service, so nothing starts behind the runner's back (the system's
``session.conf`` would start any ``gnome-keyring-daemon`` on first use).  The keyring daemon
runs in the foreground (its process is ours to stop), with only its ``secrets`` component, and
unlocks its ``login`` collection (the ``default`` alias) with :attr:`SecretService.password`,
random, fed on standard input, never on a command line.  ``HOME`` and the ``XDG_*`` folders of
both daemons, and of the clients given :attr:`~SecretService.environ`, are in the folder: the
user's own keyrings and settings are never read.

Outages for tests: :meth:`~SecretService.lock` locks the collection (as a screen lock would),
:meth:`~SecretService.stop_keyring` takes the service off the bus (the bus stays: clients see
"no one owns org.freedesktop.secrets"), :meth:`~SecretService.start_keyring` brings it back,
unlocked, with the items kept on disk.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from brokerauth_sandbox.daemon import FolderDaemon

INSTALL = ("apt-get install gnome-keyring dbus-daemon dbus-bin libsecret-tools  "
           "(Debian/Ubuntu; `make test` does it when run as root, or `make secret-service`)")
#: What the runner itself needs: the bus, the keyring daemon, and dbus-send to talk to them.
PROGRAMS = ("dbus-daemon", "gnome-keyring-daemon", "dbus-send")
#: The well-known bus name of the Secret Service.
BUS_NAME = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"
#: The collection ``gnome-keyring-daemon --unlock`` makes and unlocks, the ``default`` alias.
COLLECTION_PATH = "/org/freedesktop/secrets/collection/login"
#: Upper bound of every wait: a daemon's start or stop, one dbus-send call.
TIMEOUT = 20.0
#: The variables a client needs to reach this service (and only it).
CLIENT_VARIABLES = ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME",
                    "XDG_DATA_HOME", "XDG_CACHE_HOME")

_PR_SET_PDEATHSIG = 1

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SecretServiceMissing(RuntimeError):
    """A program the runner needs is not installed; the message names the install command."""


def missing_programs() -> list[str]:
    return [program for program in PROGRAMS if shutil.which(program) is None]


class SecretService(FolderDaemon):
    """One private D-Bus session bus and one ``gnome-keyring-daemon`` serving the Secret Service
    on it, in a folder of their own; :meth:`close` stops both and removes the folder.

    :raises SecretServiceMissing: a program of :data:`PROGRAMS` is not installed.
    """

    password: str
    environ: dict[str, str]

    def __init__(self) -> None:
        missing = missing_programs()
        if missing:
            raise SecretServiceMissing(
                f"the Secret Service runner needs {', '.join(missing)}, not installed: "
                f"run {INSTALL}")
        self.password = secrets.token_urlsafe(18)
        # Short: a unix socket's path is at most ~107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="brokerauth-ss-", dir="/tmp"))
        self.socket = self.folder / "bus"
        self.home = self.folder / "home"
        runtime = self.folder / "runtime"
        for folder in (self.home, runtime, self.folder / "config", self.folder / "data",
                       self.folder / "cache"):
            folder.mkdir(mode=0o700)
        self.address = f"unix:path={self.socket}"
        self.environ = {
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(self.folder / "config"),
            "XDG_DATA_HOME": str(self.folder / "data"),
            "XDG_CACHE_HOME": str(self.folder / "cache"),
        }
        self.log = self.folder / "daemons.log"
        self._bus: subprocess.Popen[bytes] | None = None
        self._keyring: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:  # no password: the canary reads every object's repr
        bus = "up" if self.bus_running else "down"
        keyring = "up" if self.keyring_running else "down"
        return f"<SecretService bus {bus}, keyring {keyring}, in {self.folder}>"

    # -- life cycle ------------------------------------------------------------------------
    @property
    def bus_running(self) -> bool:
        return self._bus is not None and self._bus.poll() is None

    @property
    def keyring_running(self) -> bool:
        return self._keyring is not None and self._keyring.poll() is None

    @property
    def pids(self) -> list[int]:
        """The process ids of the running daemons (bus first)."""
        return [process.pid for process in (self._bus, self._keyring)
                if process is not None and process.poll() is None]

    def start(self) -> None:
        """Start the bus, then the keyring daemon, each unless running; return once the
        Secret Service answers on the bus.

        :raises RuntimeError: a daemon did not come up within :data:`TIMEOUT` seconds; the
            message ends with the daemons' log.
        """
        if not self.folder.is_dir():
            raise RuntimeError(f"{self!r} was closed; make a new SecretService")
        if not self.bus_running:
            self._start_bus()
        self.start_keyring()

    def start_keyring(self) -> None:
        """Start ``gnome-keyring-daemon`` (unless running), which unlocks the ``login``
        collection with :attr:`password` (making it on the first start); return once it owns
        :data:`BUS_NAME`."""
        if self.keyring_running:
            return
        if not self.bus_running:
            raise RuntimeError(f"{self!r}: start() the bus first")
        env = self._daemon_env()
        with self.log.open("ab") as log:
            self._keyring = subprocess.Popen(  # noqa: S603 - Debian's daemon, no shell
                [_program("gnome-keyring-daemon"), "--foreground", "--unlock",
                 "--components=secrets"],
                stdin=subprocess.PIPE, stdout=log, stderr=log, env=env, cwd=self.home,
                start_new_session=True,
            )
        assert self._keyring.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._keyring.stdin.write(self.password.encode())
            self._keyring.stdin.close()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._keyring.poll() is not None:
                break
            if self.call("/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
                         f"string:{BUS_NAME}", destination="org.freedesktop.DBus",
                         ).strip().endswith("true"):
                return
            time.sleep(0.02)
        self.stop_keyring()
        raise RuntimeError(f"gnome-keyring-daemon did not serve {BUS_NAME} within "
                           f"{TIMEOUT:.0f} s; {self.log}:\n{self._log_tail()}")

    def stop_keyring(self) -> None:
        """Stop the keyring daemon: the Secret Service leaves the bus, which keeps running.
        Its items stay on disk for the next :meth:`start_keyring`."""
        process, self._keyring = self._keyring, None
        _terminate(process)

    def stop(self) -> None:
        """Stop the keyring daemon, then the bus."""
        self.stop_keyring()
        process, self._bus = self._bus, None
        _terminate(process)

    # -- clients ---------------------------------------------------------------------------
    def call(self, path: str, method: str, *arguments: str,
             destination: str = BUS_NAME) -> str:
        """``dbus-send --print-reply`` one method call on this bus (``method`` as
        ``interface.Member``, ``arguments`` in dbus-send's ``type:value`` form); returns the
        reply as dbus-send printed it.

        :raises RuntimeError: the call failed (the message holds dbus-send's error) or took
            over :data:`TIMEOUT` seconds.
        """
        command = [_program("dbus-send"), f"--bus={self.address}", "--print-reply",
                   f"--reply-timeout={int(TIMEOUT * 1000)}", f"--dest={destination}",
                   path, method, *arguments]
        try:
            done = subprocess.run(  # noqa: S603 - dbus-send, no shell
                command, capture_output=True, env={**os.environ, **self.environ},
                timeout=TIMEOUT + 5, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"dbus-send {method} took over {TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            raise RuntimeError(f"dbus-send {method} failed (exit {done.returncode}): "
                               f"{done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode(errors="replace")

    def lock(self, collection: str = COLLECTION_PATH) -> None:
        """Lock ``collection`` (as a screen lock would): its items can be neither read nor
        written until it is unlocked, which a person would do at a prompt; here
        :meth:`unlock` does it."""
        self.call(SERVICE_PATH, "org.freedesktop.Secret.Service.Lock",
                  f"array:objpath:{collection}")

    def unlock(self) -> None:
        """Unlock the ``login`` collection with :attr:`password`, as a person's login does:
        the keyring daemon is restarted with ``--unlock`` (unlocking over D-Bus needs a
        prompt, and a prompt needs a desktop)."""
        self.stop_keyring()
        self.start_keyring()

    def is_locked(self, collection: str = COLLECTION_PATH) -> bool:
        reply = self.call(collection, "org.freedesktop.DBus.Properties.Get",
                          "string:org.freedesktop.Secret.Collection", "string:Locked")
        return reply.strip().endswith("true")

    # -- inside ----------------------------------------------------------------------------
    def _daemon_env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        env = {key: os.environ[key] for key in keep if key in os.environ}
        env.update(self.environ, HOME=str(self.home))
        return env

    def _start_bus(self) -> None:
        config = self.folder / "bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=self.socket), encoding="utf-8")
        self.socket.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self._bus = subprocess.Popen(  # noqa: S603 - Debian's daemon, no shell
                [_program("dbus-daemon"), f"--config-file={config}", "--nofork",
                 "--nopidfile", "--print-address=1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                env=self._daemon_env(), cwd=self.home, start_new_session=True,
                preexec_fn=_dying_with(os.getpid()) if sys.platform == "linux" else None,
            )
        assert self._bus.stdout is not None
        line = _read_line(self._bus.stdout.fileno(), time.monotonic() + TIMEOUT)
        self._bus.stdout.close()
        if not line.startswith("unix:"):
            self.stop()
            raise RuntimeError(f"dbus-daemon gave no address within {TIMEOUT:.0f} s; "
                               f"{self.log}:\n{self._log_tail()}")
        # The address it printed carries the bus's guid; clients need only the path.


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SecretServiceMissing(f"{name} is not installed: run {INSTALL}")
    return found


def _dying_with(parent: int) -> Callable[[], None]:
    """What the bus runs before its program: ask Linux for SIGTERM when the process that
    started it dies, however it dies (a test run killed with SIGKILL never reaches
    :meth:`SecretService.close`).  The keyring daemon needs nothing of the sort: it ends
    when its bus does.  (The signal follows the starting *thread*: start the runner from the
    thread that lives longest, as pytest's fixtures do.)"""
    def arrange() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # it died before the request was made
            os._exit(1)

    return arrange


def _read_line(descriptor: int, deadline: float) -> str:
    """What a process printed up to its first newline, waiting until ``deadline`` at most."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([descriptor], [], [], left)
        if not ready:
            break
        chunk = os.read(descriptor, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").split("\n", 1)[0]


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the daemon's process group, SIGKILL it if it has not ended within
    :data:`TIMEOUT` seconds, and reap it."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=TIMEOUT)
