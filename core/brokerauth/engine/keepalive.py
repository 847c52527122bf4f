"""Keeping credentials alive without a person: what ``brokerauth keepalive`` does for each one.

For a stored credential whose horizon (:mod:`brokerauth.engine.horizons`) falls inside the
window, the cheapest action that pushes it back is its flow's refresh, forced, through the
token manager — so it is single-flight with every running session and process sharing the
store: a Webull 2FA token is checked and renewed, a Connect or Futu OAuth token refreshed, a
Futu legacy token renewed with ``refresh_access_token``.  What no refresh pushes back (a hard
limit, a refused grant) is reported with the command a person must run, and told once to the
profile's notifier (``expiring``; a refused refresh is told by the token manager itself as
``login_needed``).  A credential refreshed within the last hour is not refreshed again.
Nothing stored means nothing to keep: ``brokerauth status`` says whether a login is needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import attrs

from brokerauth.contract.errors import BrokerAuthError, LoginRequiredError
from brokerauth.engine.horizons import horizon_of
from brokerauth.engine.notices import tell_once

if TYPE_CHECKING:
    from brokerauth.engine.binding import ProfileBinding

Action = Literal["none", "refreshed", "person", "error"]
#: A credential refreshed this recently is not refreshed again: what a refresh can push back,
#: that one did (so keepalive runs that overlap, or follow each other, refresh once).
RECENT = timedelta(hours=1)


@attrs.frozen
class KeptAlive:
    """What was due for one credential and what was done."""

    profile: str
    identity: str
    #: ``none``: nothing due (or nothing stored); ``refreshed``: pushed back; ``person``: a
    #: person must act (``command``), by ``must_act_by`` or now; ``error``: see ``error``.
    action: Action
    works_until: datetime | None = None
    must_act_by: datetime | None = None
    #: Whether a refresh was done (also when a person must act all the same).
    refreshed: bool = False
    message: str = ""
    command: str | None = None
    error: BrokerAuthError | None = attrs.field(default=None, eq=False, repr=False)


def keep_alive(binding: ProfileBinding, within: timedelta) -> KeptAlive:
    """Push back ``binding``'s credential if an end is inside ``within`` (see the module).

    Open ``binding`` without a person (``interactive=False``): a keep-alive that needs one
    reports it instead of waiting."""
    from brokerauth.engine.sessions import Session

    base = KeptAlive(binding.resolved.name, binding.identity, "none")
    command = binding.login_command
    try:
        token = binding.load()
        if token is None:
            return attrs.evolve(base, message="nothing stored")
        now = binding.clock.now()
        ends = horizon_of(token, now)
        base = attrs.evolve(base, works_until=ends.works_until, must_act_by=ends.must_act_by)
        if ends.must_act_by is not None and ends.must_act_by <= now:
            # A refusal on record, or an end nothing pushes back: asking again would only
            # repeat it.
            why = ("the broker refused the credential" if ends.hard_expires_at is None
                   or ends.hard_expires_at > now else "its authorization has ended")
            return attrs.evolve(base, action="person", command=command,
                                message=f"{why}; only a login helps")
        if not ends.due(now, within):
            return base
        recent = token.issued_at is not None and now - token.issued_at < RECENT
        if ends.works_until is not None and ends.works_until <= now + within and not recent:
            session = Session(binding, binding.resolved.profile.options)
            try:
                token = session.refresh()
            except LoginRequiredError as exc:
                return attrs.evolve(base, action="person", command=command, message=exc.message)
            finally:
                session.close()
            now = binding.clock.now()
            ends = horizon_of(token, now)
            base = attrs.evolve(base, action="refreshed", refreshed=True,
                                works_until=ends.works_until, must_act_by=ends.must_act_by)
        if ends.person_due(now, within):
            if ends.must_act_by is not None:
                tell_once(binding, "expiring", ends.must_act_by.isoformat())
            return attrs.evolve(base, action="person", command=command,
                                message="the authorization ends then, however often it is "
                                "refreshed")
        return base
    except BrokerAuthError as exc:
        return attrs.evolve(base, action="error", message=exc.message, error=exc)
