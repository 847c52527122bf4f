"""Logging users in: the platform's way (its own web server receives the redirect) and the
desktop way (this program's loopback listener does).

A platform serving many users::

    from brokerauth_webull_connect import begin_login, complete, PendingLogin

    pending = begin_login("connect-prod")          # no network, no secret needed
    web_session["webull"] = pending.to_json()       # server-side; it holds the state
    redirect(pending.url)
    ...                                             # Webull redirects to your redirect_uri
    pending = PendingLogin.from_json(web_session.pop("webull"))
    token = complete(pending, request.url)          # checks state, exchanges, stores
    api = brokerauth.session("connect-prod", user=token.identity)

``complete`` files the token under Webull's ``identity_id`` for the user (or under
``user=``), so each user's session sends that user's token and no other.

A desktop script whose registered redirect is ``http://127.0.0.1:PORT/...``::

    api = brokerauth_webull_connect.login("connect-dev")   # browser, then a session

``login`` files the token under the ``identity_id`` too and returns a session for it;
``brokerauth.session("connect-dev")`` alone also logs in on first use, keeping the token
under the session's own identity (``default``), which suits a single user.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from urllib.parse import urlencode

from brokerauth.contract.clock import Clock, SystemClock
from brokerauth.contract.errors import ConfigError, ResponseError, StoreError
from brokerauth.contract.interaction import Interaction
from brokerauth.contract.tokens import Token
from brokerauth.engine.api import open_binding, resolve
from brokerauth.engine.api import session as open_session
from brokerauth.engine.binding import ProfileBinding
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.refresh import validate_token
from brokerauth.engine.sessions import Session
from brokerauth.engine.transport import Transport
from brokerauth.toolkit.oauth import AuthorizationError, parse_callback

from brokerauth_webull_connect import flow
from brokerauth_webull_connect.pending import PendingLogin, new_pending
from brokerauth_webull_connect.settings import ConnectSettings

log = logging.getLogger("brokerauth.webull_connect")

ProfileRef = str | Profile | Session
PathLike = str | os.PathLike[str]


def begin_login(
    profile: ProfileRef,
    *,
    user: str | None = None,
    profiles: PathLike | None = None,
    host: PluginHost | None = None,
    clock: Clock | None = None,
) -> PendingLogin:
    """Start a login: the URL to send the user's browser to, and what its redirect must match.

    No network call and no secret is needed, so a web front end can start logins without
    holding the client secret.

    :param profile: a profile name, a :class:`~brokerauth.engine.profiles.Profile` built in code, or
        a session (whose identity the token will then be stored under).
    :param user: the identity to store the token under; by default Webull's ``identity_id``
        for the user who signs in.
    :raises ~brokerauth.contract.errors.ConfigError: the profile is not a Webull Connect profile.
    """
    if isinstance(profile, Session):
        binding = profile.binding
        name, settings, clock = binding.resolved.name, binding.settings, clock or binding.clock
        if user is None:
            user = profile.identity
    else:
        resolved, _ = resolve(profile, profiles=profiles, host=host)
        name, settings = resolved.name, resolved.settings
    return new_pending(
        _connect_settings(settings, name), profile=name, user=user,
        now=(clock or SystemClock()).now(),
    )


def complete(
    pending: PendingLogin,
    callback: str | Mapping[str, str],
    *,
    user: str | None = None,
    profile: ProfileRef | None = None,
    profiles: PathLike | None = None,
    host: PluginHost | None = None,
    clock: Clock | None = None,
    transport: Transport | None = None,
) -> Token:
    """Finish a login from the redirect your server received: check the ``state`` (in
    constant time), exchange the code, store the token, return it.

    :param callback: the redirect's full URL, its query string, or its query parameters.
    :param user: the identity to store the token under; default ``pending.user``, else
        Webull's ``identity_id`` for the user (``token.identity``).  Open the user's session
        with ``brokerauth.session(profile, user=...)`` on that identity.
    :param profile: the profile (or a session of it) when ``pending.profile`` is not a name
        in the profiles file (a profile built in code).
    :raises ~brokerauth.toolkit.oauth.AuthorizationError: the user denied access, the state does not
        match, the login is older than ``login_timeout``, the code expired or was used, or the
        identity already holds another Webull user's token.  Start the login again.
    :raises ~brokerauth.contract.errors.BrokerError: Webull refused the platform's credentials.
    :raises ~brokerauth.contract.errors.ResponseError: Webull's answer is unusable; nothing stored.
    """
    binding, owned = _binding(profile if profile is not None else pending.profile,
                              profiles=profiles, host=host, clock=clock, transport=transport)
    try:
        if binding.resolved.name != pending.profile:
            raise ConfigError(
                f"this login was started for profile {pending.profile!r}, not "
                f"{binding.resolved.name!r}",
                hint="finish it with the profile it was started with",
            )
        _connect_settings(binding.settings, binding.resolved.name)
        if pending.expired(binding.clock.now()):
            raise AuthorizationError(
                "this login was started too long ago (login_timeout) and can no longer be "
                "finished",
                hint="start the login again",
            )
        query = callback if isinstance(callback, str) else urlencode(list(callback.items()))
        code = parse_callback(query, expected_state=pending.state)
        token = flow.exchange_code(binding.flow_context(None), code, pending)
        stored_under = _store(binding, pending, token, user)
    finally:
        if owned:
            binding.transport.close()
    if isinstance(profile, Session) and profile.identity == stored_under:
        profile.tokens.forget()  # its next request reads the new token
    return token


def login(
    profile: str | Profile,
    *,
    user: str | None = None,
    profiles: PathLike | None = None,
    host: PluginHost | None = None,
    clock: Clock | None = None,
    transport: Transport | None = None,
    interaction: Interaction | None = None,
) -> Session:
    """Log a user in through the loopback listener (the profile's ``redirect_uri`` must be
    ``http://127.0.0.1:PORT/...`` or ``http://localhost:PORT/...``) and return a session
    acting for them.

    The token is filed under ``user`` or else Webull's ``identity_id``, which is the
    returned session's identity: later, ``brokerauth.session(profile, user=identity)``.

    :raises ~brokerauth.contract.errors.ConfigError: the redirect URI is not a loopback one (use
        :func:`begin_login` and :func:`complete` from your web server instead).
    :raises ~brokerauth.contract.errors.LoginRequiredError: no approval arrived within
        ``login_timeout``, or the approval was refused.
    """
    binding = open_binding(profile, profiles=profiles, host=host, clock=clock,
                           transport=transport, interaction=interaction)
    name = binding.resolved.name
    settings = _connect_settings(binding.settings, name)
    if not settings.loopback:
        binding.transport.close()
        raise ConfigError(
            f"profile {name!r}: redirect_uri does not lead back to this machine, so this "
            "program cannot receive the login",
            hint="register and configure an http://127.0.0.1:PORT/callback redirect, or "
            "finish logins on your web server with begin_login() and complete()",
        )
    pending = new_pending(settings, profile=name, user=user, now=binding.clock.now())
    try:
        code = flow.wait_for_code(settings, pending, binding.interaction)
        token = flow.exchange_code(binding.flow_context(None), code, pending)
        identity = _store(binding, pending, token, user)
    except BaseException:
        binding.transport.close()
        raise
    return open_session(binding.resolved.profile, user=identity, host=binding.host,
                        clock=binding.clock, transport=binding.transport,
                        interaction=binding.interaction)


# -- internals -----------------------------------------------------------------------------
def _binding(
    profile: ProfileRef,
    *,
    profiles: PathLike | None,
    host: PluginHost | None,
    clock: Clock | None,
    transport: Transport | None,
) -> tuple[ProfileBinding, bool]:
    """A binding to exchange codes with, and whether it is ours to close."""
    if isinstance(profile, Session):
        return profile.binding, False
    binding = open_binding(profile, profiles=profiles, host=host, clock=clock,
                           transport=transport)
    return binding, transport is None


def _store(binding: ProfileBinding, pending: PendingLogin, token: Token,
           user: str | None) -> str:
    """File ``token`` under its identity (see :func:`complete`); return that identity."""
    explicit = user is not None
    target = user if user is not None else pending.user or token.identity
    if not target:
        raise ResponseError(
            "Webull's answer names no identity_id, so the token cannot be filed under its "
            "user; nothing was stored",
            hint="pass user= to name the identity to store it under",
        )
    validate_token(token, f"{binding.resolved.name}/{target}")
    if target == binding.identity:
        keeper = binding
    else:
        keeper = open_binding(binding.resolved.profile, user=target, host=binding.host,
                              clock=binding.clock, transport=binding.transport,
                              interaction=binding.interaction)
    timeout = binding.resolved.profile.options.lock_timeout
    # Under the store's lock, so a refresh running in another process for the same user
    # sees the old token or the new one, never loses one of them.
    with keeper.lock(timeout) as held:
        if not held:
            raise StoreError(
                f"{keeper.label}: another process has held the token lock for {timeout:.0f} s",
                hint="check for a stuck process using the same token store, then log in again",
            )
        flow.admit_identity(target, keeper.load(), token, explicit=explicit)
        keeper.save(token)
    log.info("%s: stored the token of a new Webull Connect login", keeper.label)
    return target


def _connect_settings(settings: object, profile: str) -> ConnectSettings:
    if not isinstance(settings, ConnectSettings):
        raise ConfigError(
            f"profile {profile!r} is not a Webull Connect profile",
            hint='use a profile with broker = "webull_connect"',
        )
    return settings
