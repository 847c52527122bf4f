"""``brokerauth users PROFILE [--expiring 3d]``: every identity the profile holds a credential
for, with its state, until when it works and by when a person must act — for a platform
acting for many users, to ask them to authorize again before their bots stop."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from brokerauth.cli.common import add_profile_argument, duration, moment_text
from brokerauth.cli.output import Output

#: Rows printed as a table; beyond, a count (``--json`` gives every one).
_SHOWN = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser, user=None, help="the profile whose identities to list")
    parser.add_argument("--expiring", type=duration, metavar="TIME",
                        help="only identities with an end within TIME (3d, 12h, ...) or past")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.contract.scrub import scrub
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.grants import grants

    binding = open_binding(args.profile, profiles=args.profiles, interactive=False)
    found = list(grants(binding, expiring=args.expiring))
    out.data({"profile": args.profile, "users": [
        {"identity": g.identity, "state": g.state, "works_until": g.horizon.works_until,
         "must_act_by": g.horizon.must_act_by, "last_used_at": g.horizon.last_used_at,
         "needs_person": g.needs_person, "login_command": g.login_command,
         "problem": g.problem, "facts": g.facts} for g in found]})
    now = datetime.now(UTC)
    window = "" if args.expiring is None else " ending soon"
    out.line(f"{args.profile}: {len(found)} identit{'y' if len(found) == 1 else 'ies'}{window}")
    if found:
        out.table(["identity", "state", "works until", "a person must act by"],
                  # Identities come from the store's names: shown as one printable line.
                  [[scrub(g.identity), g.state, moment_text(g.horizon.works_until, now),
                    moment_text(g.horizon.must_act_by, now)] for g in found[:_SHOWN]])
        if len(found) > _SHOWN:
            out.line(f"... and {len(found) - _SHOWN} more (--json lists all)")
    return 3 if any(g.needs_person for g in found) else 0
