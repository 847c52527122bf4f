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
    parser.add_argument("--replace", action="store_true",
                        help="replace a stored token issued for another address than the "
                        "profile's (asked at a terminal; it stays valid where it was issued)")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.contract.errors import IssuedElsewhereError

    with open_session(args, browser=not args.no_browser, login=True) as session:
        if args.notify:
            _relay(session)
        replaced = None
        try:
            session.binding.load()
        except IssuedElsewhereError as exc:
            # Replaced, it is gone from here while still valid where it was issued: only
            # with the person's word (or --replace), never because a profile changed.
            if not (args.replace or _confirmed(exc)):
                raise IssuedElsewhereError(
                    exc.message, issued_for=exc.issued_for,
                    hint="if the profile's new address is right, run "
                    f"`{session.binding.login_command} --replace`; the token stays valid where "
                    "it was issued until it expires (revoke it there if it may have "
                    "leaked)") from None
            replaced = exc.issued_for
        token = session.login(replace_elsewhere=replaced is not None)
        now = session.binding.clock.now()
        left = token.seconds_left(now) if token else None
        out.data({"profile": session.profile, "identity": session.identity,
                  "token": token is not None, "expires_at": token.expires_at if token else None,
                  "seconds_left": left, "replaced_token_issued_for": replaced})
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


def _confirmed(exc: Exception) -> bool:
    """Whether the person at the terminal agrees to replace the token issued elsewhere; no
    one at a terminal (a script, a pipe) agrees to nothing."""
    import sys

    from brokerauth.cli.output import shown

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(shown(str(exc)), file=sys.stderr)  # names from files: shown, never obeyed
    try:
        answer = input("Replace it with a token for the profile's address? It stays valid "
                       "where it was issued. [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
