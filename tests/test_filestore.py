"""The ``file`` store on a real file system: layout, permissions, links, corruption, crashes,
and the cross-process lock."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import privatefiles
from brokerauth.toolkit.tokencodec import MAX_TOKEN_BYTES, encode_token

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and links")
pytestmark = posix_only

ACCESS = "canary-access-0d1e2f"
REFRESH = "canary-refresh-3a4b5c"
KEY = TokenKey("prod", "alice")


def make_token(n: int = 0) -> Token:
    return Token(
        access_token=f"{ACCESS}-{n}",
        broker="webull",
        expires_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        refresh_token=f"{REFRESH}-{n}",
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("BROKERAUTH_HOME", str(path))
    return path


@pytest.fixture
def root(home: Path) -> Path:
    return home / "tokens"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file an attacker would like the store to overwrite or leak into."""
    path = tmp_path / "victim"
    path.write_text("precious")
    path.chmod(0o644)
    return path


def assert_untouched(victim: Path) -> None:
    assert victim.read_text() == "precious"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def assert_no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error), str(getattr(error, "hint", ""))):
        assert ACCESS not in text
        assert REFRESH not in text


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# --- layout and round trip -------------------------------------------------------------


def test_roundtrip_overwrite_and_delete(root: Path):
    assert filestore.load(KEY) is None
    assert filestore.delete(KEY) is False
    filestore.save(KEY, make_token(1))
    assert filestore.load(KEY) == make_token(1)
    filestore.save(KEY, make_token(2))
    assert filestore.load(KEY) == make_token(2)
    assert filestore.token_path(KEY) == root / "prod" / "alice.json"
    assert filestore.delete(KEY) is True
    assert filestore.load(KEY) is None
    assert filestore.delete(KEY) is False


def test_keys_are_separate(root: Path):
    keys = [TokenKey("prod", "alice"), TokenKey("prod", "bob"), TokenKey("uat", "alice")]
    for n, key in enumerate(keys):
        filestore.save(key, make_token(n))
    for n, key in enumerate(keys):
        assert filestore.load(key) == make_token(n)


def test_path_option_overrides_the_root(home: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    options = FileStoreOptions(path="~/my-tokens")
    filestore.save(KEY, make_token(), options)
    assert (tmp_path / "user" / "my-tokens" / "prod" / "alice.json").is_file()
    assert filestore.load(KEY, options) == make_token()
    assert filestore.load(KEY) is None
    assert not home.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="XDG layout is the Linux default")
def test_default_root_on_linux(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("BROKERAUTH_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert filestore.default_root() == tmp_path / "state" / "brokerauth" / "tokens"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    assert filestore.default_root() == tmp_path / ".local/state/brokerauth/tokens"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert filestore.default_root() == tmp_path / ".local/state/brokerauth/tokens"
    monkeypatch.setenv("BROKERAUTH_HOME", str(tmp_path / "bh"))
    assert filestore.default_root() == tmp_path / "bh" / "tokens"


# --- names cannot escape the root -----------------------------------------------------

HOSTILE_NAMES = [
    "..",
    ".",
    "../..",
    "../../etc/passwd",
    "a/b",
    "/abs",
    "a\\..\\..\\b",
    "%2E%2E",
    "nul\x00byte",
    "new\nline",
    "ünïcødé ☃",
    "~user",
    "CON",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_stay_inside_the_root(root: Path, tmp_path: Path, name: str):
    for key in (TokenKey(name, "alice"), TokenKey("prod", name), TokenKey(name, name)):
        path = filestore.token_path(key)
        assert path.parent.parent == root
        assert path.parent.name not in (".", "..")
        assert set(path.parent.name + path.name) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-%"
        )
        filestore.save(key, make_token())
        assert filestore.load(key) == make_token()
    for dirpath, _, files in os.walk(tmp_path):
        if files:
            assert Path(dirpath).is_relative_to(root) or Path(dirpath) == tmp_path


def test_distinct_names_get_distinct_files(root: Path):
    names = ["a/b", "a%2Fb", "a_b", "..", "%2E%2E", ".", "%2E", "A", "a"]
    paths = {filestore.token_path(TokenKey("p", name)) for name in names}
    assert len(paths) == len(names)


def test_empty_or_overlong_names_are_refused(root: Path):
    with pytest.raises(StoreError, match="empty profile"):
        filestore.token_path(TokenKey("", "alice"))
    with pytest.raises(StoreError, match="empty identity"):
        filestore.save(TokenKey("prod", ""), make_token())
    with pytest.raises(StoreError, match="too long"):
        filestore.save(TokenKey("prod", "é" * 100), make_token())
    assert not root.exists()


# --- permissions ----------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_umask_000_still_gives_0600_files_and_0700_folders(home: Path, root: Path, umask_zero):
    filestore.save(KEY, make_token())
    with filestore.lock(KEY, None, 1) as locked:
        assert locked
    assert mode(home) == 0o700  # created by the store, so created private
    assert mode(root) == 0o700
    assert mode(root / "prod") == 0o700
    assert mode(root / "prod" / "alice.json") == 0o600
    assert mode(root / "prod" / "alice.json.lock") == 0o600
    filestore.save(KEY, make_token(2))  # a replacement is a new file: still 0600
    assert mode(root / "prod" / "alice.json") == 0o600


def test_a_strict_umask_still_gives_exactly_0600_and_0700(root: Path):
    old = os.umask(0o277)
    try:
        filestore.save(KEY, make_token())
    finally:
        os.umask(old)
    assert mode(root / "prod") == 0o700
    assert mode(root / "prod" / "alice.json") == 0o600


def test_missing_parents_are_created_private(tmp_path: Path, umask_zero):
    options = FileStoreOptions(path=str(tmp_path / "a" / "b" / "tokens"))
    filestore.save(KEY, make_token(), options)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "tokens"):
        assert mode(folder) == 0o700


def test_existing_readable_folders_are_tightened_on_write(root: Path):
    # Others may list these but not change them: tightened.  (Folders others can write are
    # refused instead: tests/test_folder_modes.py.)
    (root / "prod").mkdir(parents=True)
    root.chmod(0o755)
    (root / "prod").chmod(0o750)
    assert filestore.load(KEY) is None  # reading changes nothing
    assert mode(root / "prod") == 0o750
    filestore.save(KEY, make_token())
    assert mode(root) == 0o700
    assert mode(root / "prod") == 0o700


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660, 0o610])
def test_a_token_file_others_can_reach_is_refused(root: Path, bad_mode: int):
    filestore.save(KEY, make_token())
    path = filestore.token_path(KEY)
    path.chmod(bad_mode)
    with pytest.raises(StoreError) as caught:
        filestore.load(KEY)
    error = caught.value
    assert not isinstance(error, CorruptStoreError)
    assert str(path) in error.message
    assert f"chmod 600 {path}" in (error.hint or "")
    assert_no_secret(error)
    assert mode(path) == bad_mode  # left for the user to judge
    path.chmod(0o600)
    assert filestore.load(KEY) == make_token()


