"""A writer killed mid-write leaves a temp file holding a whole token; the next write removes
it once it is older than a minute and unlocked, and never a live writer's (QUALITY 31)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import privatefiles

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9, fork and flock")

KEY = TokenKey("prod", "alice")
TEMP = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
OLD = privatefiles.ABANDONED_AFTER + 60

# Forks 200 writers one after another, each saving in a loop, and kills each with SIGKILL
# after a few milliseconds: most die inside a write, between the temp file and the rename.
KILLER = textwrap.dedent(
    """
    import os, random, signal, sys, time
    from datetime import UTC, datetime
    from brokerauth.builtin import filestore
    from brokerauth.contract.tokens import Token, TokenKey

    options = filestore.FileStoreOptions(path=sys.argv[1])
    keys = [TokenKey("prod", "alice"), TokenKey("prod", "bob")]
    pad = "x" * 3000
    rng = random.Random(31)
    for key in keys:  # warms every import a save makes, so children write at once
        filestore.save(key, Token(access_token="first-token", broker="webull",
                                  expires_at=datetime(2026, 1, 1, tzinfo=UTC)), options)
    for kill in range(int(sys.argv[2])):
        pid = os.fork()
        if pid == 0:
            n = 0
            while True:
                n += 1
                token = Token(access_token=f"access-{kill}-{n}-{pad}", refresh_token=f"r-{n}",
                              broker="webull", expires_at=datetime(2026, 1, 1, tzinfo=UTC))
                filestore.save(keys[kill % 2], token, options)
        time.sleep(rng.uniform(0.002, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    """
)


def make_token(n: int = 0) -> Token:
    return Token(access_token=f"canary-temp-access-{n}", broker="webull",
                 expires_at=datetime(2026, 1, 2, tzinfo=UTC),
                 refresh_token=f"canary-temp-refresh-{n}")


def temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if TEMP.fullmatch(p.name))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def plant_temp(folder: Path, name: str = "alice.json", hexdigits: str = "a" * 32) -> Path:
    path = folder / f".{name}.{hexdigits}.tmp"
    path.write_bytes(b'{"access_token": "whole token"}')
    path.chmod(0o600)
    return path


def test_200_kills_then_one_save_leaves_no_temp_file(tmp_path: Path):
    store = tmp_path / "tokens"
    subprocess.run([sys.executable, "-c", KILLER, str(store), "200"], check=True, timeout=300)
    folder = store / "prod"
    left = temps(folder)
    # Most kills land inside a write (about half of them on this machine).
    assert len(left) >= 20, f"only {len(left)} kills left a temp file: the test proves little"
    options = FileStoreOptions(path=str(store))
    # Young leftovers are kept: their writers could be alive.
    filestore.save(KEY, make_token(1), options)
    assert temps(folder) == left
    for path in left:
        age(path, OLD)
    filestore.save(KEY, make_token(2), options)  # one normal save, for alice only
    assert temps(folder) == []  # bob's leftovers went too: the sweep covers the folder
    assert filestore.load(KEY, options) == make_token(2)
    assert filestore.load(TokenKey("prod", "bob"), options) is not None


def test_a_young_temp_file_is_never_removed(tmp_path: Path):
    options = FileStoreOptions(path=str(tmp_path / "tokens"))
    filestore.save(KEY, make_token(1), options)
    folder = tmp_path / "tokens" / "prod"
    young = plant_temp(folder)
    age(young, privatefiles.ABANDONED_AFTER - 5)
    future = plant_temp(folder, hexdigits="b" * 32)
    age(future, -3600)  # a clock set back: counts as young
    filestore.save(KEY, make_token(2), options)
    assert young.exists() and future.exists()


def test_an_old_temp_file_whose_writer_is_alive_is_kept(tmp_path: Path):
    # A writer stopped (SIGSTOP, a frozen VM) for minutes still holds its temp file's lock.
    options = FileStoreOptions(path=str(tmp_path / "tokens"))
    filestore.save(KEY, make_token(1), options)
    folder = tmp_path / "tokens" / "prod"
    held = plant_temp(folder)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n",
         str(held)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        age(held, OLD)
        filestore.save(KEY, make_token(2), options)
        assert held.exists()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        filestore.save(KEY, make_token(3), options)  # now it is abandoned
        assert not held.exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()


def test_a_writer_holds_its_temp_file_until_the_rename(tmp_path: Path, monkeypatch):
    import fcntl

    seen: list[bool] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        fd = os.open(src, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(False)
        except BlockingIOError:
            seen.append(True)
        finally:
            os.close(fd)
        real_replace(src, dst)

    monkeypatch.setattr(privatefiles.os, "replace", replace)
    filestore.save(KEY, make_token(1), FileStoreOptions(path=str(tmp_path / "tokens")))
    assert seen == [True]


def test_only_temp_shaped_regular_files_are_swept(tmp_path: Path):
    options = FileStoreOptions(path=str(tmp_path / "tokens"))
    filestore.save(KEY, make_token(1), options)
    folder = tmp_path / "tokens" / "prod"
    target = tmp_path / "target"
    target.write_text("precious")
    keep = [
        folder / "notes.txt",
        folder / ".alice.json.short.tmp",
        folder / f".alice.json.{'A' * 32}.tmp",
        folder / f"alice.json.{'a' * 32}.tmp",
    ]
    for path in keep:
        path.write_text("x")
    link = folder / f".bob.json.{'c' * 32}.tmp"
    link.symlink_to(target)
    for path in [*keep, link]:
        os.utime(path, (time.time() - OLD,) * 2, follow_symlinks=False)
    filestore.save(KEY, make_token(2), options)
    assert all(path.exists() for path in keep)
    assert link.is_symlink() and target.read_text() == "precious"
