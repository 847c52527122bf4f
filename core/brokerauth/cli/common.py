"""What several commands share: opening a session the way the command line does."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from brokerauth.engine.sessions import Session


def add_profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="the profile's name (see `brokerauth profiles`)")
    parser.add_argument("--user", help="the identity (platform user) to act for")


def open_session(
    args: argparse.Namespace, *, browser: bool = True, login: bool = False
) -> Session:
    """A session for the command's profile. Only ``brokerauth login`` (``login``), or a
    command run at a terminal, may start a login that needs the person; any other run (cron,
    a service, a pipe) fails at once with the command to run instead of waiting for no one."""
    from brokerauth.cli.terminal import TerminalInteraction
    from brokerauth.contract.interaction import has_terminal
    from brokerauth.engine.api import session

    return session(
        args.profile,
        user=args.user,
        profiles=args.profiles,
        interaction=TerminalInteraction(open_browser=browser),
        interactive=login or has_terminal(),
    )


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"
