"""The ``futu-file`` store: OAuth tokens in the Futu SDK's own file, so both share one login.

Layout, with ``T`` the token folder (the store's ``path`` option, else the profile's
``token_dir``, else ``$FUTU_TOKEN_DIR``, else ``~/.futu/openapi/tokens``, which is
``%USERPROFILE%\\.futu\\openapi\\tokens`` on Windows)::

    T/<client_id>                              the SDK's file: {"client_id", "access_token",
                                               "refresh_token", "expires_at"}
    T/.brokerauth/<profile>/<identity>.json.client
                                               which client id that profile's login uses,
                                               and the login's account facts (futu_id, ...)
    T/.brokerauth/<profile>/<identity>.json    a token the SDK's format cannot hold, in the
                                               core's format (legacy API-key tokens, and
                                               OAuth tokens of identities other than the
                                               default: the SDK has one login per client id)
    T/.brokerauth/@locks/<client_id>.lock      the cross-process lock of that login
    T/.brokerauth/@registrations/<hash>.json   OAuth client registrations (see registration.py)

Why a pointer file: the store is asked for "the token of profile P, identity I", but the SDK
names its file after the client id, which is a setting of the profile (or is issued by a
registration during the first login), and stores are not given settings.  The pointer holds
no secret; it is written like everything else here (0600, atomic, never through a link).

Everything is written with the core file store's primitives (see
:mod:`brokerauth.toolkit.privatefiles`): temp file, fsync, rename, folder fsync, 0600/0700 whatever
the umask, links refused, and an OS file lock that dies with its holder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.errors import ConfigError, StoreError
from brokerauth.contract.tokens import (
    CORE_EXTRA_PREFIX,
    DEFAULT_IDENTITY,
    ISSUED_FOR,
    Token,
    TokenKey,
)
from brokerauth.toolkit import privatefiles as files

from brokerauth_futu import account, sdkformat
from brokerauth_futu.settings import FutuFileOptions, token_dir_of

RECORDS: Final = ".brokerauth"
LOCKS: Final = "@locks"  # '@' never appears in an encoded profile name, so no clash
_POINTER_SUFFIX: Final = ".client"
_POINTER_LIMIT: Final = 64 * 1024


def _options(options: Any) -> FutuFileOptions:
    if options is None:
        return FutuFileOptions()
    if isinstance(options, FutuFileOptions):
        return options
    raise ConfigError(
        f"the futu-file store's options must be FutuFileOptions, not {type(options).__name__}",
        hint='in a profile: token_dir = "..." (the store follows it)',
    )


def folder(options: Any = None) -> Path:
    """The token folder ``T`` for these store options."""
    return token_dir_of(_options(options).path)


def sdk_token_path(client_id: str, options: Any = None) -> Path:
    """Where the SDK keeps the login of ``client_id``."""
    return folder(options) / sdkformat.check_client_id(client_id)


def records_folder(top: Path) -> Path:
    return top / RECORDS


def _core(top: Path) -> FileStoreOptions:
    # Tokens the SDK's format cannot hold go to the core's own file store, rooted in T.
    return FileStoreOptions(path=str(records_folder(top)))


def _pointer_path(top: Path, key: TokenKey) -> Path:
    path = filestore.token_path(key, _core(top))
    return path.with_name(path.name + _POINTER_SUFFIX)


def _legacy_pointer_path(top: Path, key: TokenKey) -> Path | None:
    # Named after the core's token file, so it moved when the core's names became case-fold
    # safe; a pointer under the old name still says which SDK file holds the login.
    path = filestore.legacy_token_path(key, _core(top))
    return None if path is None else path.with_name(path.name + _POINTER_SUFFIX)


def _core_token_exists(top: Path, key: TokenKey) -> bool:
    legacy = filestore.legacy_token_path(key, _core(top))
    return os.path.lexists(filestore.token_path(key, _core(top))) or (
        legacy is not None and os.path.lexists(legacy)
    )


# --- pointer ---------------------------------------------------------------------------------


def _read_pointer(top: Path, key: TokenKey) -> str | None:
    login = _read_login(top, key)
    return None if login is None else login[0]


def _read_login(top: Path, key: TokenKey) -> _Login | None:
    """The client id of ``key``'s login, its account facts and what the SDK's file cannot
    hold of its token (see :func:`_beside`), or ``None``: no pointer."""
    login = _read_pointer_at(top, key, _pointer_path(top, key))
    if login is None:
        legacy = _legacy_pointer_path(top, key)
        if legacy is not None:
            login = _read_pointer_at(top, key, legacy)
    return login


def _remove_legacy_pointer(top: Path, key: TokenKey) -> bool:
    legacy = _legacy_pointer_path(top, key)
    if legacy is None or not os.path.lexists(legacy):
        return False
    return files.remove(legacy, "login pointer")


#: A login as its pointer records it: the client id, the account facts, and what the SDK's
#: file cannot hold of the token the pointer was written with.
_Login = tuple[str, dict[str, str], dict[str, Any]]


def _read_pointer_at(top: Path, key: TokenKey, path: Path) -> _Login | None:
    if not files.ensure_folders(top, path.parent, key, create=False):
        return None
    data = files.read_private(path, key, "login pointer", limit=_POINTER_LIMIT)
    if data is None:
        return None
    try:
        record = json.loads(data)
        client_id = record.get("client_id")
    except (ValueError, AttributeError):
        record, client_id = {}, None
    if not isinstance(client_id, str) or not sdkformat.valid_client_id(client_id):
        raise _damaged(path)
    facts = record.get("account")
    token = record.get("token", {})
    if not isinstance(token, dict):
        raise _damaged(path)
    # Facts are only shown, never relied on: a damaged set is dropped, the login kept.
    return client_id, account.cleaned(facts) if isinstance(facts, dict) else {}, token


def _damaged(path: Path) -> StoreError:
    return StoreError(f"login pointer {path} is damaged",
                      hint=f"delete {path} (or log out), then log in again")


def _write_pointer(top: Path, key: TokenKey, login: _Login) -> None:
    client_id, facts, token = login
    path = _pointer_path(top, key)
    files.ensure_folders(top, path.parent, key, create=True)
    record: dict[str, object] = {"client_id": client_id}
    if facts:
        record["account"] = facts
    if token:
        record["token"] = token
    files.write_private(path, json.dumps(record, ensure_ascii=True).encode("ascii"), key,
                        "login pointer")


#: Token fields the SDK's file has no room for, kept in the pointer (times as ISO 8601).
_BESIDE_TIMES = ("issued_at", "last_used_at", "refresh_expires_at", "hard_expires_at")


def _beside(token: Token) -> dict[str, Any]:
    """What the SDK's file cannot hold of ``token``, none of it secret: the core's records
    in its ``extra`` (the origin it was issued for, a refused refresh, what was told), its
    times and scope; with the expiry of the token they belong to."""
    assert token.expires_at is not None  # it fits the SDK's file
    kept: dict[str, Any] = {"for": int(token.expires_at.timestamp())}
    for name in _BESIDE_TIMES:
        value = getattr(token, name)
        if value is not None:
            kept[name] = value.isoformat()
    if token.scope is not None:
        kept["scope"] = token.scope
    if token.idle_timeout is not None:
        kept["idle_timeout"] = token.idle_timeout
    core = {k: v for k, v in token.extra.items() if k.startswith(CORE_EXTRA_PREFIX)}
    if core:
        kept["extra"] = core
    return kept


def _with_beside(token: Token, kept: dict[str, Any], source: Path) -> Token:
    """``token`` read from the SDK's file with what its pointer kept.  If the SDK has
    refreshed the login since (another expiry), only what belongs to the login stays: the
    origin it was issued for, not the records of the token it replaced."""
    extra = kept.get("extra", {})
    if not isinstance(extra, dict) or not all(
            isinstance(k, str) and k.startswith(CORE_EXTRA_PREFIX) and isinstance(v, str)
            for k, v in extra.items()):
        raise _damaged(source)
    assert token.expires_at is not None
    if kept.get("for") != int(token.expires_at.timestamp()):
        origin = extra.get(ISSUED_FOR)
        return token if origin is None else token.replace(
            extra={**token.extra, ISSUED_FOR: origin})
    changes: dict[str, Any] = {}
    try:
        for name in _BESIDE_TIMES:
            if isinstance(kept.get(name), str):
                changes[name] = datetime.fromisoformat(kept[name])
        if isinstance(kept.get("scope"), str):
            changes["scope"] = kept["scope"]
        if isinstance(kept.get("idle_timeout"), int | float):
            changes["idle_timeout"] = kept["idle_timeout"]
        return token.replace(extra={**token.extra, **extra}, **changes)
    except (ValueError, TypeError):
        raise _damaged(source) from None


# --- the store's operations -------------------------------------------------------------------


def load(key: TokenKey, options: Any = None) -> Token | None:
    """The token of ``key``: the SDK's file of its client id, else a core-format token."""
    top = folder(options)
    login = _read_login(top, key)
    if login is None:
        return filestore.load(key, _core(top))
    client_id, facts, kept = login
    token = load_sdk_file(top, client_id, key)
    if token is None:
        return None
    if kept:
        token = _with_beside(token, kept, _pointer_path(top, key))
    return token.replace(extra={**facts, **token.extra}) if facts else token


