"""Telling people about a credential: events built from a binding and handed to its notifier.

The token manager gives a notice when a refresh succeeded, failed, or showed that only a
login helps (once per failure: see :mod:`brokerauth.engine.refresh`); ``keepalive`` gives
``expiring`` through :func:`tell_once`, which keeps a record in the token so four processes
noticing the same horizon send one message.  A profile without ``notify`` costs nothing here.
A notifier's failure is logged and never raised: a notification must not break a request.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from brokerauth.contract.clock import Clock
from brokerauth.contract.events import CredentialEvent, EventKind
from brokerauth.contract.scrub import scrub
from brokerauth.contract.tokens import CORE_EXTRA_PREFIX, Token
from brokerauth.engine.horizons import horizon_of
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.resolve import ResolvedProfile
from brokerauth.toolkit.logs import logger


class ProfileBinding(Protocol):
    """What telling needs of a :class:`brokerauth.engine.binding.ProfileBinding` (named
    here, not imported: the binding hands its notices to this module)."""

    resolved: ResolvedProfile
    host: PluginHost
    clock: Clock
    identity: str
    label: str

    def load(self) -> Token | None: ...

    def save(self, token: Token) -> None: ...

    def lock(self, timeout: float) -> AbstractContextManager[bool]: ...

LOGGER = "brokerauth.engine.notices"
#: ``Token.extra`` key prefix: which horizon an event of that kind was last given for.
TOLD = CORE_EXTRA_PREFIX + "told."


def login_command(binding: ProfileBinding) -> str:
    """The command a person runs to log this profile and identity in again."""
    profile = binding.resolved.profile
    user = "" if binding.identity == profile.options.identity else f" --user {binding.identity}"
    return f"brokerauth login {profile.name}{user}"


def event(binding: ProfileBinding, kind: EventKind, token: Token | None,
          message: str = "") -> CredentialEvent:
    now = binding.clock.now()
    horizon = horizon_of(token, now)
    return CredentialEvent(
        kind=kind,
        profile=binding.resolved.name,
        identity=binding.identity,
        broker=binding.resolved.broker.id,
        at=now,
        works_until=horizon.works_until,
        must_act_by=horizon.must_act_by,
        message=scrub(message) or "",
        login_command=login_command(binding) if kind != "refreshed" else None,
    )


def tell(binding: ProfileBinding, kind: EventKind, token: Token | None,
         message: str = "") -> bool:
    """Deliver one event through the profile's notifier; ``False`` if it has none or the
    delivery failed (logged)."""
    notifier = binding.resolved.notifier
    if notifier is None:
        return False
    try:
        delivered = binding.host.notify(notifier.name, event(binding, kind, token, message),
                                        notifier.options, owner=notifier.owner)
    except Exception as exc:
        logger(LOGGER).warning("%s: the %s notifier failed on a %s event (%s)", binding.label,
                               notifier.name, kind, type(exc).__name__)
        return False
    if not delivered:
        logger(LOGGER).warning("%s: the %s notifier could not deliver a %s event",
                               binding.label, notifier.name, kind)
    return delivered


def tell_once(binding: ProfileBinding, kind: EventKind, about: str) -> bool:
    """Deliver ``kind`` unless it was already given for ``about`` (a horizon's time) by any
    process: the record is kept in the stored token, written under the store lock (not
    waited for: a held lock means another process is at it).  ``True`` if this call told."""
    if binding.resolved.notifier is None:
        return False
    key = TOLD + kind
    with binding.lock(0) as held:
        if not held:
            return False
        token = binding.load()
        if token is None or token.extra.get(key) == about:
            return False
        token = token.replace(extra={**token.extra, key: about})
        binding.save(token)
    return tell(binding, kind, token)
