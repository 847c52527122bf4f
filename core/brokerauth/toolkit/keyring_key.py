"""A Fernet key kept in the OS keyring (the Secret Service on Linux, the Keychain on macOS,
the Credential Locker on Windows), made once and read back on every later use: what a store's
``encryption_key = "keyring"`` means.

The key is one entry, service :data:`SERVICE` and name :data:`NAME`, the same for every token
folder of the user: the entries a store seals are bound to their profile and identity, not to
a folder, so a token folder moved or restored elsewhere stays readable with the same key.

The back end is found and judged as the keyring token store's is
(:mod:`brokerauth.toolkit.keyring_backends`): the one the user configured for keyring
(``$PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``), else the platform's OS keyring (the Secret
Service first on Linux), else keyring's discovery, never its chainer; only keyring's own OS
keyrings are used, and one that keeps secrets in a plain file (``keyrings.alt``'s) or none
at all is refused: the key would otherwise sit in a file as readable as the tokens it
protects.  The ``keyring`` package is imported only on first use; it is optional
(``pip install 'brokerauth[file-keyring]'``).  No message holds the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokerauth.contract.errors import ConfigError, CorruptStoreError, StoreError

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

__all__ = ["INSTALL", "NAME", "SERVICE", "SOURCE", "read_key", "read_or_create_key"]

#: The keyring entry's service and name.
SERVICE = "brokerauth"
NAME = "file-store-key"
#: Where the key comes from, for messages.
SOURCE = f"the OS keyring (service {SERVICE!r}, name {NAME!r})"
#: How to get the ``keyring`` package.
INSTALL = "pip install 'brokerauth[file-keyring]'"


def _backend(what: str) -> Any:
    try:
        import keyring.core  # noqa: F401 - only to say it is missing
    except ImportError:
        raise ConfigError(
            f"{what} is \"keyring\", and the keyring package is not installed",
            hint=f"install it ({INSTALL}), or give a key: encryption_key = {{ env = \"NAME\" }}",
        ) from None
    from brokerauth.toolkit import keyring_backends

    subject = f'{what} is "keyring"'
    backend, origin = keyring_backends.find_backend(subject)
    problem = keyring_backends.refusal(backend)
    if problem is None:
        return backend
    raise keyring_backends.refused(
        f"{subject}, and no OS keyring is available", backend, origin, problem,
        outcome="no key was read or made",
        otherwise='give a key: encryption_key = { env = "NAME" }')


def _call(what: str, action: str, function: Callable[[], Any]) -> Any:
    from keyring.errors import KeyringError

    try:
        return function()
    except KeyringError as exc:
        # keyring's messages name the backend and what failed, never the stored value.
        failure = f"{type(exc).__name__}: {exc}"
    # Raised outside the except block, so that nothing keeps keyring's exception (and the
    # frames behind it) alive.
    raise StoreError(
        f"{what}: could not {action} {SOURCE}: {failure}",
        hint="unlock the keyring (log in to the desktop session) and try again",
    )


def _invalid(value: object) -> str | None:
    """Why the keyring item's value is not a key the file store can use (None: it is one):
    what :func:`brokerauth.toolkit.envelope.make_cipher` accepts, one Fernet key or several
    separated by commas.  Never the value itself."""
    from cryptography.fernet import Fernet

    if not isinstance(value, str):
        return f"it holds {type(value).__name__}, not text"
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        return "it is empty"
    for position, part in enumerate(parts, start=1):
        try:
            Fernet(part)
        except (ValueError, TypeError):
            which = f"part {position} of {len(parts)}" if len(parts) > 1 else "it"
            return f"{which} is not a Fernet key (32 url-safe base64-encoded bytes)"
    return None


#: How to look at the item, restore it, or give it up: never "make a new key" alone.
_INVALID_HINT = (
    "do not replace it with a new key: every token file sealed with the old key could then "
    "never be read again.  Look at the item (Linux: `secret-tool lookup service "
    f"{SERVICE} username {NAME}`, or Passwords and Keys; macOS: Keychain Access; Windows: "
    "Credential Manager) and put the old key back from a backup: `python -m keyring set "
    f"{SERVICE} {NAME}`.  Only if it is lost for good: `python -m keyring del {SERVICE} "
    f"{NAME}`, then `brokerauth logout PROFILE` for each profile using it and log in again "
    "(a new key is made then)")


def read_key(what: str) -> str | None:
    """The key kept in the keyring, ``None`` if there is no item yet.

    An item that holds no valid key (empty, or not a Fernet key) is an error, never "no key":
    a key made in its place would leave every token sealed with the old one unreadable.

    :param what: what asks for it (``the file store's encryption_key``), for messages.
    :raises ~brokerauth.contract.errors.ConfigError: the keyring package is missing.
    :raises ~brokerauth.contract.errors.CorruptStoreError: the item holds no valid key; it is
        left as it is.
    :raises ~brokerauth.contract.errors.StoreError: no OS keyring, or it cannot be read.
    """
    backend = _backend(what)
    value = _call(what, "read the key from", lambda: backend.get_password(SERVICE, NAME))
    if value is None:
        return None
    problem = _invalid(value)
    if problem is None:
        return str(value)
    raise CorruptStoreError(
        f"{what} is \"keyring\", and the item in {SOURCE} is not a valid key: {problem}; "
        "nothing was read with it or written over it",
        hint=_INVALID_HINT,
    )


def _store_new_key(what: str, backend: Any, fernet: Any) -> None:
    # The new key lives in this frame only: a traceback an error reporter keeps (with its
    # frames' locals) then holds no key of the caller's frame.
    made = fernet.generate_key().decode("ascii")
    _call(what, "store a new key in", lambda: backend.set_password(SERVICE, NAME, made))


def read_or_create_key(
    what: str, guard: Callable[[], AbstractContextManager[bool]]
) -> str:
    """The key kept in the keyring, made and stored first if there is none.

    ``guard`` is a lock shared by every process that could make the key at the same moment:
    the keyring has no "add unless present", so two first uses would otherwise each store a
    key of their own and the second would make the first one's token unreadable.  It is
    taken only when the key is missing.
    """
    found = read_key(what)
    if found is not None:
        return found
    from cryptography.fernet import Fernet

    with guard() as held:
        if not held:
            raise StoreError(f"{what}: another process kept the lock on making the key in "
                             f"{SOURCE} for too long",
                             hint="check for a stuck brokerauth process and try again")
        found = read_key(what)
        if found is not None:
            return found
        backend = _backend(what)
        _store_new_key(what, backend, Fernet)
        # Read back: a process using another token folder (another lock) may have stored a
        # key of its own just now; nothing is sealed yet, so the one the keyring kept is used.
        kept = read_key(what)
        if kept is None:
            raise StoreError(f"{what}: the key just stored in {SOURCE} did not read back",
                             hint="check the keyring; nothing was encrypted with it")
        return kept
