"""A real PostgreSQL server on loopback for tests and benchmarks: Debian's ``postgresql``
binaries, a throwaway cluster of its own, password (SCRAM) authentication over TCP.

::

    with PostgresServer() as server:
        url = server.create_database()      # postgresql://brokerauth:...@127.0.0.1:port/name
        server.psql("select 1", database=...)

Tuned for speed, not durability (``fsync``, ``synchronous_commit`` and ``full_page_writes``
off): what the tests store never needs to survive a power cut, only a :meth:`~PostgresServer.stop`
or a :meth:`~PostgresServer.kill` and a new :meth:`~PostgresServer.start`, which keep the data
and the port so a test can stage an outage and a return.

PostgreSQL refuses to run as root; when the tests do (CI, containers), the server runs as the
``postgres`` user Debian's package creates, in a folder under ``/tmp`` it owns (pytest's own
temporary folders are private to root).  The client side (``psql``) runs as the caller and
needs no Python driver.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from brokerauth_sandbox.daemon import FolderDaemon

INSTALL = ("apt-get install postgresql  (Debian/Ubuntu; `make test` does it when run as "
           "root, or `make postgresql`)")
#: The binaries a server needs, all from one installation (one major version).
PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql")
#: The unprivileged account the server runs as when we are root (Debian's package makes it).
SERVER_USER = "postgres"
SUPERUSER = "brokerauth"
HOST = "127.0.0.1"
#: Upper bound of every wait: a start (initdb included), a stop, one psql command.
TIMEOUT = 30.0
#: What a postmaster writes when it lost the race for its port to another program.
_BIND_FAILED = ("could not bind IPv4 address", "could not create any TCP/IP sockets")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed; the message names the install command."""


