"""``brokerauth status [PROFILE]``: each profile's token state and time left, offline: the
stored token's, else what the profile's flow gives without a login (no token at all, or one
configured in the profile)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from brokerauth.cli.common import add_profile_argument, moment_text, seconds_text
from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser, optional=True, help="only this profile (default: all)",
                         user="the identity (platform user) to look at")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.cli.offline_token import flow_token
    from brokerauth.contract.errors import (
        BrokerAuthError,
        IssuedElsewhereError,
        LoginRequiredError,
    )
    from brokerauth.contract.scrub import scrub
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.horizons import horizon_of
    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import load_profiles
    from brokerauth.engine.refresh import token_state

    profiles = load_profiles(args.profiles)
    names = [args.profile] if args.profile else sorted(profiles.profiles)
    host = PluginHost.create()
    rows: list[dict[str, Any]] = []
    for name in names:
        profile = profiles.get(name)
        row: dict[str, Any] = {"profile": name, "broker": profile.broker,
                               "file": profile.source}
        try:
            binding = open_binding(profile, user=args.user, host=host)
            token = binding.load()
            needed = True
            if token is None:
                # What a login would give, as far as it is known offline: login says a
                # profile whose flow makes no token needs none, and so must this.
                try:
                    token = flow_token(binding)
                    needed = token is not None
                except LoginRequiredError:
                    pass
            options = profile.options
            state, left = token_state(token, binding.clock.now(), needed=needed,
                                      advisory=options.refresh_advisory,
                                      mandatory=options.refresh_mandatory)
            now = binding.clock.now()
            ends = horizon_of(token, now) if token is not None else None
            action = "login" if state == "needs login" else "refresh"
            row.update(identity=binding.identity, state=state, seconds_left=left,
                       command=binding.command(action),
                       expires_at=token.expires_at if token else None,
                       refresh_token=bool(token and token.refresh_token),
                       works_until=ends.works_until if ends else None,
                       must_act_by=ends.must_act_by if ends else None,
                       last_used_at=ends.last_used_at if ends else None,
                       facts=token.facts() if token else {})
        except IssuedElsewhereError as exc:
            # A login for the profile's address is the way out, as for any missing token.
            row.update(identity=args.user or profile.options.identity, state="needs login",
                       command=f"{binding.command('login')} --replace", error=exc.message,
                       hint=exc.hint)
        except BrokerAuthError as exc:
            row.update(identity=args.user or profile.options.identity, state="error",
                       error=exc.message, hint=exc.hint)
        rows.append(row)
    out.data({"profiles": rows})
    if not rows:
        out.line("no profiles; create one with `brokerauth init`")
    else:
        out.line(f"profiles from {profiles.source}")
    now = datetime.now(UTC)
    out.table(["profile", "broker", "identity", "state", "time left", "works until",
               "a person must act by"],
              [[r["profile"], r["broker"], r["identity"], r["state"],
                seconds_text(r.get("seconds_left")), moment_text(r.get("works_until"), now),
                moment_text(r.get("must_act_by"), now)] for r in rows])
    for row in rows:
        if row.get("facts") and not args.json:
            out.line(f"\n{row['profile']}:")
            width = max(map(len, row["facts"]))
            for key, value in sorted(row["facts"].items()):
                # From a server: one line, nothing that could draw on the terminal.
                out.line(f"  {scrub(key):<{width}}  {scrub(value)}")
        if row["state"] == "error":
            out.line(f"\n{row['profile']}: {row['error']}")
            if row.get("hint"):
                out.line(f"  fix: {row['hint']}")
        elif row["state"] in ("needs login", "expired") and not args.json:
            why = f"{row['error']}; " if row.get("error") else ""
            out.line(f"\n{row['profile']}: {why}run `{row['command']}`")
    states = {r["state"] for r in rows}
    return 2 if "error" in states else 3 if states & {"needs login"} else 0
