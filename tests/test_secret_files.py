"""``{ file = ... }`` secrets are checked like token files before their content is read (and
then sent in a token request): owner, mode, a regular file, size, and links."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from brokerauth.contract.errors import SecretUnavailableError
from brokerauth.toolkit import privatefiles
from brokerauth.toolkit.secrets import MAX_SECRET_FILE_BYTES, Secret

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners, modes, FIFOs")
needs_root = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="chown to another user needs root"
)

# Shorter than the canary's minimum on purpose: these files are test fixtures, not leaks.
VALUE = "s3cr-7f2a"
OTHER_UID = 4242


def secret_file(path: Path, content: bytes = VALUE.encode() + b"\n", mode: int = 0o600) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


def refused(path: Path | str) -> SecretUnavailableError:
    with pytest.raises(SecretUnavailableError) as caught:
        Secret(file=str(path)).reveal()
    error = caught.value
    assert str(path) in error.message  # the reference is named...
    for text in (str(error), repr(error), error.hint or ""):
        assert VALUE not in text  # ...the content never
    return error


def test_a_0600_file_works_and_surrounding_whitespace_goes_as_before(tmp_path: Path):
    assert Secret(file=str(secret_file(tmp_path / "a"))).reveal() == VALUE
    both = secret_file(tmp_path / "b", f"  {VALUE}\r\n\n".encode())
    assert Secret(file=str(both)).reveal() == VALUE
    bare = secret_file(tmp_path / "c", VALUE.encode(), mode=0o400)
    assert Secret(file=str(bare)).reveal() == VALUE


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    secret_file(tmp_path / "key")
    assert Secret(file="~/key").reveal() == VALUE


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666],
                         ids=lambda mode: f"{mode:04o}")
def test_a_file_others_can_read_or_change_is_refused_with_the_chmod(tmp_path: Path, mode: int):
    path = secret_file(tmp_path / "secret", mode=mode)
    error = refused(path)
    assert f"mode {mode:04o}" in error.message
    assert f"chmod 600 {path}" in (error.hint or "")
    assert os.stat(path).st_mode & 0o777 == mode  # never tightened quietly
    path.chmod(0o600)
    assert Secret(file=str(path)).reveal() == VALUE


CHILD = textwrap.dedent(
    """
    import resource, sys
    # A reader that would read /dev/zero to the end stops at 1 GiB instead of the machine's end.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from brokerauth.contract.errors import SecretUnavailableError
    from brokerauth.toolkit.secrets import Secret
    try:
        Secret(file=sys.argv[1]).reveal()
    except SecretUnavailableError as exc:
        print(exc.message)
    """
)


def refused_in_a_child(path: Path | str) -> str:
    # In a child with a deadline: a plain open of a FIFO with no writer blocks forever, and a
    # plain read of /dev/zero never ends; neither may hang the suite if the check regresses.
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(path)],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path} as a secret hung")
    return done.stdout + done.stderr[-300:]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert "is a FIFO, not a regular file" in refused_in_a_child(fifo)
    assert "FIFO" in refused(fifo).message  # in this process too, now known not to hang


def test_a_device_is_refused(tmp_path: Path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    # /dev/zero is 0666 and root's: the kind is what is refused, before the mode.
    assert "is a device" in refused_in_a_child("/dev/zero")
    assert "is a device" in refused("/dev/zero").message
    # A device node of one's own, 0600, is refused too.
    node = tmp_path / "zero"
    try:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except OSError:
        return  # mknod needs privileges a sandbox may not give
    assert "is a device" in refused_in_a_child(node)


def test_a_file_over_64_kib_is_refused(tmp_path: Path):
    # Exactly at the limit is fine (padded with spaces, so the secret itself stays short).
    exact = secret_file(tmp_path / "exact", VALUE.encode().ljust(MAX_SECRET_FILE_BYTES))
    assert os.path.getsize(exact) == MAX_SECRET_FILE_BYTES
    assert Secret(file=str(exact)).reveal() == VALUE
    big = secret_file(tmp_path / "big", VALUE.encode() + b"x" * (1 << 20))
    error = refused(big)
    assert "larger than 64 KiB" in error.message


def test_a_file_that_grows_after_the_check_is_still_refused(tmp_path: Path, monkeypatch):
    path = secret_file(tmp_path / "growing")
    real = privatefiles._read_up_to

    def grow_first(fd: int, size: int) -> bytes:
        with open(path, "ab") as out:
            out.write(b"x" * (MAX_SECRET_FILE_BYTES + 1))
        return real(fd, size)

    monkeypatch.setattr(privatefiles, "_read_up_to", grow_first)
    assert "larger than 64 KiB" in refused(path).message


@needs_root
def test_a_file_owned_by_another_user_is_refused(tmp_path: Path):
    path = secret_file(tmp_path / "theirs")
    os.chown(path, OTHER_UID, OTHER_UID)
    error = refused(path)
    assert f"belongs to another user (uid {OTHER_UID})" in error.message
    assert "file of your own" in (error.hint or "")
    os.chown(path, 0, 0)  # root's own files are fine: root can change anything anyway
    assert Secret(file=str(path)).reveal() == VALUE


def test_a_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    assert "is a folder" in refused(folder).message


def test_a_missing_file_says_so(tmp_path: Path):
    error = refused(tmp_path / "missing")
    assert "cannot be read (No such file or directory)" in error.message
    assert "mode 0600" in (error.hint or "")


def test_a_file_that_is_not_utf8_is_refused_without_quoting_it(tmp_path: Path):
    path = secret_file(tmp_path / "binary", b"\xff\xfe" + VALUE.encode())
    error = refused(path)
    assert "not UTF-8" in error.message
    assert "0xff" not in str(error)


# --- links ---------------------------------------------------------------------------------


def test_links_of_ones_own_are_followed(tmp_path: Path):
    # Like ssh with its keys: a dotfiles checkout linked into place keeps working.
    real = secret_file(tmp_path / "real")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "link").symlink_to("../real")
    (tmp_path / "linked-dir").symlink_to(tmp_path / "dir", target_is_directory=True)
    (tmp_path / "chain").symlink_to(tmp_path / "linked-dir" / "link")
    for path in (tmp_path / "dir" / "link", tmp_path / "linked-dir" / "link",
                 tmp_path / "chain", tmp_path / "dir" / ".." / "real"):
        assert Secret(file=str(path)).reveal() == VALUE, path
    real.chmod(0o644)  # the target gets every check
    assert "mode 0644" in refused(tmp_path / "chain").message


@needs_root
def test_a_link_planted_by_another_user_is_not_followed(tmp_path: Path):
    # The attack: in a shared folder, someone replaces the profile's secret file with a link
    # to a file of the victim's (here 0600 and the victim's, so the file checks alone pass).
    victim_key = secret_file(tmp_path / "id_ed25519")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "app-secret"
    planted.symlink_to(victim_key)
    os.chown(planted, OTHER_UID, OTHER_UID, follow_symlinks=False)
    error = refused(planted)
    assert f"a symbolic link owned by another user (uid {OTHER_UID})" in error.message
    # A folder link of another user's on the way is refused the same way.
    (tmp_path / "keys").mkdir()
    secret_file(tmp_path / "keys" / "k")
    via = shared / "via"
    via.symlink_to(tmp_path / "keys", target_is_directory=True)
    os.chown(via, OTHER_UID, OTHER_UID, follow_symlinks=False)
    assert "owned by another user" in refused(via / "k").message
    # The same link made by root (or the user) is followed.
    os.chown(planted, 0, 0, follow_symlinks=False)
    assert Secret(file=str(planted)).reveal() == VALUE


def test_a_link_loop_is_refused(tmp_path: Path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert "too many" in refused(tmp_path / "a").message


def test_a_file_swapped_between_the_walk_and_the_open_is_refused(tmp_path: Path, monkeypatch):
    path = secret_file(tmp_path / "secret")
    other = secret_file(tmp_path / "other")
    real_walk = privatefiles._walk

    def walk_then_swap(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real_walk(*args, **kwargs)
        os.replace(other, path)
        return found

    monkeypatch.setattr(privatefiles, "_walk", walk_then_swap)
    assert "replaced while it was being opened" in refused(path).message
