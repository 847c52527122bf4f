"""The file store's lock wakes its waiters: a process waiting for another's lock tries again
the moment the holder releases (a blocking flock request in the kernel), not at its next poll;
the wait stays bounded by its timeout; and a caller waiting for another process's refresh
takes the stored token without queueing for the lock.

Each holder is a real process holding the real lock file; the poll interval is made huge, so
that only a wake-up can serve a waiter in the time allowed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.engine.refresh import StoppableLock, TokenManager
from brokerauth.toolkit import privatefiles, wokenlock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock wake-ups are POSIX")

KEY = TokenKey("wake", "default")
#: Far longer than any test here may take: a waiter served within seconds was woken.
HUGE_POLL = 120.0
PROMPT = 3.0

HOLDER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime, timedelta
    from brokerauth.builtin import filestore
    from brokerauth.builtin.filestore import FileStoreOptions
    from brokerauth.contract.tokens import Token, TokenKey

    options = FileStoreOptions(path=sys.argv[1])
    key = TokenKey("wake", "default")
    with filestore.lock(key, options, 10) as held:
        print("held" if held else "not held", flush=True)
        for line in sys.stdin:
            if line.strip() == "save":
                now = datetime.now(UTC)
                filestore.save(key, Token(access_token="wake-new-access", broker="acme",
                                          refresh_token="wake-new-refresh", issued_at=now,
                                          expires_at=now + timedelta(hours=1)), options)
                print("saved", flush=True)
            elif line.strip() == "release":
                break
    print("released", flush=True)
""")


