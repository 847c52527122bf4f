"""Private files: how brokerauth keeps a secret in a file, for the core and for plugins.

The core's ``file`` store (:mod:`brokerauth.builtin.filestore`) keeps its token JSON with these
functions, and so does a plugin store whose files have a format of its own (the Futu SDK's
token file, client registrations holding a ``registration_access_token``, small pointers).
There is one implementation, so every such file gets the same guarantees:

* Writes go to a fresh temp file in the same folder (``O_EXCL``, ``O_NOFOLLOW``), are
  fsync'd, renamed over the old file and the folder is fsync'd: a reader sees the old content
  or the new, never a torn file, even after ``kill -9`` or a power cut.
* Nothing here follows a symbolic link: a link planted at a file, temp or lock path, or a
  linked folder, could redirect a secret to a place another user reads.  Every such case is
  refused with :class:`~brokerauth.contract.errors.StoreError`.
* Folders are 0700 and files 0600 whatever the umask; a file that others could read, or a
  folder that others could write, is refused rather than used (see :func:`read_private` for
  the one exception).  The folders above the store's top folder must be the user's or root's
  and not writable by others unless sticky (as ``/tmp`` is), like ssh's ``StrictModes``:
  whoever can rename a folder on the way can swap the whole store for their own.
* A temp file is locked by its writer until it is renamed, and a write removes the temp files
  of writers that died (older than a minute and unlocked): a crash leaves no copy of a
  secret behind after the next write.
* The lock is an OS lock (``flock`` through the ``filelock`` library), so it dies with its
  holder: a process killed mid-refresh never leaves a stale lock behind.

:func:`read_secret_file` reads a file a profile names as a secret (``{ file = "..." }``) with
the same checks on the file, since its content is sent to a broker just like a token.

``what`` names the file in messages ("token file", "login pointer"); no message ever quotes a
file's content.  ``key`` is whose file it is; with ``removed_by_logout`` the hints offer
``brokerauth logout <profile>`` as the way out, which is only right for a file that logging
out removes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from brokerauth.contract.errors import SecretUnavailableError, StoreError
from brokerauth.contract.interaction import logger
from brokerauth.contract.tokens import TokenKey

if TYPE_CHECKING:
    import filelock

__all__ = [
    "LOCK_POLL_INTERVAL",
    "ensure_folders",
    "lock",
    "lock_path",
    "read_private",
    "read_secret_file",
    "remove",
    "write_private",
]

LOGGER = "brokerauth.toolkit.privatefiles"

#: How often a process waiting for a :func:`lock` retries, in seconds.
LOCK_POLL_INTERVAL: Final = 0.05

_FILE_MODE: Final = 0o600
_FOLDER_MODE: Final = 0o700
_LOCK_SUFFIX: Final = ".lock"
_TEMP_SUFFIX: Final = ".tmp"
_POSIX: Final = sys.platform != "win32"
# Flags missing on a platform are 0, so one spelling serves everywhere; Windows has no links
# to refuse in the POSIX sense and relies on the folder checks alone.
_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_O_BINARY: Final = getattr(os, "O_BINARY", 0)
# A FIFO planted at a file's path would block a plain open forever.
_O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_FOLDER_FLAGS: Final = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
_READ_FLAGS: Final = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
# Group or others may write: they could add, rename or remove entries.
_WRITABLE_BY_OTHERS: Final = 0o022
# Like the kernel's SYMLOOP_MAX: a longer chain of links is a loop.
_MAX_LINKS: Final = 40
# A temp file lives for the milliseconds between its creation and its rename; one this old
# whose writer holds no lock on it was left by a writer that died.
ABANDONED_AFTER: Final = 60.0
# The shape write_private gives every temp name: "." + the file's name + "." + 32 hex digits.
_ANY_TEMP_NAME: Final = re.compile(r"\..+\.[0-9a-f]{32}" + re.escape(_TEMP_SUFFIX))


# --- folders -------------------------------------------------------------------------------


def ensure_folders(top: Path, folder: Path, key: TokenKey, *, create: bool) -> bool:
    """Vet ``top`` and every folder between it and ``folder`` (0700, ours, no links),
    creating missing ones when ``create``; ``False`` when one is missing and not ``create``.

    Folders are tightened to 0700 only when ``create``: writing is when it matters that
    nobody else can list or add files there, and a read should change nothing.  (``key`` is
    taken like in every call here, though no folder message names a profile.)
    """
    chain = [top]
    if folder != top:
        for part in folder.relative_to(top).parts:
            chain.append(chain[-1] / part)
    # Outermost first: a folder is only worth checking inside a vetted one.
    _check_above(top)
    return all(_check_folder(each, create=create) for each in chain)


def _check_above(top: Path) -> None:
    """Refuse ``top`` when a folder on the way to it lets someone else swap it.

    Checked like ssh's ``StrictModes``: each folder is the user's or root's and not writable
    by group or others, unless sticky (as ``/tmp`` is: there, others cannot rename or remove
    what is ours).  Links on the way are followed only when the user or root made them, and
    the folders they lead through are checked too, since the kernel passes through them.
    Folders that do not exist yet are fine: the store creates them 0700.
    """
    if not _POSIX:
        return  # NTFS has ACLs, not modes; %LOCALAPPDATA% is private by default

    def vet(folder: str, found: os.stat_result) -> None:
        problem = folder_problem(found)
        if problem == "owner":
            raise StoreError(
                f"folder {folder}, on the way to the token folder {top}, belongs to another "
                f"user (uid {found.st_uid}), who could replace the token folder with their own",
                hint=_ELSEWHERE,
            )
        mode = stat.S_IMODE(found.st_mode)
        if problem == "mode":
            raise StoreError(
                f"folder {folder}, on the way to the token folder {top}, has mode {mode:04o}: "
                "other users can rename what is in it, so they could replace the token folder "
                "with their own",
                hint=f"run `chmod go-w {folder}` (or `chmod +t {folder}`, as /tmp is), "
                f"or {_ELSEWHERE}",
            )

    try:
        _walk(str(top.parent), folders=vet)
    except FileNotFoundError:
        return  # the missing folders are made by the store, 0700
    except _LinkRefused as exc:
        raise StoreError(
            f"{exc.link}, on the way to the token folder {top}, is {exc.why}",
            hint=_ELSEWHERE,
        ) from None
    except OSError as exc:
        raise _cannot("check the folders above", top, exc, _FOLDER_HINT) from None


_ELSEWHERE: Final = (
    "keep tokens in folders that only you (or root) can change: set BROKERAUTH_HOME or the "
    "store's path option"
)


def folder_problem(found: os.stat_result) -> Literal["owner", "mode"] | None:
    """Why someone else could swap what is in a folder (ssh's ``StrictModes``): it is not the
    user's or root's (``"owner"``), or group or others can write it and it is not sticky
    (``"mode"``, a sticky folder such as ``/tmp`` lets no one rename what is not theirs)."""
    if found.st_uid not in _trusted_owners():
        return "owner"
    mode = stat.S_IMODE(found.st_mode)
    if mode & _WRITABLE_BY_OTHERS and not mode & stat.S_ISVTX:
        return "mode"
    return None


def _trusted_owners() -> tuple[int, int]:
    # root can do anything anyway, so a folder or link of root's takes nothing away.
    return (os.geteuid(), 0)


class _LinkRefused(Exception):
    """A link :func:`_walk` will not follow, or a chain too long to be anything but a loop."""

    def __init__(self, link: str, why: str) -> None:
        super().__init__(link)
        self.link = link
        self.why = why


def _walk(
    path: str, *, folders: Callable[[str, os.stat_result], None] | None = None
) -> tuple[str, os.stat_result]:
    """``path`` with its links resolved, and the ``lstat`` of what it names.

    Like :func:`os.path.realpath`, but a link is followed only if the user or root owns it
    (a link someone else planted could lead to another of the user's files), and
    ``folders`` is called with every folder passed through, ``/`` first.

    :raises FileNotFoundError: a part of the path does not exist.
    :raises _LinkRefused: a link owned by someone else, or a loop.
    """
    # (getcwd only when needed: it fails in a removed folder, which an absolute path ignores)
    pending = (path if path.startswith("/") else os.path.join(os.getcwd(), path)).split("/")
    pending.reverse()  # a stack: the next part is at the end
    here = "/"
    found = os.lstat(here)
    if folders is not None:
        folders(here, found)
    links = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            # ``here`` holds no link, so this is its real parent, and it was vetted already.
            here = os.path.dirname(here)
            found = os.lstat(here)
            continue
        there = os.path.join(here, part)
        found = os.lstat(there)
        if not stat.S_ISLNK(found.st_mode):
            here = there
            if folders is not None and stat.S_ISDIR(found.st_mode):
                folders(here, found)
            continue
        if found.st_uid not in _trusted_owners():
            raise _LinkRefused(there, f"a symbolic link owned by another user (uid {found.st_uid})")
        links += 1
        if links > _MAX_LINKS:
            raise _LinkRefused(there, "one link in a chain of too many (a loop?)")
        target = os.readlink(there)
        again = os.lstat(there)
        # Renaming the link away, planting another and renaming it back would change its
        # ctime: so what was read is the target of the link that was vetted.
        if (again.st_ino, again.st_dev, again.st_ctime_ns) != (
            found.st_ino, found.st_dev, found.st_ctime_ns
        ):
            raise _LinkRefused(there, "a symbolic link that changed while it was read")
        if target.startswith("/"):
            here = "/"
        found = os.lstat(here)
        pending.extend(reversed(target.split("/")))
    return here, found


def _check_folder(folder: Path, *, create: bool) -> bool:
    if not os.path.lexists(folder):
        if not create:
            return False
        _make_folders(folder)
    if not _POSIX:
        if os.path.islink(folder):
            raise _link_refused(folder, "token folder", None)
        if not os.path.isdir(folder):
            raise _not_a_folder(folder)
        return True
    # Opening the folder itself with O_NOFOLLOW, then checking what was opened, leaves no
    # gap between the check and the chmod for a link to be swapped in.
    try:
        fd = os.open(folder, _FOLDER_FLAGS)
    except FileNotFoundError:
        if create:
            raise _cannot("create token folder", folder, None, _FOLDER_HINT) from None
        return False
    except OSError as exc:
        if os.path.islink(folder):
            raise _link_refused(folder, "token folder", None) from None
        if exc.errno == errno.ENOTDIR:
            raise _not_a_folder(folder) from None
        raise _cannot("open token folder", folder, exc) from None
    try:
        found = os.fstat(fd)
        if found.st_uid != os.geteuid():
            raise StoreError(
                f"token folder {folder} belongs to another user (uid {found.st_uid}); "
                "brokerauth keeps tokens only in folders you own",
                hint="point the store at a folder of your own (BROKERAUTH_HOME or the "
                "store's path option), or fix the folder's owner",
            )
        mode = stat.S_IMODE(found.st_mode)
        if mode & _WRITABLE_BY_OTHERS:
            # Refused rather than tightened, even on a write: while it was open, anyone could
            # have added or swapped files in it, and only the user can judge what is there.
            raise StoreError(
                f"token folder {folder} has mode {mode:04o}: other users can add, replace or "
                "remove files in it, so brokerauth will not use it",
                hint=f"if nobody else could have changed what is in it, run `chmod 700 "
                f"{folder}`; otherwise remove the folder and log in again",
            )
        if create and mode != _FOLDER_MODE:
            # The folder is ours, so tightening it is safe.
            os.fchmod(fd, _FOLDER_MODE)
    except OSError as exc:
        raise _cannot("secure token folder", folder, exc) from None
    finally:
        os.close(fd)
    return True


def _make_folders(folder: Path) -> None:
    missing: list[Path] = []
    here = folder
    while not os.path.lexists(here) and here.parent != here:
        missing.append(here)
        here = here.parent
    # Created one by one: os.makedirs gives parents the umask's mode, and with umask 000 a
    # world-writable parent would let anyone swap the folder for their own.
    for new in reversed(missing):
        try:
            os.mkdir(new, _FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it; _check_folder vets the ones that matter
        except OSError as exc:
            raise _cannot("create token folder", new, exc, _FOLDER_HINT) from None
        if _POSIX:
            _chmod_new_folder(new)


def _chmod_new_folder(folder: Path) -> None:
    # The mkdir mode is filtered by the umask; this makes it exactly 0700.
    try:
        fd = os.open(folder, _FOLDER_FLAGS)
    except OSError as exc:
        raise _cannot("secure token folder", folder, exc) from None
    try:
        os.fchmod(fd, _FOLDER_MODE)
    except OSError as exc:
        raise _cannot("secure token folder", folder, exc) from None
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    if not _POSIX:
        return  # Windows cannot open a folder to sync it; NTFS journals the rename.
    try:
        fd = os.open(folder, _FOLDER_FLAGS)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            return  # the file system cannot sync folders; there is nothing more to do
        raise StoreError(
            f"the token was written but {folder} could not be synced to disk: {_reason(exc)}",
            hint="check the disk",
        ) from None


# --- writing -------------------------------------------------------------------------------


def write_private(
    path: Path, data: bytes, key: TokenKey, what: str, *, removed_by_logout: bool = False
) -> None:
    """Replace ``path`` with ``data`` atomically, mode 0600 (folders must be ready: see
    :func:`ensure_folders`).

    :raises ~brokerauth.contract.errors.StoreError: nothing was written; the old file is intact.
    """
    # os.replace would replace a link rather than write through it, so this check is not what
    # keeps the secret safe; it turns a planted link into an error someone will look at.
    _refuse_special(path, what, _logout(key, removed_by_logout))
    temp = path.with_name(f".{path.name}.{_random_suffix()}{_TEMP_SUFFIX}")
    fd = _create_temp(temp, path, what)
    replaced = False
    try:
        try:
            if _POSIX:
                # The create mode is filtered by the umask; this makes it exactly 0600.
                os.fchmod(fd, _FILE_MODE)
                # Held until the rename: a sweep (see _sweep_abandoned) removes only temp
                # files nobody holds, so a writer that is merely slow keeps its file.
                _hold(fd)
            _write_all(fd, data)
            _sync(fd)
            if _POSIX:
                os.replace(temp, path)  # still open, so still held
                replaced = True
        finally:
            os.close(fd)
        if not replaced:
            os.replace(temp, path)  # Windows cannot rename a file that is open
            replaced = True
    except BaseException as exc:
        if not replaced:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        if isinstance(exc, OSError) and not replaced:
            raise StoreError(
                f"cannot write {what} {path}: {_reason(exc)}; the previous one is intact",
                hint="check the disk and the folder's permissions",
            ) from None
        if isinstance(exc, OSError):
            # Only closing failed: the new content is in place.
            raise StoreError(
                f"{what} {path} was written but could not be closed: {_reason(exc)}",
                hint="check the disk",
            ) from None
        raise
    _sync_folder(path.parent)
    _sweep_abandoned(path.parent)


def _hold(fd: int) -> None:
    import fcntl  # POSIX only; a built-in module, so importing it costs nothing

    # A file made a moment ago with O_EXCL: nobody else can hold it yet.  A file system that
    # cannot lock leaves the file to the age rule alone, which is no reason to fail a write.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _sweep_abandoned(folder: Path) -> None:
    """Remove temp files in ``folder`` whose writers died (``kill -9``, a power cut).

    Such a file may hold a whole secret.  One is removed only if it is older than
    :data:`ABANDONED_AFTER` by its mtime and no process holds its lock, so a live writer,
    however slow, keeps its file.  (On Windows, without the lock, the age alone decides.)
    Housekeeping: the write itself has succeeded, so a failure here is not an error.
    """
    now = time.time()
    try:
        with os.scandir(folder) as entries:
            old = [
                entry.name
                for entry in entries
                if _ANY_TEMP_NAME.fullmatch(entry.name) and _is_old_file(entry, now)
            ]
    except OSError:
        return
    removed = sum(_remove_abandoned(folder / name) for name in old)
    if removed:
        logger(LOGGER).debug(
            "removed %d temp file(s) left in %s by writers that died", removed, folder
        )


def _is_old_file(entry: os.DirEntry[str], now: float) -> bool:
    try:
        found = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    # A future mtime (a clock set back) counts as young: never remove a file that may be live.
    return stat.S_ISREG(found.st_mode) and now - found.st_mtime > ABANDONED_AFTER


def _remove_abandoned(temp: Path) -> bool:
    try:
        fd = os.open(temp, _READ_FLAGS)
    except OSError:
        return False  # gone already (another sweep), or swapped for a link: leave it
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or (_POSIX and found.st_uid != os.geteuid()):
            return False
        if _POSIX:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # its writer is alive (stopped, or on a very slow disk)
        # Unlinked while held, so no writer can have taken it over in between.
        os.unlink(temp)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _random_suffix() -> str:
    """The random part of a temp file's name (a separate function so tests can pin it).

    :func:`remove` recognises a killed writer's leftovers by this shape: 32 hex digits.
    """
    return os.urandom(16).hex()  # secrets.token_hex(16), without importing secrets and random


def _leftover_temp_name(path: Path) -> re.Pattern[str]:
    # Exactly the shape write_private gives, matched on whole names: another file whose name
    # starts like this one's (an identity called "alice.json.<hex>") keeps its temp files.
    return re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{32}" + re.escape(_TEMP_SUFFIX))


def _create_temp(temp: Path, path: Path, what: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    try:
        return os.open(temp, flags, _FILE_MODE)
    except FileExistsError:
        # 128 random bits do not collide: something was put there on purpose.
        kind = "a link" if os.path.islink(temp) else "a file"
        raise StoreError(
            f"cannot write {what} {path}: {kind} already exists at the temp path {temp}; "
            "nothing was written and the previous one is intact",
            hint=f"remove {temp}, and find out who put it there",
        ) from None
    except OSError as exc:
        raise _cannot(f"create a temp file for {what}", temp, exc) from None


def _write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (a signal, a full pipe of a FUSE file system).
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync(fd: int) -> None:
    if sys.platform == "darwin":
        import fcntl

        # On macOS fsync stops at the drive's cache; F_FULLFSYNC reaches the medium.
        with contextlib.suppress(OSError):  # not every file system has it
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
    os.fsync(fd)


def _refuse_special(path: Path, what: str, logout: str | None) -> None:
    """Refuse a link or a non-file at a path about to be written."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _cannot(f"reach {what}", path, exc) from None
    if stat.S_ISLNK(found.st_mode):
        raise _link_refused(path, what, logout)
    if not stat.S_ISREG(found.st_mode):
        raise _not_a_file(path, what, logout)


# --- reading -------------------------------------------------------------------------------


def read_private(
    path: Path,
    key: TokenKey,
    what: str,
    *,
    limit: int,
    tighten_readable: bool = False,
    removed_by_logout: bool = False,
) -> bytes | None:
    """The bytes of ``path`` (at most ``limit`` + 1), or ``None`` when it does not exist.

    The byte past ``limit`` is read so the caller can refuse an oversized file by its size
    without reading all of it.  A file others can write is refused.  One others can only read
    is refused too, unless ``tighten_readable``: for a file another program writes with the
    default umask (0644 on most systems, as a broker SDK may), refusing it would make sharing
    it impossible; such a file is set to 0600 and the user is warned, once, that others may
    have read it.
    """
    logout = _logout(key, removed_by_logout)
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise _link_refused(path, what, logout) from None
        raise _cannot(f"read {what}", path, exc) from None
    try:
        _check_file(path, fd, what, logout, tighten_readable=tighten_readable)
        return _read_up_to(fd, limit + 1)
    except OSError as exc:
        raise _cannot(f"read {what}", path, exc) from None
    finally:
        os.close(fd)


def _check_file(
    path: Path, fd: int, what: str, logout: str | None, *, tighten_readable: bool
) -> None:
    # Checked on the open descriptor, so what is vetted is what is read.
    found = os.fstat(fd)
    problem = _problem(found, owners=(os.geteuid(),))
    if problem == "kind":
        raise _not_a_file(path, what, logout)
    if problem == "owner":
        raise StoreError(
            f"{what} {path} belongs to another user (uid {found.st_uid}); it will not be used",
            hint=f"remove it and {_log_in_again(logout)}",
        )
    mode = stat.S_IMODE(found.st_mode)
    if problem == "writable" or (problem == "readable" and not tighten_readable):
        # Refused rather than quietly fixed: while it was open, someone may have copied the
        # secret, and only the user can tell whether to keep it or log out and revoke it.
        # write_private always writes 0600, so for its files this takes a hand-made change.
        if logout:
            way_out = f"{_log_in_again(logout)}, and revoke the old token"
        else:
            # Nothing removes it for the user, and the next login may read it again first.
            way_out = "delete it, log in again and revoke the old token"
        raise StoreError(
            f"{what} {path} has mode {mode:04o}: other users may have read or changed it, "
            "so brokerauth will not use it",
            hint=f"if nobody else could have, run `chmod 600 {path}`; otherwise {way_out}",
        )
    if problem == "readable":
        os.fchmod(fd, _FILE_MODE)
        logger(LOGGER).warning(
            "%s %s was readable by other users (mode %04o); it is now 0600. If others could "
            "have read it, log out to revoke it.", what, path, mode,
        )


_Problem = Literal["kind", "owner", "writable", "readable"]


def _problem(found: os.stat_result, *, owners: tuple[int, ...]) -> _Problem | None:
    """What makes a file unfit to hold a secret, the one rule for every private file: not a
    regular file (a FIFO, a device, a folder), owned by someone not in ``owners``, writable
    by group or others, or readable by them."""
    if not stat.S_ISREG(found.st_mode):
        return "kind"
    if not _POSIX:
        return None  # NTFS has ACLs, not modes
    if found.st_uid not in owners:
        return "owner"
    mode = stat.S_IMODE(found.st_mode)
    if mode & _WRITABLE_BY_OTHERS:
        return "writable"
    if mode & 0o077:
        return "readable"
    return None


# --- secret files --------------------------------------------------------------------------


def read_secret_file(path: Path, *, limit: int) -> bytes:
    """The bytes of a file a profile names as a secret, checked like a token file.

    It must be a regular file (a FIFO or a device is refused without blocking on it) of at
    most ``limit`` bytes, owned by the user or root, and neither readable nor writable by
    group or others.  Links are followed, as ssh follows them for its keys, but only links
    the user or root owns: a link someone else planted (in a shared folder, say) could turn
    ``{ file = "/shared/app-secret" }`` into the user's ``~/.ssh/id_ed25519``, which passes
    every check on the file itself and would then be sent to the broker.

    :raises ~brokerauth.contract.errors.SecretUnavailableError: naming the path and the fix, never
        the content.
    """
    shown = repr(str(path))
    try:
        if _POSIX:
            real, seen = _walk(str(path))
            fd = os.open(real, _READ_FLAGS)
        else:
            seen = None
            fd = os.open(path, _READ_FLAGS)
    except _LinkRefused as exc:
        raise SecretUnavailableError(
            f"secret file {shown} is not read: {exc.link} is {exc.why}; brokerauth follows "
            "only links you or root own, since another user's link could point the profile "
            "at any file of yours",
            hint="point the profile at the real file, and find out who made the link",
        ) from None
    except OSError as exc:
        raise SecretUnavailableError(
            f"secret file {shown} cannot be read ({_reason(exc)})",
            hint="create the file (mode 0600) or fix the profile's path",
        ) from None
    try:
        found = os.fstat(fd)
        if seen is not None and (found.st_ino, found.st_dev) != (seen.st_ino, seen.st_dev):
            raise SecretUnavailableError(
                f"secret file {shown} was replaced while it was being opened",
                hint="try again, and find out who else changes that file",
            )
        _check_secret(shown, str(path), found, limit)
        data = _read_up_to(fd, limit + 1)
    except OSError as exc:
        raise SecretUnavailableError(
            f"secret file {shown} cannot be read ({_reason(exc)})",
            hint="check the file and the disk",
        ) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew after the check
        raise _too_big(shown, limit)
    return data


def _check_secret(shown: str, path: str, found: os.stat_result, limit: int) -> None:
    problem = _problem(found, owners=_trusted_owners())
    if problem == "kind":
        kind = (
            "a folder" if stat.S_ISDIR(found.st_mode)
            else "a FIFO" if stat.S_ISFIFO(found.st_mode)
            else "a device" if stat.S_ISCHR(found.st_mode) or stat.S_ISBLK(found.st_mode)
            else "not a regular file"
        )
        raise SecretUnavailableError(
            f"secret file {shown} is {kind}, not a regular file holding a secret",
            hint="point the profile at a regular file (mode 0600) that holds only the secret",
        )
    if problem == "owner":
        raise SecretUnavailableError(
            f"secret file {shown} belongs to another user (uid {found.st_uid}); brokerauth "
            "reads secrets only from files you (or root) own, since their owner could change "
            "them at will",
            hint="copy the secret into a file of your own, `chmod 600` it, and point the "
            "profile at that file",
        )
    if problem is not None:
        mode = stat.S_IMODE(found.st_mode)
        # Never tightened quietly: the user must judge whether the secret leaked.
        raise SecretUnavailableError(
            f"secret file {shown} has mode {mode:04o}: other users can "
            f"{'change' if problem == 'writable' else 'read'} it, so brokerauth will not use it",
            hint=f"run `chmod 600 {path}`; if others could have read the secret, replace it "
            "with a new one at the broker",
        )
    if found.st_size > limit:
        raise _too_big(shown, limit)


def _too_big(shown: str, limit: int) -> SecretUnavailableError:
    return SecretUnavailableError(
        f"secret file {shown} is larger than {limit // 1024} KiB, more than any secret",
        hint="point the profile at a file that holds only the secret",
    )


def _read_up_to(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- removing ------------------------------------------------------------------------------


def remove(path: Path, what: str) -> bool:
    """Remove ``path`` and a killed writer's temp files for it; ``True`` if anything was
    removed.

    Leftover temp files go too, since they may hold the secret and a removal should leave
    none behind.  A link is removed itself (never followed), so removing is also the way out
    of a tampered folder.
    """
    removed = _remove_one(path, what)
    leftover = _leftover_temp_name(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent) if leftover.fullmatch(entry.name)]
    except FileNotFoundError:
        names = []
    except OSError as exc:
        raise _cannot("list token folder", path.parent, exc) from None
    for name in names:
        removed = _remove_one(path.parent / name, "temp file") or removed
    if removed:
        _sync_folder(path.parent)
    return removed


def _remove_one(path: Path, what: str) -> bool:
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _cannot(f"reach {what}", path, exc) from None
    if stat.S_ISDIR(found.st_mode):
        raise StoreError(
            f"{path} is a folder, where brokerauth keeps a {what}", hint="move that folder away"
        )
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _cannot(f"remove {what}", path, exc) from None
    return True


# --- the lock ------------------------------------------------------------------------------


def lock_path(path: Path) -> Path:
    """The lock file :func:`lock` uses for ``path``."""
    return path.with_name(path.name + _LOCK_SUFFIX)


@contextlib.contextmanager
def lock(
    path: Path,
    key: TokenKey,
    timeout: float,
    *,
    top: Path | None = None,
    removed_by_logout: bool = False,
) -> Iterator[bool]:
    """An OS file lock at :func:`lock_path` of ``path``, shared by every process.

    Entering vets (and creates) ``top`` and the folders down to ``path``'s (see
    :func:`ensure_folders`; by default only ``path``'s own folder), then yields ``True`` once
    the lock is held, ``False`` if ``timeout`` seconds passed first (``0``: one attempt;
    negative: wait as long as it takes).  The lock is released the moment its holder exits,
    however it dies, and is never a soft lock.  It is not re-entrant: a second lock on the
    same path in the same process waits like any other.
    """
    # Imported here: filelock costs tens of milliseconds and only refreshes need it.
    import filelock

    ensure_folders(path.parent if top is None else top, path.parent, key, create=True)
    logout = _logout(key, removed_by_logout)
    where = lock_path(path)
    _refuse_special(where, "lock file", logout)
    file_lock = filelock.FileLock(
        str(where),
        mode=_FILE_MODE,
        poll_interval=LOCK_POLL_INTERVAL,
        # A soft lock is a marker file that outlives a killed holder; failing is better than
        # a refresh stuck behind a dead process.
        fallback_to_soft=False,
    )
    acquired = _acquire(file_lock, where, timeout, logout)
    try:
        yield acquired
    finally:
        if acquired:
            file_lock.release()


def _acquire(
    file_lock: filelock.FileLock, where: Path, timeout: float, logout: str | None
) -> bool:
    import filelock

    try:
        file_lock.acquire(timeout=timeout if timeout >= 0 else -1)
    except filelock.Timeout:
        return False
    except OSError as exc:
        if os.path.islink(where):
            raise _link_refused(where, "lock file", logout) from None
        if exc.errno == errno.ENOSYS:
            raise StoreError(
                f"the file system holding {where} cannot lock files",
                hint="keep tokens on a local disk: set BROKERAUTH_HOME or the store's path",
            ) from None
        raise _cannot("lock", where, exc) from None
    except RuntimeError as exc:
        # filelock's own refusals (waiting forever on a lock this thread holds, a lock
        # inherited across fork) name only the lock's path.
        raise StoreError(f"cannot lock {where}: {exc}") from None
    return True


# --- errors --------------------------------------------------------------------------------


def _logout(key: TokenKey, removed_by_logout: bool) -> str | None:
    """The command that removes a bad file for the user, when there is one."""
    from brokerauth.contract.commands import for_key

    return for_key("logout", key) if removed_by_logout else None


def _log_in_again(logout: str | None) -> str:
    return f"run `{logout}` and log in again" if logout else "log in again"


def _link_refused(path: Path, what: str, logout: str | None) -> StoreError:
    way_out = f"`{logout}` removes it" if logout else f"remove {path}"
    return StoreError(
        f"{what} {path} is a symbolic link; brokerauth never follows links in its token store, "
        "since one could send a token where other users can read it",
        hint=f"{way_out}; find out who created it; to keep tokens elsewhere, set "
        "BROKERAUTH_HOME or the store's path option to the real folder",
    )


def _not_a_file(path: Path, what: str, logout: str | None) -> StoreError:
    return StoreError(
        f"{path} is not a regular file, where brokerauth keeps a {what}",
        hint=f"remove it, then {_log_in_again(logout)}",
    )


def _not_a_folder(path: Path) -> StoreError:
    return StoreError(f"{path} is not a folder, where brokerauth keeps tokens", hint="move it away")


#: What to do about a token folder that cannot be made.
_FOLDER_HINT: Final = ("check that you may write to the folder above it; or set BROKERAUTH_HOME "
                       "(or the store's path) to a folder of your own")


def _cannot(action: str, path: Path, exc: OSError | None, hint: str | None = None) -> StoreError:
    detail = f": {_reason(exc)}" if exc is not None else ""
    return StoreError(f"cannot {action} {path}{detail}", hint=hint)


def _reason(exc: OSError) -> str:
    # strerror only: str(exc) repeats the path, and the message already names it.
    return exc.strerror or type(exc).__name__
