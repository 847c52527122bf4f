"""Which OS keyring back end may keep a secret, and how it is found: the one rule of the file
store's ``encryption_key = "keyring"`` (:mod:`brokerauth.toolkit.keyring_key`) and of the
``keyring`` token store (``brokerauth_keyring``).

Exactly one back end is used, never keyring's chainer as a whole: the chainer falls through to
the next back end (a plaintext file, when keyrings.alt is installed) the moment the first one
fails or finds nothing.  The back end is, in this order (:func:`find_backend`):

1. the one the caller names (the keyring store's ``backend = "module.Class"``);
2. ``$PYTHON_KEYRING_BACKEND``, then keyring's ``keyringrc.cfg``;
3. the platform's own OS keyrings (the Secret Service first on Linux), checked now, the one of
   highest priority that works (this spares keyring's discovery of every installed back end:
   entry points, an import and a probe each, about 100 ms);
4. else the back end of highest priority keyring's discovery finds, the chainer left out.

What is found is then judged (:func:`refusal`): a back end that keeps nothing (fail, null), the
chainer, and one that keeps secrets in a file in clear or under a weak scheme (keyrings.alt's,
any "plaintext" one) are refused even when named; of the rest only keyring's own OS keyrings
(:data:`TRUSTED_BACKENDS`) are used unless the caller names the back end.  :func:`refused`
words the refusal: the back end, where the choice came from, why, and the way out.

keyring's Secret Service back end leaves the D-Bus connection of a collection that is locked
or absent open (one socket per refused call, closed whenever the garbage collector gets to
it): the back end :func:`find_backend` returns closes it at once (:func:`_closing_on_failure`).

``keyring`` is imported only inside these functions, on first use of a key or a store.
"""

from __future__ import annotations

import sys
from contextlib import closing
from typing import Any

from brokerauth.contract.errors import ConfigError, StoreError

__all__ = ["CHAINER", "DISCOVERED", "SECRET_SERVICE", "TRUSTED_BACKENDS", "backend_name",
           "find_backend", "refusal", "refused", "secret_service_problem", "short"]

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
CHAINER = "keyring.backends.chainer.ChainerBackend"
#: keyring's own back ends that keep secrets in the OS's protected store.
TRUSTED_BACKENDS = frozenset((
    SECRET_SERVICE,
    "keyring.backends.libsecret.Keyring",
    "keyring.backends.kwallet.DBusKeyring",
    "keyring.backends.kwallet.DBusKeyringKWallet4",
    "keyring.backends.macOS.Keyring",
    "keyring.backends.Windows.WinVaultKeyring",
))
#: Back ends that keep nothing, or chain others: refused even when named.
_NULL_BACKENDS = {
    "keyring.backends.fail.Keyring": "keyring found no usable back end (it stores nothing)",
    "keyring.backends.null.Keyring": "keyring is switched off (the null back end stores nothing)",
    CHAINER: "it chains other back ends and falls through to the next one when one fails",
}
#: Packages of back ends that keep secrets in files, in clear or under a weak scheme.
_CLEAR_PACKAGES = ("keyrings.alt",)
#: Where the back end came from when nobody chose it (see :func:`find_backend`).
DISCOVERED = "chosen by keyring for this platform"
#: The trusted back ends worth trying on each platform, before keyring's full discovery.
_PLATFORM_BACKENDS = {
    "linux": (SECRET_SERVICE, "keyring.backends.libsecret.Keyring",
              "keyring.backends.kwallet.DBusKeyring",
              "keyring.backends.kwallet.DBusKeyringKWallet4"),
    "darwin": ("keyring.backends.macOS.Keyring",),
    "win32": ("keyring.backends.Windows.WinVaultKeyring",),
}


def backend_name(backend: object) -> str:
    """``module.Class`` of a back end, as keyring and its users name it."""
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def refusal(backend: object, *, named: bool = False, how_to_name: str | None = None) -> str | None:
    """Why ``backend`` may not keep a secret (None: it may).

    :param named: the caller's configuration names this back end, which trusts one that is
        not among :data:`TRUSTED_BACKENDS`.
    :param how_to_name: how the user names a back end to trust it, for the message; None
        where there is no way to.
    """
    name = backend_name(backend)
    if name in _NULL_BACKENDS:
        return _NULL_BACKENDS[name]
    if name.startswith(tuple(package + "." for package in _CLEAR_PACKAGES)) or (
            "plaintext" in name.lower()):
        return "it keeps secrets in a file, in clear or under a weak scheme"
    if name in TRUSTED_BACKENDS or named:
        return None
    if how_to_name is None:
        return "it is not one of keyring's OS keyrings, which are the only ones trusted here"
    return f"brokerauth does not know it; name it to trust it: {how_to_name}"


