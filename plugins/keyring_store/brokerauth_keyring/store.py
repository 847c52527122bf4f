"""The ``keyring`` store: one item of the OS keyring per profile and identity.

Items: keyring service :attr:`~brokerauth_keyring.options.KeyringStoreOptions.service`
(``brokerauth``), user name the JSON array ``["<profile>","<identity>"]`` (:func:`item_name`),
which no two keys share whatever characters their names hold; the secret is the token as
:mod:`brokerauth.toolkit.tokencodec` encodes it.  Writing an item replaces the one before in one
step of the keyring (the Secret Service's ``CreateItem`` with ``replace``), so a reader sees
the old token or the new one.

The back end is chosen once per store, never left to ``keyring``'s chainer, which would fall
through to the next back end (a plaintext file, when keyrings.alt is installed) the moment the
first one fails: the store uses exactly one back end and refuses every back end that keeps
secrets in clear or keeps nothing (:func:`refusal`), with a :class:`StoreError` naming it and
the way out.  A back end the store does not know is refused unless the profile names it
(``backend = "module.Class"``).

The refresh lock is an OS file lock (:func:`brokerauth.toolkit.privatefiles.lock`) in the user's
brokerauth folder, ``$BROKERAUTH_HOME/keyring/<profile>/<identity>.lock``: the keyring has no
lock, and a file lock dies with its holder.

Listing asks the Secret Service itself (``SearchItems`` on the ``service`` attribute, then
each item's attributes): it is exactly what the keyring holds, with no index item that could
drift from it (an index would need its own lock, and a crash between the token's write and
the index's would list a token that is not there or hide one that is), and no secret is
read.  Other back ends offer ``keyring`` no search, so listing them is refused.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from brokerauth.contract.errors import ConfigError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.logs import logger

from brokerauth_keyring.options import KeyringStoreOptions

if TYPE_CHECKING:
    from brokerauth.contract.specs import CallBudget

__all__ = ["SECRET_SERVICE", "TRUSTED_BACKENDS", "KeyringStore", "backend_name", "item_name",
           "refusal"]

LOGGER = "brokerauth.store.keyring"
T = TypeVar("T")

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
#: keyring's own back ends that keep secrets in the OS's protected store.
TRUSTED_BACKENDS = frozenset((
    SECRET_SERVICE,
    "keyring.backends.libsecret.Keyring",
    "keyring.backends.kwallet.DBusKeyring",
    "keyring.backends.kwallet.DBusKeyringKWallet4",
    "keyring.backends.macOS.Keyring",
    "keyring.backends.Windows.WinVaultKeyring",
))
#: Back ends that keep nothing: refused even when named.
_NULL_BACKENDS = {
    "keyring.backends.fail.Keyring": "keyring found no usable back end (it stores nothing)",
    "keyring.backends.null.Keyring": "keyring is switched off (the null back end stores nothing)",
    "keyring.backends.chainer.ChainerBackend": "it chains other back ends and falls through "
    "to the next one when one fails",
}
#: Packages of back ends that keep secrets in files, in clear or under a weak scheme.
_CLEAR_PACKAGES = ("keyrings.alt",)
_MAX_DUPLICATES = 16


def item_name(key: TokenKey) -> str:
    """The keyring user name of ``key``'s item: ``["<profile>","<identity>"]`` as compact
    JSON, one-to-one (JSON escapes quotes and backslashes, so no name can end the string)."""
    return json.dumps([key.profile, key.identity], ensure_ascii=False, separators=(",", ":"))


def _key_of(name: object, profile: str) -> TokenKey | None:
    """The key whose item name ``name`` is, when it is exactly such a name for ``profile``."""
    if not isinstance(name, str):
        return None
    try:
        parsed = json.loads(name)
    except ValueError:
        return None
    if (not isinstance(parsed, list) or len(parsed) != 2
            or not all(isinstance(part, str) and part for part in parsed)
            or parsed[0] != profile):
        return None
    key = TokenKey(parsed[0], parsed[1])
    return key if item_name(key) == name else None


def backend_name(backend: object) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def refusal(backend: object, *, named: bool = False) -> str | None:
    """Why the store will not keep tokens with ``backend`` (None: it will).  ``named``: the
    profile names it (``backend = ...``), which trusts a back end the store does not know."""
    name = backend_name(backend)
    if name in _NULL_BACKENDS:
        return _NULL_BACKENDS[name]
    if name.startswith(tuple(package + "." for package in _CLEAR_PACKAGES)) or (
            "plaintext" in name.lower()):
        return "it keeps secrets in a file, in clear or under a weak scheme"
    if name in TRUSTED_BACKENDS or named:
        return None
    return ("the store does not know it; name it in the store's options to trust it: "
            f'store = {{ name = "keyring", backend = "{name}" }}')


class KeyringStore:
    """The tokens of one set of :class:`KeyringStoreOptions`, in one keyring back end."""

    def __init__(self, options: KeyringStoreOptions) -> None:
        self.options = options
        self._backend: Any = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        backend = "not chosen" if self._backend is None else backend_name(self._backend)
        return f"KeyringStore(service={self.options.service!r}, {backend})"

    # -- the store's operations ------------------------------------------------------------
    def load(self, key: TokenKey) -> Token | None:
        from brokerauth.toolkit.tokencodec import decode_token

        name = item_name(key)
        text = self._call("read the token of", key,
                          lambda backend: backend.get_password(self.options.service, name))
        if text is None:
            return None
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else b""
        return decode_token(data, source=self._source(key), profile=key.profile)

    def save(self, key: TokenKey, token: Token) -> None:
        from brokerauth.toolkit.tokencodec import encode_token

        text = encode_token(token).decode("ascii")
        name = item_name(key)
        self._call("store the token of", key,
                   lambda backend: backend.set_password(self.options.service, name, text))
        logger(LOGGER).debug("stored the token for %s in %s", key, self._source(key))

    def delete(self, key: TokenKey) -> bool:
        from keyring.errors import PasswordDeleteError

        name = item_name(key)

        def remove(backend: Any) -> bool:
            # Every copy: an item someone made by hand under the same name holds a token too.
            removed = False
            for _ in range(_MAX_DUPLICATES):
                try:
                    backend.delete_password(self.options.service, name)
                except PasswordDeleteError:
                    break
                removed = True
            return removed

        removed = self._call("remove the token of", key, remove)
        if removed:
            logger(LOGGER).debug("removed the token for %s from %s", key, self._source(key))
        return removed

    def list_keys(self, profile: str) -> list[TokenKey]:
        def search(backend: Any) -> list[TokenKey]:
            if backend_name(backend) != SECRET_SERVICE:
                raise StoreError(
                    f"the keyring store cannot list the tokens of {profile} in "
                    f"{backend_name(backend)}: only the Secret Service back end "
                    f"({SECRET_SERVICE}) can be searched through keyring",
                    hint="load a user's token by name instead (brokerauth status --user NAME)",
                )
            scheme = backend.schemes[backend.scheme]
            collection = backend.get_preferred_collection()
            found: list[TokenKey] = []
            with closing(collection.connection):
                for item in collection.search_items({scheme["service"]: self.options.service}):
                    key = _key_of(item.get_attributes().get(scheme["username"]), profile)
                    if key is not None and key not in found:
                        found.append(key)
            return found

        return self._call("list the tokens of", f"profile {profile}", search)

    def lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
        """An OS file lock on ``key`` in :meth:`lock_root`, shared by every process of the
        user: it is released the moment its holder exits, however it dies."""
        from brokerauth.builtin.filestore import file_name
        from brokerauth.toolkit import privatefiles

        root = self.lock_root()
        path = root / file_name(key.profile, "profile") / file_name(key.identity, "identity")
        return privatefiles.lock(path, key, timeout, top=root)

    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        """Count a token-endpoint call in a budget file beside the locks (the file store's
        budget files, under their own file lock): no secret is in it."""
        from brokerauth.builtin import filestore

        return filestore.take_call(key, budget, now,
                                   filestore.FileStoreOptions(path=str(self.lock_root())))

    def lock_root(self) -> Path:
        """The folder of the lock files: the ``lock_path`` option, else ``keyring`` beside the
        file store's default ``tokens`` folder (``$BROKERAUTH_HOME/keyring``)."""
        if self.options.lock_path:
            return Path(os.path.expanduser(self.options.lock_path)).absolute()
        from brokerauth.builtin.filestore import default_root

        return default_root().with_name("keyring")

    # -- the back end ----------------------------------------------------------------------
    def backend(self) -> Any:
        """The keyring back end the store uses, chosen on first use.

        :raises StoreError: the back end found keeps secrets in clear, keeps nothing, or is
            unknown (see :func:`refusal`).
        """
        found = self._backend
        if found is not None:
            return found
        with self._guard:
            if self._backend is None:
                self._backend = self._choose()
            return self._backend

    def _choose(self) -> Any:
        backend, origin = _find_backend(self.options)
        if backend_name(backend) == SECRET_SERVICE:
            backend = _closing_on_failure(backend)
        problem = refusal(backend, named=self.options.backend is not None)
        if problem is None:
            logger(LOGGER).debug("keyring store: using %s (%s)", backend_name(backend), origin)
            return backend
        hint = ("use an OS keyring: on Linux a Secret Service (gnome-keyring or KWallet) "
                "running in your session, reached through DBUS_SESSION_BUS_ADDRESS; on macOS "
                "the Keychain, on Windows the Credential Manager.  `python -m keyring "
                "--list-backends` shows what keyring sees.  Or keep tokens in files: "
                'store = { name = "file" }')
        why_not = _secret_service_problem()
        if why_not is not None:
            hint = f"the Secret Service is not usable ({why_not}); " + hint
        if origin != "chosen by keyring for this platform":
            hint = f"remove it from {origin}, or " + hint
        raise StoreError(
            f"the keyring store refuses keyring's back end {backend_name(backend)} ({origin}): "
            f"{problem}; no token was read or written",
            hint=hint,
        )

    def _call(self, action: str, key: TokenKey | str, operation: Callable[[Any], T]) -> T:
        backend = self.backend()
        with self._keyring_errors(action, key, backend):
            return operation(backend)

    @contextmanager
    def _keyring_errors(self, action: str, key: TokenKey | str,
                        backend: Any) -> Iterator[None]:
        """Turn what keyring, SecretStorage and jeepney raise into a :class:`StoreError` that
        says what to do.  Their messages name D-Bus errors and paths, never a secret."""
        from keyring.errors import InitError, KeyringError, KeyringLocked

        what = f"cannot {action} {key} in the keyring ({backend_name(backend)})"
        keep = ("sessions keep using their current token until it expires, then need the "
                "keyring to refresh it")
        try:
            yield
        except StoreError:
            raise
        except KeyringLocked:
            raise StoreError(
                f"{what}: the keyring is locked",
                hint="unlock it: log in to your desktop session (the login keyring unlocks "
                "with it) or unlock it in your keyring's manager (Passwords and Keys, "
                f"KWalletManager); {keep}",
            ) from None
        except Exception as exc:
            if isinstance(exc, KeyringError) and not isinstance(exc, InitError):
                reason = f"{type(exc).__name__}: {_short(exc)}"
                raise StoreError(f"{what} ({reason})",
                                 hint=f"check your keyring; {keep}") from None
            if not _is_unreachable(exc):
                raise
            raise StoreError(
                f"{what}: the keyring service cannot be reached ({type(exc).__name__}: "
                f"{_short(exc)})",
                hint="start it in your session (on Linux a Secret Service: gnome-keyring-daemon "
                "--start --components=secrets, or KWallet) and check DBUS_SESSION_BUS_ADDRESS "
                f"reaches it; {keep}",
            ) from None

    def _source(self, key: TokenKey) -> str:
        return f"keyring item {item_name(key)} of service {self.options.service!r}"