def postgres_binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl``, ``postgres`` and ``psql`` of one installation:
    the one ``initdb`` on ``PATH`` belongs to (symlinks followed: Debian's ``/usr/bin/psql`` is a
    wrapper, not the server's own), else the highest ``/usr/lib/postgresql/<major>/bin``.

    :raises PostgresMissing: no folder holds all four.
    """
    candidates: list[Path] = []
    found = shutil.which("initdb")
    if found is not None:
        candidates.append(Path(found).resolve().parent)

    def major(folder: Path) -> tuple[int, str]:
        name = folder.parent.name
        return (int(name) if name.isdigit() else -1, name)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    for folder in candidates:
        if all(os.access(folder / program, os.X_OK) for program in PROGRAMS):
            return folder
    raise PostgresMissing(f"Postgres's server ({', '.join(PROGRAMS)}) is not installed: "
                          f"run {INSTALL}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class PostgresServer(FolderDaemon):
    """One PostgreSQL cluster and its postmaster on ``127.0.0.1:port``, in a folder of its own.

    The cluster is made (``initdb``) on the first :meth:`start`; :meth:`close` stops the server
    and removes the folder.  ``superuser`` logs in with ``password`` (random, never logged, never
    on a command line) over TCP; the unix socket lives in the folder, out of everyone's way.
    """

    superuser: str
    password: str
    port: int

    def __init__(self, *, max_connections: int = 300) -> None:
        self.bin = postgres_binaries()
        self.max_connections = max_connections
        self.superuser = SUPERUSER
        self.password = secrets.token_urlsafe(24)
        self.port = free_port()
        self._account = _server_account()
        # When we are root, server programs run as that account (in the folder, as root's own
        # working directory may be closed to it); extra_groups=[] so the child does not keep
        # root's supplementary groups.
        self._uid = None if self._account is None else self._account.pw_uid
        self._gid = None if self._account is None else self._account.pw_gid
        self._groups: list[int] | None = None if self._account is None else []
        reap_orphans()
        # Short (a unix socket's path is at most ~107 bytes) and reachable by the server's user.
        self.folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=_TOP))
        # Who started it: a later runner stops the server of a process that died without
        # its teardown (a test run killed with SIGKILL).
        (self.folder / _OWNER).write_text(f"{os.getpid()}\n")
        if self._account is not None:
            os.chown(self.folder, self._account.pw_uid, self._account.pw_gid)
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._initialised = False
        self._started_once = False

    def __repr__(self) -> str:  # no password: the canary reads every brokerauth object's repr
        state = "running" if self.running else "stopped"
        return f"<PostgresServer {HOST}:{self.port} {state} in {self.folder}>"

    # -- life cycle ------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Make the cluster if this is the first start, then run the server until it accepts
        connections.  The first start moves to a new port if another program took the chosen
        one in the meantime; later starts keep the port (clients hold its URL).

        :raises RuntimeError: the server did not come up within :data:`TIMEOUT` seconds; the
            message ends with the server log's tail.
        """
        if self.running:
            return
        if not self.folder.is_dir():
            raise RuntimeError(f"{self!r} was closed; make a new PostgresServer")
        if not self._initialised:
            self._initdb()
        attempts = 1 if self._started_once else 5
        for attempt in range(attempts):
            if self._launch():
                self._started_once = True
                return
            if attempt + 1 < attempts and any(text in self._log_tail() for text in _BIND_FAILED):
                self.port = free_port()
                continue
            break
        raise RuntimeError(f"Postgres did not start on {HOST}:{self.port} within "
                           f"{TIMEOUT:.0f} s; the end of {self.log}:\n{self._log_tail()}")

    def stop(self) -> None:
        """Fast shutdown (open sessions are ended, nothing is lost); the data and the port are
        kept for the next :meth:`start`.  A server that will not stop is killed."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process = process
            self.kill()

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends at once, as a crash would: for outage tests.
        A later :meth:`start` recovers the cluster (crash recovery) on the same port."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: backends included
        process.wait(timeout=TIMEOUT)
        # A new postmaster refuses to start while a backend of the old one still holds the
        # shared memory; the kernel takes a moment to tear them down.
        deadline = time.monotonic() + TIMEOUT
        while _live_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    # -- clients ---------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """A libpq URL of ``database`` for the superuser, password included: keep it out of
        logs and messages."""
        return (f"postgresql://{self.superuser}:{self.password}@{HOST}:{self.port}/"
                f"{quote(database, safe='')}")

    def create_database(self, name: str | None = None) -> str:
        """``CREATE DATABASE`` (a random name when ``name`` is None); returns its :meth:`url`.

        :raises ValueError: ``name`` is not a plain lower-case SQL identifier.
        """
        name = name if name is not None else f"test_{secrets.token_hex(6)}"
        if not _NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _ "
                             "(at most 63, not starting with a digit)")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, statements: str, database: str = "postgres") -> str:
        """Run ``statements`` (one or more statements, fed on standard input, so never on a command
        line) with the server's own ``psql`` as the superuser over TCP; returns what it printed
        (unaligned, tuples only, no command tags).

        :raises RuntimeError: psql failed (the first error stops it); the message holds its
            standard error.
        """
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10", PGSSLMODE="disable",
                   PGAPPNAME="brokerauth-sandbox")
        command = [str(self.bin / "psql"), "-X", "-A", "-t", "-q", "-w",
                   "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(self.port),
                   "-U", self.superuser, "-d", database, "-f", "-"]
        try:
            done = subprocess.run(  # noqa: S603 - the server's own psql, no shell
                command, input=statements.encode(), capture_output=True, env=env,
                timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"psql on {HOST}:{self.port}/{database} took over "
                               f"{TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            raise RuntimeError(f"psql on {HOST}:{self.port}/{database} failed (exit "
                               f"{done.returncode}): {done.stderr.decode(errors='replace')}")
        return done.stdout.decode(errors="replace")

    # -- inside ----------------------------------------------------------------------------
    def _initdb(self) -> None:
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        if self._account is not None:
            os.chown(pwfile, self._account.pw_uid, self._account.pw_gid)
        try:
            done = subprocess.run(  # noqa: S603 - the server's own initdb, no shell
                [str(self.bin / "initdb"), "-D", str(self.data), "-U", self.superuser,
                 "--auth=scram-sha-256", f"--pwfile={pwfile}", "--locale=C",
                 "--encoding=UTF8", "--no-sync", "--no-instructions"],
                capture_output=True, timeout=TIMEOUT, check=False, cwd=self.folder,
                user=self._uid, group=self._gid, extra_groups=self._groups,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"initdb took over {TIMEOUT:.0f} s in {self.data}") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"initdb failed in {self.data} (exit {done.returncode}):\n"
                               f"{output[-3000:]}")
        self._initialised = True

    def _launch(self) -> bool:
        """Start the postmaster; True once it is ready, False (and stopped) if not in time."""
        settings = {
            "port": str(self.port),
            "listen_addresses": HOST,
            "unix_socket_directories": str(self.folder),
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "log_destination": "stderr",
        }
        options = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - the server itself, no shell
                [str(self.bin / "postgres"), "-D", str(self.data), *options],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, cwd=self.folder,
                user=self._uid, group=self._gid, extra_groups=self._groups,
            )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self._ready():
                return True
            time.sleep(0.02)
        self.kill()
        return False

    def _ready(self) -> bool:
        """The postmaster's lock file says so: its pid on line 1, "ready" on line 8."""
        try:
            lines = (self.data / "postmaster.pid").read_text(errors="replace").splitlines()
        except OSError:
            return False
        return (self._process is not None and len(lines) >= 8
                and lines[0].strip() == str(self._process.pid) and lines[7].strip() == "ready")


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresMissing(
            f"Postgres refuses to run as root, and there is no {SERVER_USER!r} user to run "
            f"it as: run {INSTALL} (the package creates it), or `useradd --system "
            f"{SERVER_USER}`, or run the tests as a user other than root"
        ) from None


def _live_members(group: int) -> bool:
    """Whether a process of process group ``group`` is still alive (zombies do not count:
    they hold no shared memory, and nobody may reap them in a container)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(group) and fields[0] not in ("Z", "X"):
            return True
    return False


_TOP = "/tmp"  # noqa: S108 - short (socket paths), reachable by the server's user
_PREFIX = "brokerauth-pg-"
_OWNER = "started-by"


def reap_orphans() -> None:
    """Stop the servers, and remove the folders, of runners whose process is gone.

    PostgreSQL's postmaster does not keep a parent-death signal, so a server whose test run
    was killed outright would run on; the next runner (the next test run) finds its folder,
    sees the starting process is dead, and shuts it down (immediately: SIGQUIT).
    """
    account = _server_account()
    ours = {os.getuid(), *(() if account is None else (account.pw_uid,))}
    for folder in Path(_TOP).glob(f"{_PREFIX}*"):
        try:
            # Only a folder a runner of this user made: anyone can create folders in /tmp.
            if folder.is_symlink() or folder.stat().st_uid not in ours:
                continue
            owner = int((folder / _OWNER).read_text().strip())
        except (OSError, ValueError):
            continue  # not a runner's, or still being made
        if _alive(owner):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((folder / "data" / "postmaster.pid").read_text().split()[0])
            # Signalled only if it is that folder's server, run by the server's account.
            command = Path(f"/proc/{postmaster}/cmdline").read_bytes().split(b"\0")
            if str(folder / "data").encode() in command and _uid_of(postmaster) in ours:
                os.kill(postmaster, signal.SIGQUIT)
        shutil.rmtree(folder, ignore_errors=True)


def _uid_of(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