class Holder:
    """A process holding the store's lock on KEY until told to let go."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        assert self.said() == "held"

    def said(self, within: float = 30.0) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], within)
        assert ready, "the holder said nothing"
        return self.process.stdout.readline().strip()

    def tell(self, what: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(what + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def options(tmp_path: Path) -> FileStoreOptions:
    return FileStoreOptions(path=str(tmp_path / "tokens"))


@pytest.fixture
def holder(options: FileStoreOptions) -> Iterator[Holder]:
    assert options.path is not None
    made = Holder(Path(options.path))
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def huge_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privatefiles, "LOCK_POLL_INTERVAL", HUGE_POLL)


def _blocked_in_kernel(lock_file: Path, at_least: int = 1) -> bool:
    """Whether ``at_least`` requests wait in the kernel for ``lock_file``'s flock
    (/proc/locks shows a waiting request as ``->``)."""
    inode = f":{os.stat(lock_file).st_ino} "
    with open("/proc/locks") as locks:
        waiting = sum(1 for line in locks
                      if "->" in line and "FLOCK" in line and inode in line)
    return waiting >= at_least


def _until(condition: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the waiter never blocked on the lock"
        time.sleep(0.005)


class Waiter:
    """A thread entering ``lock``; when it got in (or gave up) and with what."""

    def __init__(self, lock: AbstractContextManager[bool]) -> None:
        self.result: bool | None = None
        self.done_at: float | None = None
        self.thread = threading.Thread(target=self._run, args=(lock,), daemon=True)
        self.started_at = time.monotonic()
        self.thread.start()

    def _run(self, lock: AbstractContextManager[bool]) -> None:
        with lock as held:
            self.done_at = time.monotonic()
            self.result = held

    def join(self, within: float) -> None:
        self.thread.join(within)


needs_proc_locks = pytest.mark.skipif(not Path("/proc/locks").exists(),
                                      reason="/proc/locks shows who waits for a flock")


@needs_proc_locks
@pytest.mark.usefixtures("huge_poll")
def test_a_waiter_gets_the_lock_as_soon_as_the_holder_releases_it(
    holder: Holder, options: FileStoreOptions
) -> None:
    waiter = Waiter(filestore.lock(KEY, options, 60))
    _until(lambda: _blocked_in_kernel(filestore.lock_path(KEY, options)))
    assert waiter.result is None
    released = time.monotonic()
    holder.tell("release")
    assert holder.said() == "released"
    waiter.join(PROMPT + 5)
    assert waiter.result is True
    assert waiter.done_at is not None
    # Its poll would have come after HUGE_POLL seconds: a wake-up served it.
    assert waiter.done_at - released < PROMPT


def test_a_killed_holder_wakes_the_waiter_at_once(
    holder: Holder, options: FileStoreOptions, huge_poll: None
) -> None:
    waiter = Waiter(filestore.lock(KEY, options, 60))
    if Path("/proc/locks").exists():
        _until(lambda: _blocked_in_kernel(filestore.lock_path(KEY, options)))
    killed = time.monotonic()
    holder.process.kill()
    waiter.join(PROMPT + 5)
    assert waiter.result is True
    assert waiter.done_at is not None and waiter.done_at - killed < PROMPT


@pytest.mark.usefixtures("huge_poll")
def test_the_wait_ends_at_its_timeout_whatever_the_poll_interval(
    holder: Holder, options: FileStoreOptions
) -> None:
    waiter = Waiter(filestore.lock(KEY, options, 0.5))
    waiter.join(PROMPT + 5)
    assert waiter.result is False
    assert waiter.done_at is not None
    assert 0.5 <= waiter.done_at - waiter.started_at < PROMPT


def test_a_single_attempt_does_not_wait(holder: Holder, options: FileStoreOptions) -> None:
    started = time.monotonic()
    with filestore.lock(KEY, options, 0) as held:
        assert held is False
    assert time.monotonic() - started < PROMPT


@pytest.mark.usefixtures("huge_poll")
def test_stop_when_ends_the_wait_once_the_holder_is_done(
    holder: Holder, options: FileStoreOptions
) -> None:
    """The holder stores a token and releases: the waiter's check sees the token and it
    gives up the lock it no longer needs, promptly."""
    lock = filestore.lock(KEY, options, 60)
    assert isinstance(lock, StoppableLock)
    checks: list[bool] = []

    def stored_new() -> bool:
        token = filestore.load(KEY, options)
        checks.append(token is not None)
        return token is not None

    lock.stop_when(stored_new)
    waiter = Waiter(lock)
    holder.tell("save")
    assert holder.said() == "saved"
    released = time.monotonic()
    holder.tell("release")
    assert holder.said() == "released"
    waiter.join(PROMPT + 5)
    assert waiter.result is False
    assert waiter.done_at is not None and waiter.done_at - released < PROMPT
    assert checks and checks[-1] is True


class FileSource:
    """What a TokenManager needs, over the real file store; refreshes are counted (and
    must not happen: the other process refreshes)."""

    label = "wake/default"
    login_command = "brokerauth login wake"

    def __init__(self, options: FileStoreOptions) -> None:
        self.options = options
        self.refreshes = 0

    def load(self) -> Token | None:
        return filestore.load(KEY, self.options)

    def save(self, token: Token) -> None:
        filestore.save(KEY, token, self.options)

    def lock(self, timeout: float) -> AbstractContextManager[bool]:
        return filestore.lock(KEY, self.options, timeout)

    def acquire(self, stored: Token | None) -> Token | None:
        raise AssertionError("no login here")

    def refresh(self, token: Token) -> Token | None:
        self.refreshes += 1
        raise AssertionError("the other process refreshes")


def test_a_manager_waiting_for_another_process_takes_its_token_before_the_lock_is_free(
    holder: Holder, options: FileStoreOptions
) -> None:
    """The holder has stored the new token but still holds the lock (say, a slow notice):
    the waiting manager is served from the store, without the lock and without refreshing."""
    now = datetime.now(UTC)
    source = FileSource(options)
    source.save(Token(access_token="wake-old-access", broker="acme",
                      refresh_token="wake-old-refresh", issued_at=now - timedelta(hours=2),
                      expires_at=now - timedelta(hours=1)))
    manager = TokenManager(source, SystemClock(), lock_timeout=60)
    served: list[Token | None] = []
    caller = threading.Thread(target=lambda: served.append(manager.current()), daemon=True)
    caller.start()
    holder.tell("save")
    assert holder.said() == "saved"
    caller.join(PROMPT + 5)
    try:
        assert served and served[0] is not None
        assert served[0].access_token == "wake-new-access"
        assert source.refreshes == 0
        assert holder.process.poll() is None  # still holding the lock all along
    finally:
        holder.tell("release")


def test_a_wait_checks_the_store_at_most_every_quarter_second_between_releases(
    holder: Holder, options: FileStoreOptions
) -> None:
    """A lock held for long (a login waiting for a person) and polled every 50 ms: the
    waiter's check, a store read (a D-Bus call on the keyring store), is made at most every
    :data:`~brokerauth.toolkit.wokenlock.CHECK_EVERY`, not at every poll."""
    lock = filestore.lock(KEY, options, 1.0)
    assert isinstance(lock, StoppableLock)
    checks: list[float] = []

    def never_over() -> bool:
        checks.append(time.monotonic())
        return False

    lock.stop_when(never_over)
    with lock as held:
        assert held is False  # timed out: the holder holds on
    assert 2 <= len(checks) <= 1.0 / wokenlock.CHECK_EVERY + 2, len(checks)


def test_without_flock_a_wait_still_ends_when_the_holder_has_stored_the_token(
    holder: Holder, options: FileStoreOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel's shared lock is missing (Windows), the wait is filelock's polling
    one, made in pieces with the check between them: a waiter still takes the stored token
    while the holder holds the lock."""
    monkeypatch.setattr(wokenlock, "_CAN_BLOCK", False)
    lock = filestore.lock(KEY, options, 60)
    assert isinstance(lock, StoppableLock)
    lock.stop_when(lambda: filestore.load(KEY, options) is not None)
    waiter = Waiter(lock)
    holder.tell("save")
    assert holder.said() == "saved"
    saved = time.monotonic()
    waiter.join(PROMPT + 5)
    assert waiter.result is False
    assert waiter.done_at is not None and waiter.done_at - saved < PROMPT
    assert holder.process.poll() is None  # it never let go


