"""The ``file`` store: one JSON file per profile and identity, readable by the user only.

Layout: ``<root>/<profile>/<identity>.json``, with ``<identity>.json.lock`` beside each token
for the cross-process lock; names are percent-encoded so that distinct names stay distinct
files where case is ignored and under Windows' rules (see :func:`file_name`).  A token kept
under the names of before (``Alice.json`` where ``%41lice.json`` is meant) is still read, and
moved by the next save.  The root is the store's ``path`` option, else
``$BROKERAUTH_HOME/tokens``, else the platform's per-user state folder (see
:func:`default_root`).

The files are kept with :mod:`brokerauth.toolkit.privatefiles`, the one implementation of private
files in brokerauth, so a token gets all of its guarantees: atomic writes that survive
``kill -9`` and power cuts, no symbolic link ever followed (at a token, temp or lock path, or
a folder), folders 0700 and files 0600 whatever the umask, a token file others could read
refused rather than used, and an OS lock that dies with its holder.  This module adds what is
particular to tokens: where they live, how names map to files, the token codec, and hints
that name ``brokerauth logout``, since logging out removes a token file.

With an ``encryption_key`` (a Fernet key as a secret reference, several separated by commas
to rotate them, or ``"keyring"``: a key made on first use and kept in the OS keyring, see
:mod:`brokerauth.toolkit.keyring_key`), each file holds the envelope of
:mod:`brokerauth.toolkit.envelope` instead of the token's JSON, sealed for its profile and
identity (:func:`entry_name`), not for its path: a file copied or renamed to another identity
is refused, a whole token folder moved elsewhere stays readable.  A file in clear where a key
is given is refused (it could have been planted).  ``cryptography`` and ``keyring`` are
imported only when a key is used.

The envelope's generation is the time of the write, in microseconds; the file store keeps no
record of it and no fence (a file lock dies with its holder, and a logout removes the file),
so an older sealed copy of a file put back in its place is read: whoever can write to the
token folder is the user, who can read the keyring as well.
"""

from __future__ import annotations

import os
import string
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from brokerauth.contract.errors import StoreError
from brokerauth.contract.interaction import logger
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import privatefiles as files
from brokerauth.toolkit.secrets import Secret

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from brokerauth.contract.specs import CallBudget

__all__ = [
    "KEYRING",
    "LOCK_POLL_INTERVAL",
    "FileStoreOptions",
    "default_root",
    "delete",
    "entry_name",
    "file_name",
    "legacy_token_path",
    "list_keys",
    "load",
    "lock",
    "lock_path",
    "save",
    "take_call",
    "token_path",
]

LOGGER = "brokerauth.store.file"

#: How often a waiting process retries the lock, in seconds.  A copy of
#: :data:`brokerauth.toolkit.privatefiles.LOCK_POLL_INTERVAL`, kept so the name stays importable;
#: the lock reads the original.
LOCK_POLL_INTERVAL = files.LOCK_POLL_INTERVAL

_WHAT = "token file"
_JSON_SUFFIX = ".json"
# Kept as they are; everything else is percent-encoded.  No capital letters: APFS and NTFS
# ignore case, so "Alice" and "alice" must not differ only in case once mapped.
_LITERAL_CHARS = frozenset(string.ascii_lowercase + string.digits + "._-")
# What the mapping before names were case-fold safe kept as it was (see _legacy_file_name).
_LEGACY_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
# Windows opens a device for these, whatever the case and whatever follows a dot ("nul.json").
_RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"{device}{n}" for device in ("com", "lpt") for n in range(10)]
)
# File names are limited to 255 bytes; the temp name adds 43 characters to an identity's.
_MAX_NAME = 200
# A folder is listed through a descriptor opened without following a link, so what is
# listed is the folder that was vetted, not one a link swapped in since.
_LIST_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_CLOEXEC", 0))


#: ``encryption_key = "keyring"``: the key is made on first use and kept in the OS keyring.
KEYRING: Final = "keyring"
_STORE: Final = "file"
_KEY_OPTION: Final = "the file store's encryption_key"