def _find_backend(options: KeyringStoreOptions) -> tuple[Any, str]:
    """The back end to use and where the choice came from: the store's option,
    ``$PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``, else the platform's best."""
    import keyring.core

    if options.backend is not None:
        try:
            return keyring.core.load_keyring(options.backend), "the store's backend option"
        except Exception as exc:
            raise ConfigError(
                f"the keyring store's backend {options.backend} cannot be loaded "
                f"({type(exc).__name__})",
                hint="install the package that provides it, or remove the option",
            ) from None
    try:
        chosen = keyring.core.load_env()
        if chosen is not None:
            return chosen, "$PYTHON_KEYRING_BACKEND"
        chosen = keyring.core.load_config()
        if chosen is not None:
            return chosen, "keyring's configuration file (keyringrc.cfg)"
    except Exception as exc:
        raise StoreError(
            f"the keyring back end named by $PYTHON_KEYRING_BACKEND or keyringrc.cfg cannot be "
            f"loaded ({type(exc).__name__})",
            hint="fix or remove that setting",
        ) from None
    return _platform_best(), "chosen by keyring for this platform"


#: The trusted back ends worth trying on each platform, before keyring's full discovery.
_PLATFORM_BACKENDS = {
    "linux": (SECRET_SERVICE, "keyring.backends.libsecret.Keyring",
              "keyring.backends.kwallet.DBusKeyring",
              "keyring.backends.kwallet.DBusKeyringKWallet4"),
    "darwin": ("keyring.backends.macOS.Keyring",),
    "win32": ("keyring.backends.Windows.WinVaultKeyring",),
}