def _probe_threads() -> int:
    return sum(1 for thread in threading.enumerate()
               if thread.name == "brokerauth-file-lock-wait")


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="/proc/self/fd counts descriptors")
def test_waits_while_a_holder_holds_share_one_probe_and_one_descriptor(
    holder: Holder, options: FileStoreOptions
) -> None:
    """However long a holder holds (a stopped process, a login waiting for a person's 2FA),
    the waits of one process on its lock file share one helper thread and one descriptor:
    they do not pile up at each retry until the process runs out of descriptors."""
    threads_before, descriptors_before = _probe_threads(), _open_descriptors()
    most_threads, most_descriptors = 0, 0
    for _ in range(3):  # three waits in a row, each with three threads waiting at once
        waiters = [Waiter(filestore.lock(KEY, options, 1.0)) for _ in range(3)]
        while any(waiter.thread.is_alive() for waiter in waiters):
            most_threads = max(most_threads, _probe_threads() - threads_before)
            most_descriptors = max(most_descriptors, _open_descriptors() - descriptors_before)
            for waiter in waiters:
                waiter.join(0.02)
            assert time.monotonic() - waiters[0].started_at < PROMPT + 5
        assert [waiter.result for waiter in waiters] == [False, False, False]
    assert most_threads == 1
    # The probe's descriptor, and at most one lock attempt's of the moment per waiter.
    assert most_descriptors <= 1 + 3
    assert _probe_threads() - threads_before == 1
    assert _open_descriptors() - descriptors_before == 1
    holder.tell("release")
    assert holder.said() == "released"
    deadline = time.monotonic() + PROMPT + 5
    while _probe_threads() > threads_before or _open_descriptors() > descriptors_before:
        assert time.monotonic() < deadline, "the probe outlived the holder"
        time.sleep(0.01)


def test_a_fifo_at_the_lock_path_does_not_block_the_wait(tmp_path: Path) -> None:
    """A FIFO swapped in where the lock file was: the wait for a release neither opens it
    for reading (which would block until a writer came) nor probes it."""
    fifo = tmp_path / "wake.json.lock"
    os.mkfifo(fifo)
    done: list[bool] = []
    waiter = threading.Thread(
        target=lambda: done.append(wokenlock._wait_for_release(fifo, 0.2)), daemon=True)
    waiter.start()
    waiter.join(PROMPT)
    try:
        assert done == [False]
    finally:
        if waiter.is_alive():  # unblock the open: a writer comes
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            waiter.join(PROMPT)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
@pytest.mark.usefixtures("huge_poll")
def test_a_forked_child_probes_for_itself(holder: Holder, options: FileStoreOptions) -> None:
    """A process forked while its probe of a lock file is pending (a pre-fork server): the
    probe's thread is not in the child, so the child's wait starts its own, and is woken by
    the release rather than served by a poll (made huge here)."""
    with filestore.lock(KEY, options, 0.2) as held:  # leaves this process's probe pending
        assert held is False
    assert _probe_threads() >= 1
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's answer on the pipe is the check
        os.close(reading)
        try:
            with filestore.lock(KEY, options, 30) as got:
                os.write(writing, b"held" if got else b"not held")
        finally:
            os._exit(0)
    os.close(writing)
    try:
        if Path("/proc/locks").exists():  # the parent's probe, and the child's own
            _until(lambda: _blocked_in_kernel(filestore.lock_path(KEY, options), 2))
        else:
            time.sleep(0.3)
        released = time.monotonic()
        holder.tell("release")
        assert holder.said() == "released"
        ready, _, _ = select.select([reading], [], [], PROMPT + 5)
        assert ready, "the child was not woken"
        assert os.read(reading, 64) == b"held"
        assert time.monotonic() - released < PROMPT
    finally:
        os.close(reading)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