needs_root = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="chown to another user needs root"
)


@needs_root
def test_a_folder_owned_by_another_user_is_refused(root: Path):
    filestore.save(KEY, make_token())
    os.chown(root / "prod", 65534, 65534)
    for action in (lambda: filestore.load(KEY), lambda: filestore.save(KEY, make_token(2))):
        with pytest.raises(StoreError, match="belongs to another user"):
            action()
    os.chown(root / "prod", 0, 0)
    os.chown(root, 65534, 65534)
    with pytest.raises(StoreError, match="belongs to another user"):
        filestore.load(KEY)


@needs_root
def test_a_token_file_owned_by_another_user_is_refused(root: Path):
    filestore.save(KEY, make_token())
    os.chown(filestore.token_path(KEY), 65534, 65534)
    with pytest.raises(StoreError, match="belongs to another user") as caught:
        filestore.load(KEY)
    assert_no_secret(caught.value)


# --- links and other planted things -----------------------------------------------------


def test_a_link_at_the_token_path_is_never_followed(root: Path, victim: Path):
    path = filestore.token_path(KEY)
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    with pytest.raises(StoreError, match="symbolic link"):
        filestore.save(KEY, make_token())
    with pytest.raises(StoreError, match="symbolic link") as caught:
        filestore.load(KEY)
    assert "brokerauth logout prod" in (caught.value.hint or "")
    assert_untouched(victim)
    assert path.is_symlink()
    # Logging out is the way out: it removes the link, not what it points to.
    assert filestore.delete(KEY) is True
    assert not os.path.lexists(path)
    assert_untouched(victim)


def test_a_dangling_link_at_the_token_path_creates_nothing(root: Path, tmp_path: Path):
    path = filestore.token_path(KEY)
    path.parent.mkdir(parents=True)
    target = tmp_path / "would-be-created"
    path.symlink_to(target)
    with pytest.raises(StoreError):
        filestore.save(KEY, make_token())
    with pytest.raises(StoreError):
        filestore.load(KEY)
    assert not os.path.lexists(target)


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
def test_a_link_at_the_temp_path_is_never_followed(
    root: Path, victim: Path, tmp_path: Path, monkeypatch, dangling: bool
):
    filestore.save(KEY, make_token(1))
    monkeypatch.setattr(privatefiles, "_random_suffix", lambda: "pinned")
    path = filestore.token_path(KEY)
    temp = path.with_name(f".{path.name}.pinned.tmp")
    target = tmp_path / "nowhere" if dangling else victim
    temp.symlink_to(target)
    with pytest.raises(StoreError, match="temp path") as caught:
        filestore.save(KEY, make_token(2))
    assert_no_secret(caught.value)
    assert filestore.load(KEY) == make_token(1)  # the old token is intact
    assert temp.is_symlink()
    if dangling:
        assert not os.path.lexists(target)
    else:
        assert_untouched(victim)


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
def test_a_link_at_the_lock_path_is_never_followed(
    root: Path, victim: Path, tmp_path: Path, dangling: bool
):
    where = filestore.lock_path(KEY)
    where.parent.mkdir(parents=True)
    target = tmp_path / "nowhere" if dangling else victim
    where.symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"), filestore.lock(KEY, None, 0):
        pytest.fail("the lock was entered")
    if dangling:
        assert not os.path.lexists(target)
    else:
        assert_untouched(victim)


