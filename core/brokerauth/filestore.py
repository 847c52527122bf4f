"""The ``file`` store: one JSON file per profile and identity, readable by the user only.

Layout: ``<root>/<profile>/<identity>.json``, with ``<identity>.json.lock`` beside each token
for the cross-process lock.  The root is the store's ``path`` option, else
``$BROKERAUTH_HOME/tokens``, else the platform's per-user state folder (see
:func:`default_root`).

Why it is built the way it is:

* Writes go to a fresh temp file in the same folder (``O_EXCL``, ``O_NOFOLLOW``), are
  fsync'd, renamed over the token and the folder is fsync'd: a reader sees the old token or
  the new one, never a torn file, even after ``kill -9`` or a power cut.
* Nothing in the store follows a symbolic link: a link planted at a token, temp or lock path,
  or a linked folder inside the root, could redirect a secret to a place another user reads.
  Every such case is refused with :class:`~brokerauth.errors.StoreError`.
* Folders are 0700 and files 0600 whatever the umask; a token file that others could read is
  refused rather than used (see :func:`_check_token_file`).
* The lock is an OS lock (``flock`` through the ``filelock`` library), so it dies with its
  holder: a process killed mid-refresh never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import string
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from brokerauth.errors import StoreError
from brokerauth.tokens import Token, TokenKey

if TYPE_CHECKING:
    import filelock

__all__ = [
    "LOCK_POLL_INTERVAL",
    "FileStoreOptions",
    "default_root",
    "delete",
    "load",
    "lock",
    "lock_path",
    "save",
    "token_path",
]

log = logging.getLogger("brokerauth.store.file")

#: How often a waiting process retries the lock, in seconds.
LOCK_POLL_INTERVAL = 0.05

_FILE_MODE = 0o600
_FOLDER_MODE = 0o700
_JSON_SUFFIX = ".json"
_LOCK_SUFFIX = ".lock"
_TEMP_SUFFIX = ".tmp"
_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
# File names are limited to 255 bytes; the temp name adds 43 characters to an identity's.
_MAX_NAME = 200
_POSIX = sys.platform != "win32"
# Flags missing on a platform are 0, so one spelling serves everywhere; Windows has no links
# to refuse in the POSIX sense and relies on the folder checks alone.
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
# A FIFO planted at the token path would block a plain open forever.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_LOGOUT_HINT = "run `brokerauth logout {profile}` and log in again"


@attrs.frozen
class FileStoreOptions:
    """Options of the ``file`` store, given in a profile as
    ``store = { name = "file", path = "~/trading/tokens" }``."""

    #: The folder holding the token files instead of the default one; ``~`` is expanded and a
    #: relative path is taken from the current folder.
    path: str | None = None


# --- where tokens live -------------------------------------------------------------------


def default_root() -> Path:
    """The folder tokens are kept in when the store has no ``path`` option.

    ``$BROKERAUTH_HOME/tokens`` if set; otherwise ``$XDG_STATE_HOME/brokerauth/tokens`` or
    ``~/.local/state/brokerauth/tokens`` on Linux and other Unixes,
    ``~/Library/Application Support/brokerauth/tokens`` on macOS, and
    ``%LOCALAPPDATA%\\brokerauth\\tokens`` on Windows.
    """
    home = os.environ.get("BROKERAUTH_HOME")
    if home:
        return Path(os.path.expanduser(home)).absolute() / "tokens"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else _user_home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = _user_home() / "Library" / "Application Support"
    else:
        state = os.environ.get("XDG_STATE_HOME")
        # The XDG spec says a relative value is invalid and must be ignored.
        base = Path(state) if state and os.path.isabs(state) else _user_home() / ".local/state"
    return base / "brokerauth" / "tokens"


def token_path(key: TokenKey, options: FileStoreOptions | None = None) -> Path:
    """The file the token for ``key`` is kept in (which may not exist yet).

    Profile and identity are percent-encoded (everything outside ``A-Za-z0-9._-``, and the
    names ``.`` and ``..``), so any name maps to exactly one file inside the root.

    :raises ~brokerauth.errors.StoreError: a name is empty or too long for a file name.
    """
    folder = _root(options) / _file_name(key.profile, "profile")
    return folder / (_file_name(key.identity, "identity") + _JSON_SUFFIX)


def lock_path(key: TokenKey, options: FileStoreOptions | None = None) -> Path:
    """The lock file beside the token for ``key``."""
    path = token_path(key, options)
    return path.with_name(path.name + _LOCK_SUFFIX)


def _root(options: FileStoreOptions | None) -> Path:
    if options is not None and options.path:
        return Path(os.path.expanduser(options.path)).absolute()
    return default_root()


def _user_home() -> Path:
    try:
        return Path.home()
    except RuntimeError:
        raise StoreError(
            "cannot find your home folder to keep tokens in",
            hint="set BROKERAUTH_HOME, or give the store a folder: "
            'store = { name = "file", path = "..." }',
        ) from None


def _file_name(name: str, what: str) -> str:
    if not name:
        raise StoreError(f"a token cannot be stored under an empty {what} name")
    parts: list[str] = []
    for char in name:
        if char in _SAFE_CHARS:
            parts.append(char)
        else:
            # surrogatepass keeps the mapping one-to-one even for strings Python allows but
            # UTF-8 does not (a lone surrogate).
            parts.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    encoded = "".join(parts)
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    if len(encoded) > _MAX_NAME:
        raise StoreError(
            f"the {what} name is too long to be used as a file name "
            f"({len(encoded)} characters once encoded, at most {_MAX_NAME})",
            hint=f"choose a shorter {what} name",
        )
    return encoded


# --- the store's operations ----------------------------------------------------------------


def load(key: TokenKey, options: FileStoreOptions | None = None) -> Token | None:
    """The token stored under ``key``, or ``None`` when there is none.

    :raises ~brokerauth.errors.CorruptStoreError: the file is not a token.
    :raises ~brokerauth.errors.StoreError: the file or a folder is unsafe (a link, too open,
        owned by another user) or cannot be read.
    """
    # Imported here: commands that never read a token should not pay for cattrs.
    from brokerauth.tokencodec import decode_token

    path = token_path(key, options)
    if not _folders_ready(path, key, create=False):
        return None
    data = _read_token_file(path, key)
    if data is None:
        return None
    return decode_token(data, source=str(path), profile=key.profile)


def save(key: TokenKey, token: Token, options: FileStoreOptions | None = None) -> None:
    """Store ``token`` under ``key``, atomically replacing what was there.

    :raises ~brokerauth.errors.StoreError: it could not be stored; the old token is intact.
    """
    from brokerauth.tokencodec import encode_token

    path = token_path(key, options)
    data = encode_token(token)
    _folders_ready(path, key, create=True)
    # os.replace would replace a link rather than write through it, so this check is not what
    # keeps the secret safe; it turns a planted link into an error someone will look at.
    _refuse_special(path, "token file", key)
    temp = path.with_name(f".{path.name}.{_random_suffix()}{_TEMP_SUFFIX}")
    fd = _create_temp(temp)
    try:
        try:
            if _POSIX:
                # The create mode is filtered by the umask; this makes it exactly 0600.
                os.fchmod(fd, _FILE_MODE)
            _write_all(fd, data)
            _sync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise StoreError(
                f"cannot write token file {path}: {_reason(exc)}; the previous token is intact",
                hint="check the disk and the folder's permissions",
            ) from None
        raise
    _sync_folder(path.parent)
    log.debug("stored the token for %s in %s", key, path)


def delete(key: TokenKey, options: FileStoreOptions | None = None) -> bool:
    """Remove the token stored under ``key``; ``True`` if anything was removed.

    Temp files a killed writer left for this key go too, since they hold a token and logging
    out should leave none behind.  A link found at the token path is removed itself (never
    followed), so logging out is also the way out of a tampered store.
    """
    path = token_path(key, options)
    if not _folders_ready(path, key, create=False):
        return False
    removed = _remove(path, "token file")
    temp_name = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{32}" + re.escape(_TEMP_SUFFIX))
    try:
        leftovers = [e.name for e in os.scandir(path.parent) if temp_name.fullmatch(e.name)]
    except OSError as exc:
        raise _cannot("list token folder", path.parent, exc) from None
    for name in leftovers:
        removed = _remove(path.parent / name, "temp file") or removed
    if removed:
        _sync_folder(path.parent)
        log.debug("removed the token for %s from %s", key, path)
    return removed


def _remove(path: Path, what: str) -> bool:
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


def lock(
    key: TokenKey, options: FileStoreOptions | None = None, timeout: float = 0.0
) -> AbstractContextManager[bool]:
    """A lock on ``key`` shared by every process using this folder.

    Entering yields ``True`` once the lock is held, ``False`` if ``timeout`` seconds passed
    first (``0``: one attempt; negative: wait as long as it takes).  The lock is an OS file
    lock, so it is released the moment its holder exits, however it dies.  It is not
    re-entrant: a second ``lock`` on the same key in the same process waits like any other.
    """
    path = token_path(key, options)
    return _held(path, key, timeout)


@contextlib.contextmanager
def _held(path: Path, key: TokenKey, timeout: float) -> Iterator[bool]:
    # Imported here: filelock costs tens of milliseconds and only refreshes need it.
    import filelock

    _folders_ready(path, key, create=True)
    where = path.with_name(path.name + _LOCK_SUFFIX)
    _refuse_special(where, "lock file", key)
    file_lock = filelock.FileLock(
        str(where),
        mode=_FILE_MODE,
        poll_interval=LOCK_POLL_INTERVAL,
        # A soft lock is a marker file that outlives a killed holder; failing is better than
        # a refresh stuck behind a dead process.
        fallback_to_soft=False,
    )
    acquired = _acquire(file_lock, where, timeout)
    try:
        yield acquired
    finally:
        if acquired:
            file_lock.release()


def _acquire(file_lock: filelock.FileLock, where: Path, timeout: float) -> bool:
    import filelock

    try:
        file_lock.acquire(timeout=timeout if timeout >= 0 else -1)
    except filelock.Timeout:
        return False
    except OSError as exc:
        if os.path.islink(where):
            raise _link_refused(where, "lock file") from None
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


# --- folders -------------------------------------------------------------------------------


def _folders_ready(path: Path, key: TokenKey, *, create: bool) -> bool:
    """Check the root and profile folders holding ``path``, creating them when asked.

    :return: ``False`` when one is missing and ``create`` is false.
    """
    profile_folder = path.parent
    root = profile_folder.parent
    # Root first: the profile folder is only worth checking inside a vetted root.
    return all(_check_folder(folder, key, create=create) for folder in (root, profile_folder))


def _check_folder(folder: Path, key: TokenKey, *, create: bool) -> bool:
    if not os.path.lexists(folder):
        if not create:
            return False
        _make_folders(folder)
    if not _POSIX:
        if os.path.islink(folder):
            raise _link_refused(folder, "token folder")
        if not os.path.isdir(folder):
            raise _not_a_folder(folder)
        return True
    # Opening the folder itself with O_NOFOLLOW, then checking what was opened, leaves no
    # gap between the check and the chmod for a link to be swapped in.
    try:
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except FileNotFoundError:
        if create:
            raise _cannot("create token folder", folder, None) from None
        return False
    except OSError as exc:
        if os.path.islink(folder):
            raise _link_refused(folder, "token folder") from None
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
        if create and stat.S_IMODE(found.st_mode) != _FOLDER_MODE:
            # Writing is when it matters that nobody else can list or add files here; the
            # folder is ours, so tightening it is safe.
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
    # world-writable parent would let anyone swap the token folder for their own.
    for new in reversed(missing):
        try:
            os.mkdir(new, _FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it; _check_folder vets the ones that matter
        except OSError as exc:
            raise _cannot("create token folder", new, exc) from None
        if _POSIX:
            _chmod_new_folder(new)


def _chmod_new_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
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
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
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


# --- files ---------------------------------------------------------------------------------


def _random_suffix() -> str:
    """The random part of a temp file's name (a separate function so tests can pin it).

    :func:`delete` recognises a killed writer's leftovers by this shape: 32 hex digits.
    """
    return secrets.token_hex(16)


def _create_temp(temp: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    try:
        return os.open(temp, flags, _FILE_MODE)
    except FileExistsError:
        # 128 random bits do not collide: something was put there on purpose.
        kind = "a link" if os.path.islink(temp) else "a file"
        raise StoreError(
            f"cannot write the token: {kind} already exists at the temp path {temp}; "
            "nothing was written and the previous token is intact",
            hint=f"remove {temp}, and find out who put it there",
        ) from None
    except OSError as exc:
        raise _cannot("create a temp file for the token", temp, exc) from None


def _write_all(fd: int, data: bytes) -> None:
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


def _read_token_file(path: Path, key: TokenKey) -> bytes | None:
    from brokerauth.tokencodec import MAX_TOKEN_BYTES

    flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise _link_refused(path, "token file", key) from None
        raise _cannot("read token file", path, exc) from None
    try:
        _check_token_file(path, os.fstat(fd), key)
        chunks: list[bytes] = []
        # One byte past the limit is enough for the codec to refuse it by size.
        left = MAX_TOKEN_BYTES + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _cannot("read token file", path, exc) from None
    finally:
        os.close(fd)


def _check_token_file(path: Path, found: os.stat_result, key: TokenKey) -> None:
    if not stat.S_ISREG(found.st_mode):
        raise StoreError(
            f"{path} is not a regular file, where brokerauth keeps a token",
            hint=f"remove it, then {_LOGOUT_HINT.format(profile=key.profile)}",
        )
    if not _POSIX:
        return
    if found.st_uid != os.geteuid():
        raise StoreError(
            f"token file {path} belongs to another user (uid {found.st_uid}); it will not be used",
            hint=f"remove it and {_LOGOUT_HINT.format(profile=key.profile)}",
        )
    mode = stat.S_IMODE(found.st_mode)
    if mode & 0o077:
        # Refused rather than quietly fixed: while it was open, someone may have copied the
        # token, and only the user can tell whether to keep it or log out and revoke it.
        # save() always writes 0600, so this happens only after a hand-made change.
        raise StoreError(
            f"token file {path} has mode {mode:04o}: other users may have read or changed it, "
            "so brokerauth will not use it",
            hint=f"if nobody else could have, run `chmod 600 {path}`; otherwise "
            f"{_LOGOUT_HINT.format(profile=key.profile)}, and revoke the old token",
        )


def _refuse_special(path: Path, what: str, key: TokenKey) -> None:
    """Refuse a link or a non-file at a path the store is about to write."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _cannot(f"reach {what}", path, exc) from None
    if stat.S_ISLNK(found.st_mode):
        raise _link_refused(path, what, key)
    if not stat.S_ISREG(found.st_mode):
        raise StoreError(
            f"{path} is not a regular file, where brokerauth keeps a {what}",
            hint="move it away",
        )


# --- errors --------------------------------------------------------------------------------


def _link_refused(path: Path, what: str, key: TokenKey | None = None) -> StoreError:
    way_out = f"`brokerauth logout {key.profile}` removes it" if key else f"remove {path}"
    return StoreError(
        f"{what} {path} is a symbolic link; brokerauth never follows links in its token store, "
        "since one could send a token where other users can read it",
        hint=f"{way_out}; find out who created it; to keep tokens elsewhere, set "
        "BROKERAUTH_HOME or the store's path option to the real folder",
    )


def _not_a_folder(path: Path) -> StoreError:
    return StoreError(f"{path} is not a folder, where brokerauth keeps tokens", hint="move it away")


def _cannot(action: str, path: Path, exc: OSError | None) -> StoreError:
    detail = f": {_reason(exc)}" if exc is not None else ""
    return StoreError(f"cannot {action} {path}{detail}")


def _reason(exc: OSError) -> str:
    # strerror only: str(exc) repeats the path, and the message already names it.
    return exc.strerror or type(exc).__name__
