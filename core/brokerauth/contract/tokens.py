"""The token value type and the key it is stored under.

A :class:`Token` is immutable: a refresh makes a new one, so a request signed with one token
can never carry a mix of two generations.  Secrets (access and refresh token) never appear in
``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

DEFAULT_IDENTITY = "default"
#: ``Token.extra`` keys the core writes (the origin a token was issued for, refresh failures)
#: start with this; the rest are the plugin's.
CORE_EXTRA_PREFIX = "brokerauth."
#: ``Token.extra`` key: the origin a stored token was issued for (the core sends a token to
#: no other; a store that cannot hold ``extra`` must keep this one beside the token).
ISSUED_FOR = CORE_EXTRA_PREFIX + "issued_for"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("token times must be aware datetimes (UTC)")
    return value


def _positive_or_none(_: Any, attribute: attrs.Attribute[float | None], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not 0 < value <= 10 * 366 * 86400):
        raise ValueError(f"{attribute.name} must be a number of seconds up to 10 years")


def _frozen_mapping(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen(repr=False)
class Token:
    """One generation of credentials issued by a broker."""

    access_token: str = attrs.field(repr=False)
    broker: str
    expires_at: datetime | None = attrs.field(default=None, converter=_aware)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    refresh_expires_at: datetime | None = attrs.field(default=None, converter=_aware)
    token_type: str = "Bearer"
    scope: str | None = None
    identity: str | None = None
    issued_at: datetime | None = attrs.field(default=None, converter=_aware)
    #: Broker-specific, non-secret facts (a 2FA status, a client id).
    extra: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping, eq=False,
                                          repr=False)
    #: Seconds of disuse after which the credential dies (Webull's 2FA token: 15 days); each
    #: successful use pushes that end back.  ``None``: use does not matter.
    idle_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)
    #: When a request last succeeded with it, as recorded (coarsely) by sessions; an idle
    #: horizon counts from here.
    last_used_at: datetime | None = attrs.field(default=None, converter=_aware, eq=False)
    #: The end no refresh or use can push back (Webull Connect's refresh tokens, 15 days
    #: after the login however often they rotate): a person must act before it.
    hard_expires_at: datetime | None = attrs.field(default=None, converter=_aware)

    def facts(self) -> dict[str, str]:
        """What the broker said about this login (``extra`` without the core's own
        ``brokerauth.`` records): what ``brokerauth status`` shows."""
        return {k: v for k, v in self.extra.items() if not k.startswith(CORE_EXTRA_PREFIX)}

    def expired(self, now: datetime, margin: timedelta = timedelta(0)) -> bool:
        """True when the token is expired at ``now`` (or within ``margin`` of it)."""
        return self.expires_at is not None and now >= self.expires_at - margin

    def refresh_expired(self, now: datetime) -> bool:
        """True when the refresh token is known to be past its own expiry, or absent."""
        if self.refresh_token is None:
            return True
        return self.refresh_expires_at is not None and now >= self.refresh_expires_at

    def seconds_left(self, now: datetime) -> float | None:
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()

    def replace(self, **changes: Any) -> Token:
        return attrs.evolve(self, **changes)

    def __repr__(self) -> str:
        expiry = self.expires_at.isoformat() if self.expires_at else "never"
        refresh = "yes" if self.refresh_token else "no"
        ident = f", identity={self.identity!r}" if self.identity else ""
        return f"Token(broker={self.broker!r}{ident}, expires_at={expiry}, refresh_token={refresh})"

    __str__ = __repr__


@attrs.frozen
class TokenKey:
    """Where a token lives in a store: one per profile and identity (a user of a platform)."""

    profile: str
    identity: str = DEFAULT_IDENTITY

    def __str__(self) -> str:
        return f"{self.profile}/{self.identity}"