def refused(subject: str, backend: object, origin: str, problem: str, *, outcome: str,
            otherwise: str) -> StoreError:
    """The error refusing ``backend``: what refuses it, the back end, where the choice came
    from (``origin``), why (``problem``, from :func:`refusal`), that nothing was done
    (``outcome``), and the ways out, the last being ``otherwise`` (a way without a keyring)."""
    hint = ("use an OS keyring: on Linux a Secret Service (gnome-keyring or KWallet) running "
            "in your session, reached through DBUS_SESSION_BUS_ADDRESS; on macOS the Keychain, "
            "on Windows the Credential Manager.  `python -m keyring --list-backends` shows what "
            f"keyring sees.  Or {otherwise}")
    why_not = secret_service_problem()
    if why_not is not None:
        hint = f"the Secret Service is not usable ({why_not}); " + hint
    if origin != DISCOVERED:
        hint = f"remove it from {origin}, or " + hint
    return StoreError(
        f"{subject}: keyring's back end {backend_name(backend)} ({origin}) is refused: "
        f"{problem}; {outcome}",
        hint=hint,
    )


def find_backend(subject: str, named: str | None = None) -> tuple[Any, str]:
    """The one back end to use and where the choice came from (for messages): ``named``,
    ``$PYTHON_KEYRING_BACKEND``, ``keyringrc.cfg``, the platform's best, else keyring's
    discovery (never the chainer).  Not yet judged: see :func:`refusal`.

    :param subject: what asks (``the keyring store``), for messages.
    :raises ConfigError: ``named`` cannot be loaded.
    :raises StoreError: the back end of ``$PYTHON_KEYRING_BACKEND`` or ``keyringrc.cfg``
        cannot be loaded.
    """
    backend, origin = _configured(subject, named)
    if backend is None:
        backend, origin = _platform_best(), DISCOVERED
    if backend_name(backend) == SECRET_SERVICE:
        backend = _closing_on_failure(backend)
    return backend, origin


def _configured(subject: str, named: str | None) -> tuple[Any, str]:
    import keyring.core

    if named is not None:
        try:
            return keyring.core.load_keyring(named), "the backend option"
        except Exception as exc:
            failure = type(exc).__name__
        unreachable = _unreachable(subject, named, "the backend option")
        if unreachable is not None:
            raise unreachable
        raise ConfigError(
            f"{subject}: the keyring back end {named} cannot be loaded ({failure})",
            hint="install the package that provides it, or remove the option",
        )
    for origin, load in (("$PYTHON_KEYRING_BACKEND", keyring.core.load_env),
                         (_CONFIG_FILE, keyring.core.load_config)):
        try:
            chosen = load()
        except Exception as exc:
            failure = type(exc).__name__
        else:
            if chosen is None:
                continue
            return chosen, origin
        # Raised outside the except block: nothing keeps keyring's exception alive.
        name = _configured_name(origin)
        unreachable = _unreachable(subject, name, origin)
        if unreachable is not None:
            raise unreachable
        raise StoreError(
            f"{subject}: the keyring back end {name or '(unreadable)'} named by {origin} "
            f"cannot be loaded ({failure})",
            hint="fix or remove that setting",
        )
    return None, DISCOVERED


_CONFIG_FILE = "keyring's configuration file (keyringrc.cfg)"
#: keyring's back ends that talk to the Secret Service over the D-Bus session bus.
_SECRET_SERVICE_BACKENDS = frozenset((SECRET_SERVICE, "keyring.backends.libsecret.Keyring"))


def _configured_name(origin: str) -> str | None:
    """The back end ``$PYTHON_KEYRING_BACKEND`` or ``keyringrc.cfg`` names, read as keyring
    reads it (for messages); None when it cannot be read."""
    import os

    if origin != _CONFIG_FILE:
        return os.environ.get("PYTHON_KEYRING_BACKEND", "").strip() or None
    import configparser

    from keyring.util import platform_

    config = configparser.RawConfigParser()
    try:
        config.read(platform_.config_root() / "keyringrc.cfg", encoding="utf-8")
        return config.get("backend", "default-keyring").strip() or None
    except (OSError, ValueError, configparser.Error):
        return None