def _platform_best() -> Any:
    """The viable trusted back end of highest priority for this platform, checked now (a
    Secret Service that started after keyring first looked is found too); when there is
    none, what keyring's own discovery finds (which the store then refuses, naming it).

    Only trusted back ends can be used unless named, so only they are tried first: this
    spares a first use keyring's discovery of every installed back end (entry points, an
    import and a probe each), about 100 ms."""
    import importlib

    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    viable: list[tuple[float, Any]] = []
    for name in _PLATFORM_BACKENDS.get(platform, ()):
        module, _, attribute = name.rpartition(".")
        try:
            kind: Any = getattr(importlib.import_module(module), attribute)
        except Exception:  # noqa: S112 - a back end whose bindings are not installed
            continue
        priority = _priority(kind)
        if priority is not None and priority > 0:
            viable.append((priority, kind))
    if viable:
        return max(viable, key=lambda pair: pair[0])[1]()
    return _discovered_best()


def _discovered_best() -> Any:
    """The viable back end of highest priority among all keyring discovers, the chainer
    left out."""
    import keyring.backend
    from keyring.backends import fail

    candidates = [backend for backend in keyring.backend.get_all_keyring()
                  if backend_name(backend) != "keyring.backends.chainer.ChainerBackend"]
    if sys.platform.startswith("linux") and not any(
            backend_name(backend) == SECRET_SERVICE for backend in candidates):
        from keyring.backends import SecretService

        secret_service: Any = SecretService.Keyring
        if _priority(secret_service) is not None:
            candidates.append(secret_service())
    ranked = [(priority, backend) for backend in candidates
              if (priority := _priority(backend)) is not None and priority > 0]
    if not ranked:
        nothing: Any = fail.Keyring
        return nothing()
    return max(ranked, key=lambda pair: pair[0])[1]


