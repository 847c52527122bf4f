"""Telling people about a credential: events built from a binding and handed to its notifier.

The token manager gives a notice when a refresh succeeded, failed, or showed that only a
login helps (once per failure: see :mod:`brokerauth.engine.refresh`); ``keepalive`` gives
``expiring`` through :func:`tell_once`, which keeps a record in the token so four processes
noticing the same horizon send one message.  A profile without ``notify`` costs nothing here.
A notifier's failure is logged and never raised: a notification must not break a request.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from brokerauth.contract.clock import Clock
from brokerauth.contract.events import CredentialEvent, EventKind
from brokerauth.contract.interaction import Interaction, Waiting, logger, someone_present
from brokerauth.contract.scrub import scrub
from brokerauth.contract.tokens import CORE_EXTRA_PREFIX, Token
from brokerauth.engine.horizons import horizon_of
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.resolve import ResolvedProfile


class ProfileBinding(Protocol):
    """What telling needs of a :class:`brokerauth.engine.binding.ProfileBinding` (named
    here, not imported: the binding hands its notices to this module)."""

    resolved: ResolvedProfile
    host: PluginHost
    clock: Clock
    identity: str
    label: str

    @property
    def login_command(self) -> str: ...

    def load(self) -> Token | None: ...

    def save(self, token: Token) -> None: ...

    def lock(self, timeout: float) -> AbstractContextManager[bool]: ...

LOGGER = "brokerauth.engine.notices"
#: The longest message an event carries.
MESSAGE_LIMIT = 2000
#: ``Token.extra`` key prefix: which horizon an event of that kind was last given for.
TOLD = CORE_EXTRA_PREFIX + "told."


def event(binding: ProfileBinding, kind: EventKind, token: Token | None,
          message: str = "", login_url: str | None = None) -> CredentialEvent:
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
        # An instruction for the person (a relayed prompt) is kept whole; one line still.
        message=scrub(message, limit=MESSAGE_LIMIT) or "",
        login_command=binding.login_command if kind != "refreshed" else None,
        login_url=login_url,
    )


def tell(binding: ProfileBinding, kind: EventKind, token: Token | None,
         message: str = "", *, login_url: str | None = None) -> bool:
    """Deliver one event through the profile's notifier; ``False`` if it has none or the
    delivery failed (logged)."""
    notifier = binding.resolved.notifier
    if notifier is None:
        return False
    try:
        delivered = binding.host.notify(notifier.name,
                                        event(binding, kind, token, message, login_url),
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


class Relay:
    """An :class:`~brokerauth.contract.interaction.Interaction` that also sends what a login
    asks of the person through the profile's notifier, as ``login_needed`` events: the link
    to open (``login_url``) and each instruction (Webull's "confirm in the app" prompt), so
    the owner can act from a phone while the login waits on a server
    (``brokerauth login PROFILE --notify``).  Everything else is the wrapped interaction's."""

    def __init__(self, inner: Interaction, binding: ProfileBinding) -> None:
        self._inner = inner
        self._binding = binding

    @property
    def present(self) -> bool:
        return someone_present(self._inner)

    def say(self, message: str) -> None:
        self._inner.say(message)
        tell(self._binding, "login_needed", None, message)

    def open_url(self, url: str) -> None:
        self._inner.open_url(url)
        tell(self._binding, "login_needed", None, "open this link to log in", login_url=url)

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Waiting:
        return self._inner.waiting(message, deadline=deadline)

    def __getattr__(self, name: str) -> Any:
        # What else the wrapped interaction offers (its error for no one there, ...).
        return getattr(self._inner, name)