def load_sdk_file(top: Path, client_id: str, key: TokenKey) -> Token | None:
    """The SDK's token of ``client_id`` in ``top``, or ``None`` (also used to adopt a login
    the SDK made before brokerauth was set up)."""
    path = top / sdkformat.check_client_id(client_id)
    if not files.ensure_folders(top, top, key, create=False):
        return None
    data = files.read_private(
        path, key, "Futu token file", limit=sdkformat.MAX_BYTES, tighten_readable=True
    )
    if data is None:
        return None
    return sdkformat.decode(data, source=str(path), client_id=client_id, identity=key.identity)


def save(key: TokenKey, token: Token, options: Any = None) -> None:
    """Store ``token``: in the SDK's file when it fits and ``key`` is the default identity,
    else in the core's format; the other place is cleared so a load finds this one."""
    top = folder(options)
    if key.identity == DEFAULT_IDENTITY and sdkformat.fits_sdk_file(token):
        client_id = token.extra[sdkformat.EXTRA_CLIENT_ID]
        files.ensure_folders(top, top, key, create=True)
        # Token first, pointer second: a crash between leaves the old pointer (or none),
        # never a pointer to a file that was not written.
        files.write_private(top / client_id, sdkformat.encode(token), key, "Futu token file")
        login = (client_id, account.of_token(token.extra), _beside(token))
        if _read_pointer_at(top, key, _pointer_path(top, key)) != login:
            _write_pointer(top, key, login)
        _remove_legacy_pointer(top, key)  # after the new one is written
        if _core_token_exists(top, key):
            filestore.delete(key, _core(top))
        return
    filestore.save(key, token, _core(top))
    pointer = _pointer_path(top, key)
    if os.path.lexists(pointer):
        files.remove(pointer, "login pointer")
    _remove_legacy_pointer(top, key)