def _valid_key(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and value != KEYRING and not isinstance(value, Secret):
        raise ValueError('encryption_key is a secret reference ({ env = "NAME" } or '
                         '{ file = "path" }) holding a Fernet key, or "keyring"')


@attrs.frozen
class FileStoreOptions:
    """Options of the ``file`` store, given in a profile as
    ``store = { name = "file", path = "~/trading/tokens" }``."""

    #: The folder holding the token files instead of the default one; ``~`` is expanded and a
    #: relative path is taken from the current folder.
    path: str | None = None
    #: Encrypt the token files: a secret reference holding a Fernet key (or several separated
    #: by commas: the first encrypts, every one decrypts), or ``"keyring"`` for a key made on
    #: first use and kept in the OS keyring.  Without it the files hold the token in clear.
    #: (Typed ``str`` rather than ``Literal["keyring"]`` so that another word is refused in
    #: this validator's words, which name ``"keyring"``.)
    encryption_key: Secret | str | None = attrs.field(default=None, validator=_valid_key)


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
    return user_state_folder() / "tokens"


def user_state_folder() -> Path:
    """The user's own brokerauth folder, whatever ``$BROKERAUTH_HOME`` says: what is one per
    user (the keyring key's maker lock) lives there."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        base = Path(local) if local else _user_home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = _user_home() / "Library" / "Application Support"
    else:
        state = os.environ.get("XDG_STATE_HOME")
        # The XDG spec says a relative value is invalid and must be ignored.
        base = Path(state) if state and os.path.isabs(state) else _user_home() / ".local/state"
    return base / "brokerauth"


def token_path(key: TokenKey, options: FileStoreOptions | None = None) -> Path:
    """The file the token for ``key`` is kept in (which may not exist yet).

    Profile and identity are percent-encoded (see :func:`file_name`), so any name maps to
    exactly one file inside the root, and distinct names to files that stay distinct on file
    systems that ignore case and under Windows' rules.

    :raises ~brokerauth.contract.errors.StoreError: a name is empty or too long for a file name.
    """
    folder = _root(options) / file_name(key.profile, "profile")
    return folder / (file_name(key.identity, "identity") + _JSON_SUFFIX)


def legacy_token_path(key: TokenKey, options: FileStoreOptions | None = None) -> Path | None:
    """Where a brokerauth before case-fold safe names kept the token for ``key``, when that
    differs from :func:`token_path` (a name with capitals, a leading or trailing dot, or a
    Windows device name); ``None`` otherwise.

    :func:`load` falls back to it, :func:`save` moves it, :func:`delete` removes it; a plugin
    that names its own files after :func:`token_path` can do the same.  On a file system that
    ignores case, such a file may be the very file the same name in small letters now uses
    (``Alice.json`` is ``alice.json`` there), so it is nobody's old file: ``None`` then, and
    the capitalised name logs in again rather than read or remove a token that may be
    another's.
    """
    new = token_path(key, options)
    try:
        profile = _legacy_file_name(key.profile, "profile")
        identity = _legacy_file_name(key.identity, "identity")
    except StoreError:
        return None  # a name the old mapping could not store: there is no old file
    old = _root(options) / profile / (identity + _JSON_SUFFIX)
    if old == new:
        return None
    if sys.platform == "win32" and not all(map(_windows_safe, (profile, identity))):
        return None  # such a name opens a device there: nothing was ever stored under it
    folded = old.parent.with_name(profile.lower()) / old.name.lower()
    if folded != old and _same_file(old, folded):
        return None
    return old


def _same_file(one: Path, other: Path) -> bool:
    """Whether two paths name one file (a separate function so tests can play a file system
    that ignores case)."""
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _windows_safe(name: str) -> bool:
    return name.split(".", 1)[0].lower() not in _RESERVED_NAMES and not name.endswith((".", " "))


def lock_path(key: TokenKey, options: FileStoreOptions | None = None) -> Path:
    """The lock file beside the token for ``key``."""
    return files.lock_path(token_path(key, options))


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


def file_name(name: str, what: str) -> str:
    """The file (or folder) name a profile or identity ``name`` is kept under.

    Small letters, digits and ``._-`` stay as they are; every other character, capitals
    included, becomes ``%XX`` per byte of its UTF-8, in capital hex digits; so does a leading
    or trailing dot, and the first letter of a Windows device name (``con``, ``nul.json``,
    ``lpt1``...).  ``Alice`` is ``%41lice``, ``alice`` stays ``alice``, ``CON`` is
    ``%43%4F%4E``, ``con`` is ``%63on``, ``..`` is ``%2E%2E``.

    The mapping is one-to-one, since ``%`` itself is always encoded, so percent-decoding
    gives the name back.  It stays one-to-one under case folding: the only capitals in a
    result are the hex digits after a ``%``, so a result is its folded form with the two
    characters after each ``%`` capitalised, and two results that fold alike are equal.
    Results are ASCII, so Unicode normalisation (APFS) cannot merge them either.  None ends
    in a dot or a space, or is a Windows device name, or starts with a dot.

    :raises ~brokerauth.contract.errors.StoreError: ``name`` is empty or too long for a file name.
    """
    if not name:
        raise StoreError(f"a token cannot be stored under an empty {what} name")
    parts = _percent_encoded(name, _LITERAL_CHARS)
    # A leading dot would hide the file and could look like a temp file; Windows drops a
    # trailing one.  (A trailing space is encoded already: it is not a literal character.)
    if parts[0] == ".":
        parts[0] = "%2E"
    if parts[-1] == ".":
        parts[-1] = "%2E"
    encoded = "".join(parts)
    if encoded.split(".", 1)[0] in _RESERVED_NAMES:
        # Every device name starts with a small letter kept as it is: encode that one.
        encoded = f"%{ord(encoded[0]):02X}{encoded[1:]}"
    if len(encoded) > _MAX_NAME:
        raise StoreError(
            f"the {what} name is too long to be used as a file name "
            f"({len(encoded)} characters once encoded, at most {_MAX_NAME})",
            hint=f"choose a shorter {what} name",
        )
    return encoded


def _percent_encoded(name: str, literal: frozenset[str]) -> list[str]:
    """``name`` a character at a time: kept when in ``literal``, else ``%XX`` per UTF-8 byte
    (surrogatepass keeps it one-to-one even for a lone surrogate, which UTF-8 lacks)."""
    return [char if char in literal
            else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
            for char in name]


def _legacy_file_name(name: str, what: str) -> str:
    """The mapping of brokerauth before :func:`file_name`: kept to find old token files."""
    if not name:
        raise StoreError(f"a token cannot be stored under an empty {what} name")
    encoded = "".join(_percent_encoded(name, _LEGACY_SAFE_CHARS))
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    if len(encoded) > _MAX_NAME:
        raise StoreError(f"the {what} name is too long to be used as a file name")
    return encoded


# --- encryption ----------------------------------------------------------------------------


def entry_name(key: TokenKey) -> str:
    """What an encrypted token file is sealed for (the envelope's ``entry``): the profile and
    identity, not the path, so a file copied to another identity is refused while a token
    folder moved elsewhere stays readable."""
    import json

    return "file:" + json.dumps([key.profile, key.identity], ensure_ascii=True)


class _Keys:
    """The cipher of one options value, made on first use."""

    def __init__(self, options: FileStoreOptions) -> None:
        key = options.encryption_key
        self._secret = key if isinstance(key, Secret) else None
        self._guard = threading.Lock()
        self._keyring: MultiFernet | None = None
        if self._secret is not None:
            from brokerauth.toolkit.envelope import StoreCipher

            self._cipher: StoreCipher | None = StoreCipher(self._secret, store=_STORE)
        else:
            self._cipher = None

    @property
    def source(self) -> str:
        """Where the key comes from, for messages."""
        if self._secret is not None:
            return self._secret.source
        from brokerauth.toolkit.keyring_key import SOURCE

        return SOURCE

    def get(self, root: Path, key: TokenKey, *, create: bool) -> MultiFernet | None:
        """The cipher; ``None`` only for a keyring that holds no key yet and ``create`` false."""
        if self._cipher is not None:
            return self._cipher.get()
        if self._keyring is not None:
            return self._keyring
        from brokerauth.toolkit import keyring_key
        from brokerauth.toolkit.envelope import make_cipher

        if create:
            # One keyring entry serves every token folder of the user, so its maker's lock is
            # the user's, not the folder's: two first uses under two BROKERAUTH_HOMEs (or two
            # profiles with their own path) would otherwise each make a key, and tokens sealed
            # with the one overwritten would be lost.
            top = user_state_folder()
            guard_path = top / "@file-store-key"

            def guard() -> AbstractContextManager[bool]:
                return files.lock(guard_path, TokenKey(key.profile), 10.0, top=top)

            found: str | None = keyring_key.read_or_create_key(_KEY_OPTION, guard)
        else:
            found = keyring_key.read_key(_KEY_OPTION)
        if found is None:
            return None
        cipher = make_cipher(Secret.from_value(found), store=_STORE)
        with self._guard:
            self._keyring = cipher
        return cipher


# One per options object, as long as it lives: a session's options are made when it opens,
# so each session reads its key once (options that are merely equal, like two sessions' of
# one profile, do not share a key read before the other was opened).
_keys: dict[int, _Keys] = {}
_keys_guard = threading.Lock()
_generation_guard = threading.Lock()
_last_generation = 0


def _keys_of(options: FileStoreOptions) -> _Keys:
    with _keys_guard:
        found = _keys.get(id(options))
        if found is None:
            found = _keys[id(options)] = _Keys(options)
            weakref.finalize(options, _keys.pop, id(options), None)
        return found


def _next_generation() -> int:
    """The time in microseconds, larger than any this process handed out before."""
    import time

    global _last_generation
    with _generation_guard:
        _last_generation = max(time.time_ns() // 1000, _last_generation + 1)
        return _last_generation


def _encrypted(data: bytes) -> bool:
    # A token's JSON starts with "{": the envelope's module (and what it imports) is loaded
    # only for a file that could be sealed.
    if not data.startswith(b"fernet"):
        return False
    from brokerauth.toolkit.envelope import ENCRYPTED_MARK, LEGACY_MARK

    return data.startswith((ENCRYPTED_MARK, LEGACY_MARK))


def _opened(data: bytes, path: Path, key: TokenKey, options: FileStoreOptions) -> Token | None:
    """The token in the bytes of the file at ``path``, in clear or sealed."""
    from brokerauth.contract.commands import for_key
    from brokerauth.toolkit.tokencodec import decode_token

    logout = f"`{for_key('logout', key)}`"
    if options.encryption_key is None:
        if _encrypted(data):
            raise StoreError(
                f"token file {path} is encrypted, and the profile's file store has no "
                "encryption_key",
                hint='give the store the key it was written with (encryption_key = '
                '{ env = "NAME" }, or encryption_key = "keyring" for the key in the OS '
                f"keyring), or run {logout} and log in again",
            )
        return decode_token(data, source=str(path), key=key)
    from brokerauth.toolkit.envelope import open_entry

    keys = _keys_of(options)
    cipher = keys.get(_root(options), key, create=False) if _encrypted(data) else None
    if cipher is None and _encrypted(data):
        raise StoreError(
            f"token file {path} is encrypted with the key kept in {keys.source}, and the "
            "keyring holds no such key",
            hint="use the keyring it was written with (the same user's desktop session), or "
            f"run {logout} and log in again",
        )
    if cipher is None:
        # In clear where a key is expected: refused without reading the key.
        from brokerauth.toolkit.envelope import ForgedEntryError

        raise ForgedEntryError(
            f"token file {path} is not encrypted, but the store has an encryption_key; it "
            "is not used, since anyone able to write to its token folder could have planted "
            "it", hint=f"run {logout} and log in again: the new token is stored encrypted",
        )
    from brokerauth.toolkit.envelope import LEGACY_MARK, ForgedEntryError

    if data.startswith(LEGACY_MARK):
        # The Redis and SQL stores' first envelope, which the file store never wrote: sealed
        # for a profile and identity only, it could be an entry copied from one of them.
        raise ForgedEntryError(
            f"token file {path} holds an envelope the file store never writes (fernet1:), "
            "so it was copied there from another store",
            hint=f"run {logout} and log in again",
        )
    entry = open_entry(data, key, entry_name(key), cipher, clear_generation=None,
                       clear_fence=None, source=str(path), key_source=keys.source,
                       store=_STORE, where="its token folder")
    return None if entry is None else entry.token


def _sealed(token: Token, key: TokenKey, options: FileStoreOptions) -> bytes:
    from brokerauth.toolkit.tokencodec import encode_token

    if options.encryption_key is None:
        return encode_token(token)
    from brokerauth.toolkit.envelope import seal_entry

    cipher = _keys_of(options).get(_root(options), key, create=True)
    return seal_entry(token, entry_name(key), generation=_next_generation(), fence=0,
                      cipher=cipher)


# --- the store's operations ----------------------------------------------------------------


def load(key: TokenKey, options: FileStoreOptions | None = None) -> Token | None:
    """The token stored under ``key``, or ``None`` when there is none.

    :raises ~brokerauth.contract.errors.CorruptStoreError: the file is not a token.
    :raises ~brokerauth.contract.errors.StoreError: the file or a folder is unsafe (a link, too
        open, owned by another user) or cannot be read.
    """
    # The codec and the envelope are imported when used: commands that never read a token
    # should not pay for cattrs, nor a store without a key for cryptography.
    options = options if options is not None else FileStoreOptions()
    path = token_path(key, options)
    data = _read(path, key, options)
    if data is None:
        # A token saved before names were case-fold safe is used where it is, until the next
        # save moves it (a read changes nothing).
        legacy = legacy_token_path(key, options)
        if legacy is None:
            return None
        path = legacy
        data = _read(path, key, options)
        if data is None:
            return None
    return _opened(data, path, key, options)


def _read(path: Path, key: TokenKey, options: FileStoreOptions) -> bytes | None:
    from brokerauth.toolkit.tokencodec import MAX_TOKEN_BYTES

    if not _folders_ready(path, key, create=False):
        return None
    # read_private reads one byte past the limit: enough for the codec (or the envelope,
    # which adds up to as much again) to refuse it by size.
    limit = MAX_TOKEN_BYTES if options.encryption_key is None else 2 * MAX_TOKEN_BYTES
    return files.read_private(path, key, _WHAT, limit=limit, removed_by_logout=True)


def save(key: TokenKey, token: Token, options: FileStoreOptions | None = None) -> None:
    """Store ``token`` under ``key``, atomically replacing what was there.

    :raises ~brokerauth.contract.errors.StoreError: it could not be stored; the old token is intact.
    """
    options = options if options is not None else FileStoreOptions()
    path = token_path(key, options)
    data = _sealed(token, key, options)
    _folders_ready(path, key, create=True)
    files.write_private(path, data, key, _WHAT, removed_by_logout=True)
    logger(LOGGER).debug("stored the token for %s in %s", key, path)
    legacy = legacy_token_path(key, options)
    # The new file first, then the old one goes: a crash between leaves both, and load
    # prefers the new one.  Left behind, the old file would hold a token no one refreshes.
    if (
        legacy is not None
        and os.path.lexists(legacy)  # after the move, a save costs no more than before
        and _folders_ready(legacy, key, create=False)
        and files.remove(legacy, _WHAT)
    ):
        logger(LOGGER).debug("moved the token for %s from %s", key, legacy)


def delete(key: TokenKey, options: FileStoreOptions | None = None) -> bool:
    """Remove the token stored under ``key``; ``True`` if anything was removed.

    Temp files a killed writer left for this key go too, since they hold a token and logging
    out should leave none behind.  A link found at the token path is removed itself (never
    followed), so logging out is also the way out of a tampered store.
    """
    from brokerauth.toolkit.tokencodec import forget_all

    removed = False
    try:
        for path in (token_path(key, options), legacy_token_path(key, options)):
            if path is None or not _folders_ready(path, key, create=False):
                continue
            if files.remove(path, _WHAT):
                removed = True
                logger(LOGGER).debug("removed the token for %s from %s", key, path)
    finally:
        forget_all()  # the decoder's memo keeps no logged-out token
    return removed


def list_keys(
    profile: str, options: FileStoreOptions | None = None, *, suffix: str = _JSON_SUFFIX
) -> Iterator[TokenKey]:
    """The key of every token file of ``profile``, from the file names alone: no token is
    opened, so a corrupt or unsafe file is listed too (loading it then says what is wrong).

    A name is listed only when it is exactly the name :func:`token_path`, or for a token kept
    under the names of before :func:`legacy_token_path`, gives the identity it decodes to:
    so never a temp file, a lock, a budget, a stray file, a file another profile's name maps
    to, a link, or anything but a regular file.  Each identity comes once, in no particular
    order, each folder read when the listing reaches it.

    ``suffix`` lists the files a plugin names after :func:`token_path` with something
    appended (``.json.client``) the same way.

    :raises ~brokerauth.contract.errors.StoreError: the profile name cannot be a file name, or a
        folder is unsafe (a link, too open, another user's) or cannot be read.
    """
    if not suffix.startswith(_JSON_SUFFIX):
        raise ValueError(f"a listed file's name ends in {_JSON_SUFFIX!r} and more, not {suffix!r}")
    root = _root(options)
    current = root / file_name(profile, "profile")
    folders = [current]
    try:
        legacy = root / _legacy_file_name(profile, "profile")
    except StoreError:
        legacy = current  # a name the old mapping could not store: no old folder
    if legacy != current:
        folders.append(legacy)
    return _listed(TokenKey(profile), root, current, folders, suffix, options)


def _listed(
    key: TokenKey, root: Path, current: Path, folders: list[Path], suffix: str,
    options: FileStoreOptions | None,
) -> Iterator[TokenKey]:
    seen: set[str] = set()
    for folder in folders:
        if not files.ensure_folders(root, folder, key, create=False):
            continue
        for name in _regular_files(folder, suffix):
            stem = name[: -len(suffix)]
            identity = _decoded(stem)
            if identity is None or identity in seen:
                continue
            # The exact inverse of the mapping, checked by mapping back: decoding alone
            # would take "A.json" and "%41.json" for one file, or a stray name for a token.
            if (folder == current and _maps_to(identity, stem)) or _legacy_maps_to(
                key, identity, folder / (stem + _JSON_SUFFIX), options
            ):
                seen.add(identity)
                yield TokenKey(key.profile, identity)


def _regular_files(folder: Path, suffix: str) -> list[str]:
    """Names in ``folder`` ending in ``suffix`` that are regular files, links not followed."""
    try:
        if os.scandir in os.supports_fd:
            fd = os.open(folder, _LIST_FLAGS)
            try:
                with os.scandir(fd) as entries:
                    return [entry.name for entry in entries
                            if entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False)]
            finally:
                os.close(fd)
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries
                    if entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []  # removed since it was vetted: nothing is stored there any more
    except OSError as exc:
        if os.path.islink(folder):
            raise StoreError(
                f"token folder {folder} is a symbolic link; brokerauth never follows one",
                hint="remove the link (someone may have planted it) and log in again",
            ) from None
        raise StoreError(f"cannot list token folder {folder}: {exc.strerror or exc}",
                         hint="check the folder's owner and mode") from None


def _decoded(stem: str) -> str | None:
    if "%" not in stem:
        return stem or None
    from urllib.parse import unquote_to_bytes

    try:
        return unquote_to_bytes(stem).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def _maps_to(identity: str, stem: str) -> bool:
    try:
        return file_name(identity, "identity") == stem
    except StoreError:
        return False


def _legacy_maps_to(
    key: TokenKey, identity: str, path: Path, options: FileStoreOptions | None
) -> bool:
    # The names of before are rare and legacy_token_path knows every case in which one is
    # nobody's old file (a file system ignoring case, Windows): it decides.
    try:
        return legacy_token_path(TokenKey(key.profile, identity), options) == path
    except StoreError:
        return False


def lock(
    key: TokenKey, options: FileStoreOptions | None = None, timeout: float = 0.0
) -> AbstractContextManager[bool]:
    """A lock on ``key`` shared by every process using this folder.

    Entering yields ``True`` once the lock is held, ``False`` if ``timeout`` seconds passed
    first (``0``: one attempt; negative: wait as long as it takes), or earlier when the
    check given to ``stop_when`` says the wait is over.  The lock is an OS file lock, so it
    is released the moment its holder exits, however it dies.  It is not re-entrant: a
    second ``lock`` on the same key in the same process waits like any other.

    A waiter is woken the moment the holder releases or dies, rather than polling
    (:class:`brokerauth.toolkit.wokenlock.WokenLock`).
    """
    from brokerauth.toolkit.wokenlock import WokenLock  # a read needs no lock: off its path

    path = token_path(key, options)
    return WokenLock(path, key, timeout, top=path.parent.parent, removed_by_logout=True)


def take_call(
    key: TokenKey, budget: CallBudget, now: float, options: FileStoreOptions | None = None
) -> float:
    """Count one token-endpoint call against ``budget`` for every process using this folder:
    the call times live in ``<root>/<profile>/@budget-<name>[-<identity>].json`` (an ``@`` no
    token file name has), read and rewritten under its own file lock."""
    from brokerauth.toolkit import budget as budgets

    token_file = token_path(key, options)
    suffix = "" if key.identity == budgets.APP else "-" + token_file.stem
    path = token_file.with_name(f"@budget-{file_name(budget.name, 'budget')}{suffix}.json")
    what = "token-endpoint budget"
    # Waits at most a moment: the lock is held only for a read and a write.
    with files.lock(path, key, 5.0, top=path.parent.parent) as held:
        if not held:
            raise StoreError(f"the {what} file {path} stayed locked for 5 s",
                             hint="check for a stuck process using the same token folder")
        kept, wait = budgets.take(
            budgets.decode(files.read_private(path, key, what, limit=64 * 1024)), now, budget
        )
        if wait == 0:
            files.write_private(path, budgets.encode(kept), key, what)
    return wait


def _folders_ready(path: Path, key: TokenKey, *, create: bool) -> bool:
    """Vet the root and the profile folder holding ``path``, creating them when asked.

    :return: ``False`` when one is missing and ``create`` is false.
    """
    return files.ensure_folders(path.parent.parent, path.parent, key, create=create)
