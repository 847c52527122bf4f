"""The grant registry: every identity a profile holds a credential for, with its state and
horizons — what a platform acting for many users asks before the users notice.

Keys come from the store's ``list_tokens`` hook (:mod:`brokerauth.engine.registry`); each
token is then read as a session would read it, through one binding per profile (not one per
identity: opening a profile is the expensive part), and judged offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from brokerauth.contract.errors import BrokerAuthError
from brokerauth.engine.horizons import Horizon, horizon_of
from brokerauth.engine.refresh import token_state

if TYPE_CHECKING:
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.binding import ProfileBinding


@attrs.frozen
class Grant:
    """One identity's credential, as it stands now (no secret in it)."""

    profile: str
    identity: str
    #: ``fresh``, ``refreshing soon``, ``expired`` (a refresh renews it), ``needs login``, or
    #: ``error`` (the entry could not be read: see ``problem``).
    state: str
    horizon: Horizon
    #: What a person runs to log this identity in again.
    login_command: str
    problem: str | None = None
    #: What the broker said about the login (``Token.facts``).
    facts: dict[str, str] = attrs.field(factory=dict)

    @property
    def needs_person(self) -> bool:
        """Only a person can make it work again, now."""
        return self.state in ("needs login", "error") or self.horizon.login_needed


def grants(binding: ProfileBinding, *, expiring: timedelta | None = None) -> Iterator[Grant]:
    """Every stored identity of ``binding``'s profile (sorted), or with ``expiring`` only
    those with an end inside that window or past it."""
    from brokerauth.engine.registry import stored_keys

    options = binding.resolved.profile.options
    identities = sorted({key.identity for key in stored_keys(binding)})
    for start in range(0, len(identities), LOAD_BATCH):
        batch = identities[start:start + LOAD_BATCH]
        loaded = binding.load_many(batch)
        for identity in batch:
            yield from _grant(binding, identity, loaded.get(identity), options, expiring)


#: Identities loaded per call to the store: few round trips for a platform's many users,
#: and no more of their tokens in memory at once than a page of them.
LOAD_BATCH = 500


def _grant(binding: ProfileBinding, identity: str, loaded: Token | BrokerAuthError | None,
           options: Any, expiring: timedelta | None) -> Iterator[Grant]:
    one = binding.for_identity(identity)
    now = one.clock.now()
    if isinstance(loaded, BrokerAuthError):
        yield Grant(binding.resolved.name, identity, "error", horizon_of(None, now),
                    one.login_command, problem=loaded.message)
        return
    token = loaded
    ends = horizon_of(token, now)
    if expiring is not None and not ends.due(now, expiring):
        return
    state, _ = token_state(token, now, advisory=options.refresh_advisory,
                           mandatory=options.refresh_mandatory)
    yield Grant(binding.resolved.name, identity, state, ends, one.login_command,
                facts=token.facts() if token else {})
