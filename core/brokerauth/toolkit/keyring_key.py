"""A Fernet key kept in the OS keyring (the Secret Service on Linux, the Keychain on macOS,
the Credential Locker on Windows), made once and read back on every later use: what a store's
``encryption_key = "keyring"`` means.

The key is one entry, service :data:`SERVICE` and name :data:`NAME`, the same for every token
folder of the user: the entries a store seals are bound to their profile and identity, not to
a folder, so a token folder moved or restored elsewhere stays readable with the same key.

The back end is the one the user configured for keyring (``$PYTHON_KEYRING_BACKEND``,
``keyringrc.cfg``), else the platform's OS keyring (the Secret Service first on Linux), tried
directly, before keyring's discovery of every installed back end.  The ``keyring`` package is
imported only here, on first use; it is optional (``pip install keyring``).  A back end that
keeps secrets in a plain file (``keyrings.alt``'s) or none at all is refused, and of a chain
of back ends only the first OS keyring is used: the key would otherwise sit in a file as
readable as the tokens it protects.  No message holds the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokerauth.contract.errors import ConfigError, StoreError

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

# Backends that are no keyring at all, or keep secrets in a file in clear or with a fixed
# password: a key there protects nothing the token files do not already.
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def _backend(what: str) -> Any:
    try:
        import keyring.core
    except ImportError:
        raise ConfigError(
            f"{what} is \"keyring\", and the keyring package is not installed",
            hint=f"install it ({INSTALL}), or give a key: encryption_key = {{ env = \"NAME\" }}",
        ) from None
    chosen = _chosen(keyring.core)
    # keyring's chainer (what it picks when several back ends work) falls through to the
    # next back end when one finds nothing, down to a plain file: its first OS keyring is
    # used alone, so the key is read from and written to that one only.
    members = getattr(chosen, "backends", None)
    candidates = list(members) if members is not None else [chosen]
    backend = next((b for b in candidates if not _refused(b)), None)
    if backend is None:
        kind = type(chosen)
        raise StoreError(
            f"{what} is \"keyring\", and no OS keyring is available (the keyring back end "
            f"here is {kind.__module__}.{kind.__name__}, which is none or keeps secrets in a "
            "plain file)",
            hint="run where the desktop's keyring is reachable (on Linux a Secret Service "
            "such as GNOME Keyring or KWallet on the session D-Bus), or give a key: "
            'encryption_key = { env = "NAME" }',
        )
    return backend


#: The OS keyrings of each platform, tried in this order before keyring's discovery of every
#: installed back end (entry points, an import and a probe each: about 50 ms of a start).
_PLATFORM_BACKENDS = {
    "linux": ("keyring.backends.SecretService.Keyring", "keyring.backends.libsecret.Keyring",
              "keyring.backends.kwallet.DBusKeyring"),
    "darwin": ("keyring.backends.macOS.Keyring",),
    "win32": ("keyring.backends.Windows.WinVaultKeyring",),
}


def _chosen(core: Any) -> Any:
    """The back end the user configured (``$PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``),
    else the first of the platform's OS keyrings that works now, else keyring's choice."""
    import importlib
    import sys

    configured = core.load_env() or core.load_config()
    if configured is not None:
        return configured
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    for name in _PLATFORM_BACKENDS.get(platform, ()):
        module, _, attribute = name.rpartition(".")
        try:
            kind = getattr(importlib.import_module(module), attribute)
            # A back end's priority raises (or is not above 0) where it cannot work.
            if float(kind.priority) > 0:
                return kind()
        except Exception:  # noqa: S112 - not installed, or not usable here: the next one
            continue
    return core.get_keyring()


def _refused(backend: Any) -> bool:
    kind = type(backend)
    return (kind.__module__.startswith(_REFUSED_MODULES) or "plaintext" in kind.__name__.lower()
            or getattr(backend, "backends", None) is not None)


def _call(what: str, action: str, function: Callable[[], Any]) -> Any:
    from keyring.errors import KeyringError

    try:
        return function()
    except KeyringError as exc:
        # keyring's messages name the backend and what failed, never the stored value.
        failure = f"{type(exc).__name__}: {exc}"
    # Raised outside the except block, so that nothing keeps keyring's exception (and the
    # frames behind it) alive: its Secret Service backend leaves the D-Bus connection of a
    # collection that stayed locked open, and it is closed here rather than whenever the
    # garbage collector gets to it.
    _close_abandoned_connections()
    raise StoreError(
        f"{what}: could not {action} {SOURCE}: {failure}",
        hint="unlock the keyring (log in to the desktop session) and try again",
    )


def _close_abandoned_connections() -> None:
    import gc
    import warnings

    with warnings.catch_warnings():
        # Closing an abandoned socket warns that it was not closed: it is being closed now.
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def read_key(what: str) -> str | None:
    """The key kept in the keyring, ``None`` if there is none yet.

    :param what: what asks for it (``the file store's encryption_key``), for messages.
    :raises ~brokerauth.contract.errors.ConfigError: the keyring package is missing.
    :raises ~brokerauth.contract.errors.StoreError: no OS keyring, or it cannot be read.
    """
    backend = _backend(what)
    value = _call(what, "read the key from", lambda: backend.get_password(SERVICE, NAME))
    return value if isinstance(value, str) and value else None


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
        made = Fernet.generate_key().decode("ascii")
        _call(what, "store a new key in", lambda: backend.set_password(SERVICE, NAME, made))
        # Read back: a process using another token folder (another lock) may have stored a
        # key of its own just now; nothing is sealed yet, so the one the keyring kept is used.
        kept = read_key(what)
        if kept is None:
            raise StoreError(f"{what}: the key just stored in {SOURCE} did not read back",
                             hint="check the keyring; nothing was encrypted with it")
        return kept
