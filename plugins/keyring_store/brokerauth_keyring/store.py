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

The refresh lock is an OS file lock (:class:`brokerauth.toolkit.wokenlock.WokenLock`, the
file store's) in the user's brokerauth folder, ``$BROKERAUTH_HOME/keyring/<profile>/
<identity>.lock``: the keyring has no lock, and a file lock dies with its holder.

Listing asks the Secret Service itself (``SearchItems`` on the ``service`` attribute, then
each item's attributes): it is exactly what the keyring holds, with no index item that could
drift from it (an index would need its own lock, and a crash between the token's write and
the index's would list a token that is not there or hide one that is), and no secret is
read.  Other back ends offer ``keyring`` no search, so listing them is refused.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from brokerauth.contract.errors import StoreError
from brokerauth.contract.interaction import logger
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import keyring_backends
from brokerauth.toolkit.keyring_backends import SECRET_SERVICE, TRUSTED_BACKENDS, backend_name

from brokerauth_keyring.options import KeyringStoreOptions

if TYPE_CHECKING:
    from brokerauth.contract.specs import CallBudget

__all__ = ["SECRET_SERVICE", "TRUSTED_BACKENDS", "KeyringStore", "backend_name", "item_name",
           "refusal"]

LOGGER = "brokerauth.store.keyring"
T = TypeVar("T")

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


def refusal(backend: object, *, named: bool = False) -> str | None:
    """Why the store will not keep tokens with ``backend`` (None: it will).  ``named``: the
    profile names it (``backend = ...``), which trusts a back end the store does not know."""
    return keyring_backends.refusal(
        backend, named=named,
        how_to_name=f'store = {{ name = "keyring", backend = "{backend_name(backend)}" }}')


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
        return decode_token(data, source=self._source(key), key=key)

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

        from brokerauth.toolkit.tokencodec import forget_all

        try:
            removed = self._call("remove the token of", key, remove)
        finally:
            forget_all()  # the decoder's memo keeps no logged-out token
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
        user: it is released the moment its holder exits, however it dies, its waiters are
        woken then, and a wait ends early when the holder has stored what the waiter needs
        (:class:`brokerauth.toolkit.wokenlock.WokenLock`)."""
        from brokerauth.builtin.filestore import file_name
        from brokerauth.toolkit.wokenlock import WokenLock

        root = self.lock_root()
        path = root / file_name(key.profile, "profile") / file_name(key.identity, "identity")
        return WokenLock(path, key, timeout, top=root)

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
        backend, origin = keyring_backends.find_backend("the keyring store", self.options.backend)
        problem = refusal(backend, named=self.options.backend is not None)
        if problem is None:
            logger(LOGGER).debug("keyring store: using %s (%s)", backend_name(backend), origin)
            return backend
        raise keyring_backends.refused("the keyring store", backend, origin, problem,
                                       outcome="no token was read or written",
                                       otherwise='keep tokens in files: store = { name = "file" }')

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
                reason = f"{type(exc).__name__}: {keyring_backends.short(exc)}"
                raise StoreError(f"{what} ({reason})",
                                 hint=f"check your keyring; {keep}") from None
            if not _is_unreachable(exc):
                raise
            raise StoreError(
                f"{what}: the keyring service cannot be reached ({type(exc).__name__}: "
                f"{keyring_backends.short(exc)})",
                hint="start it in your session (on Linux a Secret Service: gnome-keyring-daemon "
                "--start --components=secrets, or KWallet) and check DBUS_SESSION_BUS_ADDRESS "
                f"reaches it; {keep}",
            ) from None

    def _source(self, key: TokenKey) -> str:
        return f"keyring item {item_name(key)} of service {self.options.service!r}"


def _is_unreachable(exc: BaseException) -> bool:
    from keyring.errors import InitError

    if isinstance(exc, InitError | ConnectionError | OSError):
        return True
    module = type(exc).__module__
    return module.startswith(("secretstorage", "jeepney"))