def _unreachable(subject: str, name: str | None, origin: str) -> StoreError | None:
    """The error for a Secret Service back end, named by ``origin``, that cannot be loaded
    because the Secret Service cannot be reached now; None for any other back end or
    failure (a missing package, a misspelled name)."""
    if name not in _SECRET_SERVICE_BACKENDS:
        return None
    why = secret_service_problem()
    if why is None:
        return None
    return StoreError(
        f"{subject}: the Secret Service, which {origin} names as the keyring back end "
        f"({name}), is not reachable: {why}",
        hint=UNREACHABLE_HINT,
    )


#: What to do when the Secret Service cannot be reached.
UNREACHABLE_HINT = (
    "start it in your session: a Secret Service daemon (gnome-keyring-daemon "
    "--start --components=secrets, or KWallet) on the D-Bus session bus that "
    "DBUS_SESSION_BUS_ADDRESS names; a desktop login starts both, elsewhere run the "
    "program under `dbus-run-session` with the daemon started and unlocked in it.  "
    "`python -m keyring diagnose` shows what keyring sees")


def _platform_best() -> Any:
    """The viable trusted back end of highest priority for this platform, checked now (a
    Secret Service that started after keyring first looked is found too); when there is
    none, what keyring's own discovery finds (which is then refused, named)."""
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
    left out; keyring's fail back end when there is none."""
    import keyring.backend
    from keyring.backends import fail

    candidates = [backend for backend in keyring.backend.get_all_keyring()
                  if backend_name(backend) != CHAINER]
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
    """A Secret Service back end like ``found`` whose collection lookup closes its D-Bus
    connection when it fails (keyring's leaves it open when the collection is locked or
    absent: one socket per refused call)."""
    from keyring.backends import SecretService

    kind: Any = SecretService.Keyring
    own = kind()
    own.__dict__.update(found.__dict__)
    own.get_preferred_collection = lambda: _preferred_collection(own)
    return own


#: Seconds to wait for a person to answer the keyring's unlock prompt.
UNLOCK_WAIT = 30.0


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
            # A prompt on a desktop, dismissed at once without one; bounded, since a prompt
            # nobody answers (a locked screen, a job reaching the desktop's bus) would
            # otherwise hold the caller, and maybe a refresh lock, for ever.
            try:
                collection.unlock(timeout=UNLOCK_WAIT)
            except TimeoutError:
                raise KeyringLocked(
                    f"nobody answered the keyring's unlock prompt within {UNLOCK_WAIT:g} s"
                ) from None
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


def secret_service_problem() -> str | None:
    """Why the Secret Service back end cannot work now (on Linux), or None: no session bus,
    a bus that does not answer, no daemon serving the Secret Service on it, or keyring's own
    reason (a SecretStorage too old or missing)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from keyring.backends import SecretService

        SecretService.Keyring.priority  # noqa: B018 - raises when it cannot work
    except Exception as exc:
        found = short(exc)
    else:
        return None
    return _bus_problem() or found


def _bus_problem() -> str | None:
    """What is wrong between this process and the Secret Service on the session bus, in the
    user's words, or None when nothing is (or SecretStorage is not there to ask)."""
    import os

    try:
        import secretstorage
    except ImportError:
        return None
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip():
        return ("this process has no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set: "
                "no desktop session)")
    try:
        connection = secretstorage.dbus_init()
    except Exception as exc:
        return (f"the D-Bus session bus of DBUS_SESSION_BUS_ADDRESS does not answer "
                f"({type(exc).__name__}: {short(exc)})")
    with closing(connection):
        try:
            served = secretstorage.check_service_availability(connection)
        except Exception as exc:
            return f"the D-Bus session bus did not answer ({type(exc).__name__}: {short(exc)})"
    if not served:
        return ("no Secret Service daemon is running on the D-Bus session bus (nothing owns "
                "org.freedesktop.secrets, and the bus cannot start it)")
    return None


def short(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters (keyring's, SecretStorage's
    and jeepney's name D-Bus errors and paths, never a secret)."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
