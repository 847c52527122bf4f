"""Private files for plugins that keep secrets in files of their own format.

A plugin store whose files are not brokerauth's token JSON (the Futu SDK's token file, client
registrations holding a ``registration_access_token``, small pointers) must still write them
the way the core writes tokens: a fresh temp file (``O_EXCL|O_NOFOLLOW``), mode 0600 whatever
the umask, fsync, rename over the old file, fsync of the folder; folders 0700, owned by the
user, never reached through a symbolic link.  This module is that, as a public API built on
the file store's own primitives, so no plugin needs a second copy or the store's internals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Final

from brokerauth import filestore as _fs
from brokerauth.errors import StoreError
from brokerauth.tokens import TokenKey

log = logging.getLogger("brokerauth.privatefiles")

_POSIX: Final = sys.platform != "win32"
_FILE_MODE: Final = 0o600
_TEMP_SUFFIX: Final = ".tmp"
_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_O_BINARY: Final = getattr(os, "O_BINARY", 0)
# A FIFO planted at the path would block a plain open forever.
_O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)


def ensure_folders(top: Path, folder: Path, key: TokenKey, *, create: bool) -> bool:
    """Vet ``top`` and every folder between it and ``folder`` (0700, ours, no links),
    creating missing ones when ``create``; ``False`` when one is missing and not ``create``."""
    chain = [top]
    if folder != top:
        for part in folder.relative_to(top).parts:
            chain.append(chain[-1] / part)
    return all(_fs._check_folder(each, key, create=create) for each in chain)


def write_private(path: Path, data: bytes, key: TokenKey, what: str) -> None:
    """Replace ``path`` with ``data`` atomically, mode 0600 (folders must be ready).

    :raises ~brokerauth.errors.StoreError: nothing was written; the old file is intact.
    """
    # os.replace replaces a link rather than writing through it; refusing one here turns a
    # planted link into an error someone will look at.
    _fs._refuse_special(path, what, key)
    temp = path.with_name(f".{path.name}.{_fs._random_suffix()}{_TEMP_SUFFIX}")
    fd = _fs._create_temp(temp)
    try:
        try:
            if _POSIX:
                # The create mode is filtered by the umask; this makes it exactly 0600.
                os.fchmod(fd, _FILE_MODE)
            _fs._write_all(fd, data)
            _fs._sync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise StoreError(
                f"cannot write {what} {path}: {exc.strerror or type(exc).__name__}; "
                "the previous one is intact",
                hint="check the disk and the folder's permissions",
            ) from None
        raise
    _fs._sync_folder(path.parent)


def read_private(
    path: Path, key: TokenKey, what: str, *, limit: int, tighten_readable: bool = False
) -> bytes | None:
    """The bytes of ``path`` (at most ``limit`` + 1), or ``None`` when it does not exist.

    A file others can write is refused.  One others can only read is refused too, unless
    ``tighten_readable``: for a file another program writes with the default umask (0644 on
    most systems, as a broker SDK may), refusing it would make sharing it impossible; such a
    file is set to 0600 and the user is warned, once, that others may have read it.
    """
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise StoreError(
                f"{what} {path} is a symbolic link; brokerauth never follows links in a token "
                "folder, since one could send a token where other users can read it",
                hint=f"remove {path}, and find out who created it",
            ) from None
        raise _cannot_read(what, path, exc) from None
    try:
        found = os.fstat(fd)
        _check_file(path, found, fd, what, tighten_readable=tighten_readable)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _cannot_read(what, path, exc) from None
    finally:
        os.close(fd)


def _cannot_read(what: str, path: Path, exc: OSError) -> StoreError:
    # strerror only: str(exc) repeats the path, and the message already names it.
    return StoreError(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}")


def _check_file(
    path: Path, found: os.stat_result, fd: int, what: str, *, tighten_readable: bool
) -> None:
    if not stat.S_ISREG(found.st_mode):
        raise StoreError(f"{path} is not a regular file, where a {what} belongs",
                         hint="move it away")
    if not _POSIX:
        return
    if found.st_uid != os.geteuid():
        raise StoreError(
            f"{what} {path} belongs to another user (uid {found.st_uid}); it will not be used",
            hint=f"remove {path} and log in again",
        )
    mode = stat.S_IMODE(found.st_mode)
    if mode & 0o022 or (mode & 0o077 and not tighten_readable):
        raise StoreError(
            f"{what} {path} has mode {mode:04o}: other users may have read or changed it, "
            "so it will not be used",
            hint=f"if nobody else could have, run `chmod 600 {path}`; otherwise delete it, "
            "log in again and revoke the old token",
        )
    if mode & 0o077:
        os.fchmod(fd, _FILE_MODE)
        log.warning(
            "%s %s was readable by other users (mode %04o); it is now 0600. If others could "
            "have read it, log out to revoke it.", what, path, mode,
        )


def remove(path: Path, what: str) -> bool:
    """Remove ``path`` (a link is removed, never followed) and a killed writer's temp files
    for it; ``True`` if anything was removed."""
    removed = _fs._remove(path, what)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{32}" + re.escape(_TEMP_SUFFIX))
    try:
        leftovers = [e.name for e in os.scandir(path.parent) if pattern.fullmatch(e.name)]
    except FileNotFoundError:
        leftovers = []
    except OSError as exc:
        raise StoreError(
            f"cannot list {path.parent}: {exc.strerror or type(exc).__name__}"
        ) from None
    for name in leftovers:
        removed = _fs._remove(path.parent / name, "temp file") or removed
    if removed:
        _fs._sync_folder(path.parent)
    return removed


def lock(path: Path, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
    """The core's OS file lock at ``path.lock`` (dies with its holder; never a soft lock)."""
    return _held(path, key, timeout)


@contextlib.contextmanager
def _held(path: Path, key: TokenKey, timeout: float) -> Iterator[bool]:
    with _fs._held(path, key, timeout) as acquired:
        yield acquired
