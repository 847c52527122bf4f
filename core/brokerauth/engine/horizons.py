"""Every end a credential has, and the two that matter to a person.

A token may carry four ends (see :class:`~brokerauth.contract.tokens.Token`):

* the access token's expiry — refreshed automatically while something can refresh it;
* the refresh token's expiry, when the broker gives one;
* an idle limit: it dies after ``idle_timeout`` seconds without a successful request (Webull's
  2FA token, 15 days), counted from the last use sessions record;
* a hard limit no refresh or use pushes back (a Connect authorization, 15 days after it was
  given, however often its refresh token rotates).

From them, :func:`horizon_of` derives what ``brokerauth status``, ``users`` and ``keepalive``
show and act on:

* **works until** — the end if nothing at all runs (no session, no keep-alive): what stops a
  bot that is started then;
* **a person must act by** — the end keep-alive cannot push back (the hard limit); ``None``
  when keep-alive keeps it alive indefinitely, as far as the broker says.

A credential whose refresh was refused for good (a dead grant recorded by
:mod:`brokerauth.engine.failures`) needs a person now, whatever its times say.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from brokerauth.contract.tokens import Token
from brokerauth.engine import failures


@attrs.frozen
class Horizon:
    """The ends of one stored credential, as known now (all aware UTC, or ``None``)."""

    #: The access token's expiry, moved by use for a credential with an idle limit.
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    #: The idle limit's end: the last recorded use plus the idle timeout.
    idle_expires_at: datetime | None
    hard_expires_at: datetime | None
    last_used_at: datetime | None
    #: The end if nothing runs; ``None``: none known.
    works_until: datetime | None
    #: The end keep-alive cannot push back; ``None``: keep-alive suffices.
    must_act_by: datetime | None
    #: Only a person can make it work again (the grant was refused, or it has ended).
    login_needed: bool

    def due(self, now: datetime, within: timedelta) -> bool:
        """Whether an end is inside ``within`` of ``now`` (or passed)."""
        limit = now + within
        return self.login_needed or any(
            end is not None and end <= limit for end in (self.works_until, self.must_act_by)
        )

    def person_due(self, now: datetime, within: timedelta) -> bool:
        """Whether a person must act inside ``within`` of ``now`` (or already)."""
        return self.login_needed or (
            self.must_act_by is not None and self.must_act_by <= now + within)


NO_TOKEN = Horizon(None, None, None, None, None, None, None, login_needed=True)


def horizon_of(token: Token | None, now: datetime) -> Horizon:
    """The ends of ``token`` at ``now`` (:data:`NO_TOKEN` for none: a login is needed)."""
    if token is None:
        return NO_TOKEN
    idle_end = None
    if token.idle_timeout is not None:
        since = token.last_used_at or token.issued_at
        if since is not None:
            idle_end = since + timedelta(seconds=token.idle_timeout)
    access_end = token.expires_at
    if idle_end is not None:
        # The server moves the expiry forward with each use: the later of what it last said
        # and what the recorded use implies.
        access_end = idle_end if access_end is None else max(access_end, idle_end)
    refresh_end = token.refresh_expires_at if token.refresh_token else None
    # With a refresh token, the access token's expiry is only the next refresh.
    ends = [refresh_end] if token.refresh_token else [access_end]
    ends.append(token.hard_expires_at)
    known = [end for end in ends if end is not None]
    works_until = min(known) if known else None
    failure = failures.failure_of(token)
    dead = failure is not None and failure.kind == failures.DEAD
    over = works_until is not None and works_until <= now
    return Horizon(
        access_expires_at=access_end,
        refresh_expires_at=refresh_end,
        idle_expires_at=idle_end,
        hard_expires_at=token.hard_expires_at,
        last_used_at=token.last_used_at,
        works_until=works_until,
        must_act_by=now if dead else token.hard_expires_at,
        login_needed=dead or over,
    )