@pytest.mark.usefixtures("huge_poll")
def test_a_waiter_finding_the_lock_held_waits_without_a_full_attempt(
    holder: Holder, options: FileStoreOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter that finds the lock held (every process of a crowd but the refreshing one)
    goes straight to waiting: its first full attempt (folders vetted, a filelock built, on
    a CPU the holder needs to refresh) is not made; the one after the release is."""
    attempts: list[bool] = []
    real_lock = privatefiles.lock

    @contextlib.contextmanager
    def counted(*args: object, **kwargs: object) -> Iterator[bool]:
        with real_lock(*args, **kwargs) as held:  # type: ignore[arg-type]
            attempts.append(held)
            yield held

    monkeypatch.setattr(privatefiles, "lock", counted)
    waiter = Waiter(filestore.lock(KEY, options, 60))
    if Path("/proc/locks").exists():
        _until(lambda: _blocked_in_kernel(filestore.lock_path(KEY, options)))
    else:
        _until(lambda: _probe_threads() > 0)
    assert attempts == []
    holder.tell("release")
    assert holder.said() == "released"
    waiter.join(PROMPT + 5)
    assert waiter.result is True
    assert attempts == [True]
    with filestore.lock(KEY, options, 0) as held:  # free: the probe leaves no lock behind
        assert held
    assert attempts == [True, True]


CROWD_WAITER = textwrap.dedent("""
    import json, sys, threading, time
    from datetime import UTC, datetime, timedelta
    from brokerauth.builtin import filestore
    from brokerauth.builtin.filestore import FileStoreOptions
    from brokerauth.contract.clock import SystemClock
    from brokerauth.contract.tokens import Token, TokenKey
    from brokerauth.engine.refresh import TokenManager
    from brokerauth.toolkit import privatefiles

    privatefiles.LOCK_POLL_INTERVAL = 120.0  # only a wake-up can serve it in time
    options = FileStoreOptions(path=sys.argv[1])
    key = TokenKey("wake", "default")
    loads = []

    class Source:
        label = "wake/default"
        login_command = "brokerauth login wake"
        def load(self):
            loads.append(1)
            return filestore.load(key, options)
        def save(self, token):
            filestore.save(key, token, options)
        def lock(self, timeout):
            return filestore.lock(key, options, timeout)
        def acquire(self, stored):
            raise AssertionError("no login here")
        def refresh(self, token):
            raise AssertionError("the holder refreshes")

    manager = TokenManager(Source(), SystemClock(), lock_timeout=60)
    now = datetime.now(UTC)
    manager._set(Token(access_token="wake-old-access", broker="acme",
                       refresh_token="wake-old-refresh", issued_at=now - timedelta(hours=2),
                       expires_at=now - timedelta(hours=1)))  # what it held: expired
    served = []
    def call():
        token = manager.current()
        served.append((time.time(), token.access_token))
    threads = [threading.Thread(target=call) for _ in range(int(sys.argv[2]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    print(json.dumps({"loads": len(loads), "served": served}), flush=True)
""")


@needs_proc_locks
def test_a_crowd_of_processes_is_served_at_the_release_reading_the_store_once_each(
    holder: Holder, options: FileStoreOptions
) -> None:
    """3 processes x 4 threads wait for the holder's refresh: when it stores the new token
    and releases, every thread is served within moments (the poll is 120 s: only wake-ups
    serve them), and each process reads the store once, whatever its number of threads:
    one thread per process waits at the lock, the others for that one."""
    assert options.path is not None
    crowd = [subprocess.Popen([sys.executable, "-c", CROWD_WAITER, options.path, "4"],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        _until(lambda: _blocked_in_kernel(filestore.lock_path(KEY, options), 3))
        holder.tell("save")
        assert holder.said() == "saved"
        released = time.time()
        holder.tell("release")
        assert holder.said() == "released"
        reports = []
        for waiter in crowd:
            out, _ = waiter.communicate(timeout=PROMPT + 30)
            reports.append(json.loads(out))
    finally:
        for waiter in crowd:
            if waiter.poll() is None:
                waiter.kill()
            waiter.wait(timeout=30)
    for report in reports:
        assert report["loads"] == 1
        assert [token for _, token in report["served"]] == ["wake-new-access"] * 4
        assert max(at for at, _ in report["served"]) - released < PROMPT
