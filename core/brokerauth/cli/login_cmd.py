"""``brokerauth login PROFILE``: run the profile's flow now and store the token."""

from __future__ import annotations

import argparse
from typing import Any

from brokerauth.cli.common import add_profile_argument, open_session, seconds_text
from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument("--no-browser", action="store_true",
                        help="print the authorization URL instead of opening a browser; when "
                        "the browser runs on another machine, paste the address it shows after "
                        "approving back here (standard input)")
    parser.add_argument("--notify", action="store_true",
                        help="also send the login link and each instruction through the "
                        "profile's notifier (notify = ...), to act from a phone")


def run(args: argparse.Namespace, out: Output) -> int:
    with open_session(args, browser=not args.no_browser, login=True) as session:
        if args.notify:
            _relay(session)
        token = session.login()
        now = session.binding.clock.now()
        left = token.seconds_left(now) if token else None
        out.data({"profile": session.profile, "identity": session.identity,
                  "token": token is not None, "expires_at": token.expires_at if token else None,
                  "seconds_left": left})
        if token is None:
            out.line(f"{session.profile}: this profile needs no token; requests are signed only")
        else:
            out.line(f"{session.profile}: logged in as {session.identity}; token valid for "
                     f"{seconds_text(left) if left is not None else 'an unknown time'}")
    return 0


def _relay(session: Any) -> None:
    from brokerauth.contract.errors import ConfigError
    from brokerauth.engine.notices import Relay

    binding = session.binding
    if binding.resolved.notifier is None:
        raise ConfigError(
            f"profile {session.profile!r} names no notifier to send the login through",
            hint='add notify = { name = "webhook", url = { env = "HOOK_URL" } } to the profile',
        )
    binding.interaction = Relay(binding.interaction, binding)
