"""``brokerauth logout PROFILE``: revoke the token where the broker can, then delete it."""

from __future__ import annotations

import argparse

from brokerauth.cli import exit_code_of
from brokerauth.cli.common import add_profile_argument, open_session
from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument("--no-revoke", action="store_true",
                        help="only delete the stored token; do not ask the broker to revoke it")


def run(args: argparse.Namespace, out: Output) -> int:
    with open_session(args, browser=False) as session:
        result = session.logout(revoke=not args.no_revoke)
    out.data({"profile": args.profile, "removed": result.removed, "revoked": result.revoked,
              "problem": result.problem, "revocation_failed": result.failed})
    if not result.removed:
        out.line(f"{args.profile}: no token was stored")
        return 0
    if result.revoked:
        out.line(f"{args.profile}: token revoked by the broker and deleted")
    elif result.problem:
        out.line(f"{args.profile}: token deleted, not revoked: {result.problem}")
    elif args.no_revoke:
        out.line(f"{args.profile}: token deleted, not revoked (--no-revoke): it stays valid at "
                 "the broker until it expires")
    else:
        out.line(f"{args.profile}: token deleted (the broker offers no revocation; it will "
                 "expire on its own)")
    if result.error is not None:
        # Deleted here, perhaps still valid at the broker: the revocation asked for did not
        # happen, which a script must not take for success.
        print("  fix: it may stay valid at the broker until it expires; revoke it in the "
              "broker's own settings if it may have leaked", file=out.errors)
        return exit_code_of(result.error)
    return 0