def test_a_linked_profile_folder_is_refused(root: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir(parents=True)
    (root / "prod").symlink_to(elsewhere, target_is_directory=True)
    for action in (
        lambda: filestore.save(KEY, make_token()),
        lambda: filestore.load(KEY),
        lambda: filestore.delete(KEY),
    ):
        with pytest.raises(StoreError, match="symbolic link"):
            action()
    with pytest.raises(StoreError, match="symbolic link"), filestore.lock(KEY, None, 0):
        pytest.fail("the lock was entered")
    assert list(elsewhere.iterdir()) == []


def test_a_linked_root_is_refused(home: Path, root: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home.mkdir()
    root.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(StoreError, match="symbolic link"):
        filestore.save(KEY, make_token())
    assert list(elsewhere.iterdir()) == []


def test_a_file_where_a_folder_belongs_is_refused(root: Path):
    root.mkdir(parents=True)
    (root / "prod").write_text("not a folder")
    with pytest.raises(StoreError, match="not a folder"):
        filestore.save(KEY, make_token())
    with pytest.raises(StoreError, match="not a folder"):
        filestore.load(KEY)


def test_a_fifo_at_the_token_path_is_refused_without_hanging(root: Path):
    path = filestore.token_path(KEY)
    path.parent.mkdir(parents=True)
    os.mkfifo(path, 0o600)
    with pytest.raises(StoreError, match="not a regular file"):
        filestore.load(KEY)
    with pytest.raises(StoreError, match="not a regular file"):
        filestore.save(KEY, make_token())


# --- corrupt files ----------------------------------------------------------------------


def write_raw(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


GOOD = encode_token(make_token())
CORRUPT_FILES = {
    "garbage": os.urandom(200) + ACCESS.encode(),
    "empty": b"",
    "truncated": GOOD[: GOOD.index(ACCESS.encode()) + len(ACCESS)],
    "wrong types": json.dumps(
        {"version": 1, "access_token": ACCESS, "broker": "webull", "expires_at": 5}
    ).encode(),
    "huge": b'{"version": 1, "access_token": "' + ACCESS.encode() + b"x" * MAX_TOKEN_BYTES * 2,
}


@pytest.mark.parametrize("data", CORRUPT_FILES.values(), ids=CORRUPT_FILES.keys())
def test_a_corrupt_file_is_a_clear_error_with_a_way_out(root: Path, data: bytes):
    path = filestore.token_path(KEY)
    write_raw(path, data)
    with pytest.raises(CorruptStoreError) as caught:
        filestore.load(KEY)
    error = caught.value
    assert str(path) in error.message
    assert "brokerauth logout prod" in (error.hint or "")
    assert_no_secret(error)
    assert path.read_bytes() == data  # left for inspection
    # The way out works, and the store is usable again afterwards.
    assert filestore.delete(KEY) is True
    filestore.save(KEY, make_token())
    assert filestore.load(KEY) == make_token()


def test_a_corrupt_file_is_replaced_by_the_next_save(root: Path):
    write_raw(filestore.token_path(KEY), b"{not json")
    filestore.save(KEY, make_token())
    assert filestore.load(KEY) == make_token()


def test_leftover_temp_files_are_ignored_and_removed_on_logout(root: Path):
    path = filestore.token_path(KEY)
    leftovers = [
        path.with_name(f".{path.name}.{'d' * 32}.tmp"),
        path.with_name(f".{path.name}.{'0123456789abcdef' * 2}.tmp"),
    ]
    write_raw(leftovers[0], encode_token(make_token(9)))
    write_raw(leftovers[1], b"torn{")
    assert filestore.load(KEY) is None
    filestore.save(KEY, make_token(1))
    assert filestore.load(KEY) == make_token(1)
    # Another identity whose name looks like a temp file of this one keeps its files.
    lookalike = TokenKey("prod", f"alice.json.{'e' * 32}")
    filestore.save(lookalike, make_token(2))
    lookalike_temp = filestore.token_path(lookalike)
    lookalike_temp = lookalike_temp.with_name(f".{lookalike_temp.name}.{'f' * 32}.tmp")
    write_raw(lookalike_temp, b"{}")
    assert filestore.delete(KEY) is True
    assert not any(os.path.lexists(p) for p in leftovers)
    assert filestore.load(lookalike) == make_token(2)
    assert lookalike_temp.exists()
    # Leftovers alone count as something removed: they hold a token.
    write_raw(leftovers[0], encode_token(make_token(9)))
    assert filestore.delete(KEY) is True
    assert filestore.delete(KEY) is False


# --- kill -9 while writing --------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from brokerauth.builtin import filestore
    from brokerauth.contract.tokens import Token, TokenKey

    options = filestore.FileStoreOptions(path=sys.argv[1])
    key = TokenKey("prod", "alice")
    pad = "x" * 3000  # several pages per write, so a torn write would show
    for n in range(1000):
        token = Token(
            access_token=f"access-{n:04d}-{pad}",
            refresh_token=f"refresh-{n:04d}",
            broker="webull",
            expires_at=datetime(2026, 1, 1, tzinfo=UTC),
            extra={"n": str(n)},
        )
        filestore.save(key, token, options)
        print(n + 1, flush=True)
    """
)


def test_kill_9_during_writes_never_leaves_a_torn_token(tmp_path: Path):
    store = tmp_path / "tokens"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        written = 0
        while written < 200:
            line = child.stdout.readline()
            assert line, f"the writer stopped early (exit code {child.poll()})"
            written = int(line)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL, "the writer finished before it was killed"

    options = FileStoreOptions(path=str(store))
    token = filestore.load(KEY, options)
    assert token is not None
    n = int(token.extra["n"])
    assert n >= written - 1  # at least the last reported write
    assert token.access_token.startswith(f"access-{n:04d}-")
    assert token.refresh_token == f"refresh-{n:04d}"  # one generation, never a mix
    folder = store / "prod"
    for entry in folder.iterdir():
        assert entry.name == "alice.json" or re.fullmatch(
            r"\.alice\.json\.[0-9a-f]{32}\.tmp", entry.name
        ), entry.name
        assert mode(entry) == 0o600
    # Whatever temp file the kill left behind, the store still reads the real token.
    assert filestore.load(KEY, options) == token


# --- the lock ---------------------------------------------------------------------------


def test_lock_timeout_0_is_false_while_held(root: Path):
    with filestore.lock(KEY, None, 0) as first:
        assert first is True
        with filestore.lock(KEY, None, 0) as second:
            assert second is False
        other_thread: list[bool] = []

        def try_lock() -> None:
            with filestore.lock(KEY, None, 0) as got:
                other_thread.append(got)

        thread = threading.Thread(target=try_lock)
        thread.start()
        thread.join()
        assert other_thread == [False]
        with filestore.lock(TokenKey("prod", "bob"), None, 0) as other_key:
            assert other_key is True
    with filestore.lock(KEY, None, 0) as again:
        assert again is True


def test_lock_waits_up_to_its_timeout(root: Path):
    with filestore.lock(KEY, None, 0) as held:
        assert held
        start = time.monotonic()
        with filestore.lock(KEY, None, 0.2) as got:
            assert got is False
        assert 0.15 <= time.monotonic() - start < 1.0


def test_lock_is_handed_over_when_released(root: Path):
    release = threading.Event()
    holding = threading.Event()

    def holder() -> None:
        with filestore.lock(KEY, None, 1) as got:
            assert got
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(5)
    threading.Timer(0.1, release.set).start()
    start = time.monotonic()
    with filestore.lock(KEY, None, 5) as got:
        assert got is True
    assert time.monotonic() - start < 1.0
    thread.join()


def test_lock_excludes_threads(root: Path):
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, overlaps
        for _ in range(5):
            with filestore.lock(KEY, None, 10) as got:
                assert got
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.002)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == 0


HOLDER = textwrap.dedent(
    """
    import sys, time
    from brokerauth.builtin import filestore
    from brokerauth.contract.tokens import TokenKey

    options = filestore.FileStoreOptions(path=sys.argv[1])
    with filestore.lock(TokenKey("prod", "alice"), options, 5) as got:
        print("locked" if got else "failed", flush=True)
        time.sleep(60)
    """
)


def test_a_lock_holder_killed_with_sigkill_frees_the_lock_at_once(tmp_path: Path):
    store = tmp_path / "tokens"
    options = FileStoreOptions(path=str(store))
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "locked"
        with filestore.lock(KEY, options, 0) as got:
            assert got is False  # really held by the child
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        start = time.monotonic()
        with filestore.lock(KEY, options, 1) as got:
            assert got is True
        assert time.monotonic() - start < 1.0
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
