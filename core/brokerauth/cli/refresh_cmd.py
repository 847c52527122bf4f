"""``brokerauth refresh PROFILE``: refresh the token now, whatever its windows say."""

from __future__ import annotations

import argparse

from brokerauth.cli.common import add_profile_argument, open_session, seconds_text
from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)


def run(args: argparse.Namespace, out: Output) -> int:
    with open_session(args, browser=False) as session:
        before = session.tokens.peek()
        token = session.refresh()
        left = token.seconds_left(session.binding.clock.now()) if token else None
        rotated = bool(before and token and before.refresh_token != token.refresh_token)
        out.data({"profile": session.profile, "identity": session.identity,
                  "refreshed": token is not None, "refresh_token_rotated": rotated,
                  "expires_at": token.expires_at if token else None, "seconds_left": left})
        if token is None:
            out.line(f"{session.profile}: this profile needs no token")
        else:
            out.line(f"{session.profile}: refreshed; valid for {seconds_text(left)}"
                     + ("; new refresh token stored" if rotated else ""))
    return 0