def delete(key: TokenKey, options: Any = None) -> bool:
    """Remove ``key``'s token (the SDK's file too: logging out ends that login for both)."""
    top = folder(options)
    removed = False
    try:
        client_id = _read_pointer(top, key)
    except StoreError:
        client_id = None  # a damaged pointer is removed below; it is the way out
    if client_id is not None:
        removed = files.remove(top / client_id, "Futu token file") or removed
    pointer = _pointer_path(top, key)
    if os.path.lexists(pointer):
        removed = files.remove(pointer, "login pointer") or removed
    removed = _remove_legacy_pointer(top, key) or removed
    if os.path.lexists(records_folder(top)):
        removed = filestore.delete(key, _core(top)) or removed
    return removed


def list_keys(profile: str, options: Any = None) -> Iterator[TokenKey]:
    """The key of every login and token kept for ``profile``, from file names and pointers
    alone (no token is read): an identity with a login pointer whose SDK file is there (the
    SDK's login, normally the default identity's), and one with a token in the core's
    format.  Each identity comes once, as :func:`load` would read it: a pointer wins over a
    core-format file, and a pointer to an SDK file that is gone is nothing stored (the SDK
    logged out).  A damaged pointer, a corrupt or unsafe file is listed; loading it says
    what is wrong.

    :raises ~brokerauth.contract.errors.StoreError: a folder is unsafe or cannot be read.
    """
    top = folder(options)
    core = _core(top)
    pointers = filestore.list_keys(profile, core, suffix=".json" + _POINTER_SUFFIX)
    return _listed(top, pointers, filestore.list_keys(profile, core))


def _listed(
    top: Path, pointers: Iterator[TokenKey], tokens: Iterator[TokenKey]
) -> Iterator[TokenKey]:
    pointed: set[str] = set()
    for key in pointers:
        try:
            client_id = _read_pointer(top, key)
        except StoreError:
            pointed.add(key.identity)
            yield key  # a damaged pointer: load reports it rather than read anything else
            continue
        if client_id is None:
            continue  # removed since it was listed: load now reads the core's file, if any
        pointed.add(key.identity)
        if os.path.lexists(top / client_id):
            yield key
    for key in tokens:
        if key.identity not in pointed:
            yield key


def lock(key: TokenKey, options: Any = None, timeout: float = 0.0) -> AbstractContextManager[bool]:
    """One lock per login: per client id once the login is known (profiles sharing a client
    id share its file, so they must share its lock), else per profile and identity."""
    top = folder(options)
    client_id = _read_pointer(top, key)
    if client_id is None:
        return filestore.lock(key, _core(top), timeout)
    files.ensure_folders(top, records_folder(top) / LOCKS, key, create=True)
    return files.lock(records_folder(top) / LOCKS / client_id, key, timeout)
