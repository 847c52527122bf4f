"""A login that was started and not yet finished: the authorization URL and what the
redirect must match.

A platform whose own web server receives Webull's redirect keeps a :class:`PendingLogin`
between sending the user to :attr:`PendingLogin.url` and receiving the callback, usually in
the user's server-side web session.  It holds no credential of the platform (no client or app
secret), so it can be serialised with :meth:`PendingLogin.to_json`; it does hold the ``state``
(and the PKCE verifier when PKCE is on), which is what makes the redirect unforgeable, so keep
it on the server, not in a cookie the browser can read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
from brokerauth.toolkit.converter import make_converter
from brokerauth.toolkit.oauth import Pkce, authorization_url, new_state

from brokerauth_webull_connect.settings import ConnectSettings

_FIELDS = ("profile", "state", "url", "redirect_uri", "created_at", "expires_at", "user",
           "code_verifier")


@attrs.frozen(repr=False)
class PendingLogin:
    """One started login (see the module docstring for how to keep it)."""

    #: The profile whose settings the login uses and the token is stored for.
    profile: str
    state: str = attrs.field(repr=False)
    #: Where to send the user's browser (carries ``state``, so it is not shown in ``repr``).
    url: str = attrs.field(repr=False)
    #: The redirect URI sent in the authorization request (the registered one).
    redirect_uri: str
    created_at: datetime
    #: After this, :func:`~brokerauth_webull_connect.complete` refuses the callback.
    expires_at: datetime
    #: The identity to store the token under; ``None``: Webull's ``identity_id`` for the user.
    user: str | None = None
    code_verifier: str | None = attrs.field(default=None, repr=False)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times as ISO 8601 in UTC)."""
        converter = make_converter()
        return {name: converter.unstructure(getattr(self, name)) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingLogin:
        """The inverse of :meth:`to_dict`; a ``ValueError`` says what is wrong (never a value)."""
        if not isinstance(data, Mapping) or set(data) - set(_FIELDS):
            raise ValueError("not a saved Webull Connect login (unexpected fields)")
        try:
            pending: PendingLogin = make_converter().structure(dict(data), cls)
        except Exception:
            # cattrs' messages can quote values, and a state is not for logs.
            raise ValueError("not a saved Webull Connect login (missing or mistyped "
                             "fields)") from None
        return pending

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PendingLogin:
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not a saved Webull Connect login (not JSON)") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        user = f", user={self.user!r}" if self.user is not None else ""
        return (f"PendingLogin(profile={self.profile!r}{user}, "
                f"expires_at={self.expires_at.isoformat()})")

    __str__ = __repr__


def new_pending(
    settings: ConnectSettings, *, profile: str, user: str | None, now: datetime
) -> PendingLogin:
    """Start a login: a fresh ``state`` (and PKCE pair when the profile asks for one) and the
    authorization URL (``response_type=code``, ``client_id``, ``scope``, ``state``,
    ``redirect_uri``)."""
    state = new_state()
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "scope": settings.scope,
        "state": state,
        "redirect_uri": settings.redirect_uri,
    }
    verifier = None
    if settings.pkce:
        pair = Pkce.create()
        verifier = pair.verifier
        params["code_challenge"] = pair.challenge
        params["code_challenge_method"] = pair.method
    return PendingLogin(
        profile=profile,
        state=state,
        url=authorization_url(settings.authorize_url, params),
        redirect_uri=settings.redirect_uri,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.login_timeout),
        user=user,
        code_verifier=verifier,
    )
