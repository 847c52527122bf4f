"""The entry point users call: ``brokerauth.session("profile")``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from brokerauth.contract.clock import Clock, SystemClock
from brokerauth.contract.interaction import Interaction, LogInteraction, NoOneThere, has_terminal
from brokerauth.engine.binding import ProfileBinding, check_secrets
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile, load_profiles
from brokerauth.engine.resolve import ResolvedProfile, resolve_profile
from brokerauth.engine.transport import Transport

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import timedelta

    from brokerauth.engine.grants import Grant
    from brokerauth.engine.horizons import Horizon
    from brokerauth.engine.sessions import Session


def resolve(
    profile: str | Profile,
    *,
    profiles: str | os.PathLike[str] | None = None,
    host: PluginHost | None = None,
) -> tuple[ResolvedProfile, PluginHost]:
    """Find a profile by name (or take one built in code) and bind it to its plugins."""
    if isinstance(profile, str):
        profile = load_profiles(profiles).get(profile)
    host = host or PluginHost.create()
    return resolve_profile(profile, host), host


def session(
    profile: str | Profile,
    *,
    user: str | None = None,
    profiles: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    interaction: Interaction | None = None,
    host: PluginHost | None = None,
    transport: Transport | None = None,
    interactive: bool | None = None,
) -> Session:
    """An authenticated session for ``profile`` (a name, or a :class:`Profile` built in code).

    :param user: the identity to act for (a platform's user); the profile's ``identity`` if
        not given.
    :param profiles: a profiles file; else ``$BROKERAUTH_PROFILES``, ``./brokerauth.toml``,
        then the user config folder.
    :param interaction: how token flows talk to the person (the command line's draws
        countdowns); by default their messages are logged.
    :param interactive: whether a person can act in this run. ``False``: a flow that needs one
        (a browser login, an SMS code) raises
        :class:`~brokerauth.contract.errors.LoginRequiredError` at once, naming the command to run.
        ``True``: flows wait for the person. ``None`` (the default): ``True`` when ``interaction``
        is given or standard input is a terminal.
    :raises ~brokerauth.contract.errors.ConfigError: the profile is wrong or a secret is missing;
        raised before any network call.
    """
    from brokerauth.engine.sessions import Session  # offline work (open_binding) does without it

    binding = open_binding(
        profile, profiles=profiles, user=user, clock=clock, host=host, transport=transport,
        interaction=interaction, interactive=interactive,
    )
    return Session(binding, binding.resolved.profile.options)


def open_binding(
    profile: str | Profile,
    *,
    profiles: str | os.PathLike[str] | None = None,
    user: str | None = None,
    clock: Clock | None = None,
    host: PluginHost | None = None,
    transport: Transport | None = None,
    interaction: Interaction | None = None,
    interactive: bool | None = None,
) -> ProfileBinding:
    """A profile bound to its plugins, checked, before any network call (what a session
    runs on; also used alone for offline work such as ``brokerauth sign``)."""
    resolved, host = resolve(profile, profiles=profiles, host=host)
    check_secrets(resolved)
    options = resolved.profile.options
    identity = user or options.identity
    if interactive is None:
        interactive = interaction is not None or has_terminal()
    if not interactive:
        interaction = NoOneThere(profile=resolved.name, identity=identity,
                                 default_identity=options.identity)
    return ProfileBinding(
        resolved,
        host,
        clock=clock or SystemClock(),
        transport=transport or Transport(timeout=options.timeout),
        interaction=interaction or LogInteraction(),
        identity=identity,
    )


def horizon(
    profile: str | Profile,
    *,
    user: str | None = None,
    profiles: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    host: PluginHost | None = None,
) -> Horizon:
    """Every end of the stored credential of ``profile`` (for ``user``), offline: until when
    it works if nothing runs, and by when a person must act even if ``brokerauth keepalive``
    runs (see :mod:`brokerauth.engine.horizons`).  No credential stored: ``login_needed``."""
    from brokerauth.engine.horizons import horizon_of

    binding = open_binding(profile, profiles=profiles, user=user, clock=clock, host=host,
                           interactive=False)
    return horizon_of(binding.load(), binding.clock.now())


def users(
    profile: str | Profile,
    *,
    expiring: timedelta | None = None,
    profiles: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    host: PluginHost | None = None,
) -> Iterator[Grant]:
    """Every identity ``profile`` holds a credential for, with its state and horizons (only
    those ending within ``expiring``, when given); see :mod:`brokerauth.engine.grants`.

    :raises ~brokerauth.contract.errors.StoreError: the profile's store cannot list."""
    from brokerauth.engine.grants import grants

    binding = open_binding(profile, profiles=profiles, clock=clock, host=host,
                           interactive=False)
    return grants(binding, expiring=expiring)