def _closing_on_failure(found: Any) -> Any:
    """A Secret Service back end of the store's own, like ``found``, whose collection
    lookup closes its D-Bus connection when it fails (keyring's leaves it open when the
    collection is locked or absent: one socket per refused call)."""
    from keyring.backends import SecretService

    kind: Any = SecretService.Keyring
    own = kind()
    own.__dict__.update(found.__dict__)
    own.get_preferred_collection = lambda: _preferred_collection(own)
    return own


def _preferred_collection(backend: Any) -> Any:
    """keyring's ``get_preferred_collection``, the connection closed on every failure."""
    import secretstorage
    from keyring.errors import InitError, KeyringLocked

    connection = secretstorage.dbus_init()
    try:
        if hasattr(backend, "preferred_collection"):
            collection = secretstorage.Collection(connection, backend.preferred_collection)
        else:
            collection = secretstorage.get_default_collection(connection)
        if collection.is_locked():
            collection.unlock()  # a prompt on a desktop; dismissed at once without one
            if collection.is_locked():
                raise KeyringLocked("Failed to unlock the collection!")
    except secretstorage.exceptions.SecretStorageException as exc:
        connection.close()
        raise InitError(f"Failed to create the collection: {exc}.") from exc
    except BaseException:
        connection.close()
        raise
    return collection


def _priority(backend: Any) -> float | None:
    try:
        return float(backend.priority)
    except Exception:
        return None  # the back end's own way of saying it cannot work here


def _secret_service_problem() -> str | None:
    """Why the Secret Service back end cannot work now (on Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from keyring.backends import SecretService

        SecretService.Keyring.priority  # noqa: B018 - raises when it cannot work
    except Exception as exc:
        return _short(exc)
    return None


def _is_unreachable(exc: BaseException) -> bool:
    from keyring.errors import InitError

    if isinstance(exc, InitError | ConnectionError | OSError):
        return True
    module = type(exc).__module__
    return module.startswith(("secretstorage", "jeepney"))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
