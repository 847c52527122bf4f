"""What happened to a credential, for the people who must know: the ``notify`` hook's event.

Sessions and ``brokerauth keepalive`` emit them; a notifier plugin (the built-in ``webhook``,
or any other) delivers them.  Each event is delivered once per credential generation and
kind, whichever process noticed it first (the record of it is kept in the token store, under
the same lock as a refresh), so four processes seeing one dead login make one message.

Nothing in an event is a secret: no token, no key; ``message`` has been through the core's
scrubber like every error message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

EventKind = Literal["expiring", "refreshed", "refresh_failed", "login_needed"]
EVENT_KINDS: tuple[EventKind, ...] = ("expiring", "refreshed", "refresh_failed", "login_needed")


@attrs.frozen
class CredentialEvent:
    """One thing that happened to the credential of ``profile`` for ``identity``.

    * ``expiring``: its horizon (``works_until`` or ``must_act_by``) is inside the window a
      ``keepalive`` was given;
    * ``refreshed``: a refresh (or a keep-alive action) pushed it back;
    * ``refresh_failed``: a refresh failed for a reason that may pass (the server was down);
    * ``login_needed``: only a person can make it work again; ``login_command`` (and
      ``login_url``, where the flow can make one) say how.
    """

    kind: EventKind
    profile: str
    identity: str
    broker: str
    #: When it was noticed (aware UTC).
    at: datetime
    #: Until when it works if nothing is done (``None``: no known end).
    works_until: datetime | None = None
    #: By when a person must act even if keep-alive runs (``None``: keep-alive suffices).
    must_act_by: datetime | None = None
    #: One line for a person (scrubbed).
    message: str = ""
    #: The command that fixes it, e.g. ``brokerauth login PROFILE --user ID``.
    login_command: str | None = None
    #: A link a person can open to log in, where the flow can make one.
    login_url: str | None = None
