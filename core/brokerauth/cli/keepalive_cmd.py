"""``brokerauth keepalive [PROFILE ...] [--all-users] [--within 3d]``: for cron or a systemd
timer. Each stored credential whose horizon (:mod:`brokerauth.engine.horizons`) falls inside the
window gets the cheapest action that pushes it back — its flow's refresh, single-flight with any
running session (a Webull 2FA token's check and renewal, a Connect or Futu refresh, Futu's
``refresh_access_token``) — and what no refresh can push back is reported with the command a
person must run.

Quiet when nothing is due. Exit codes: 0 nothing was due; 10 something was due and was pushed
back; 3 a person must act (each one listed with its command); 2 or 4 a profile or the broker
failed. Running it twice does nothing more than running it once.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from brokerauth.cli.common import duration, moment_text
from brokerauth.cli.output import Output

if TYPE_CHECKING:
    from brokerauth.engine.binding import ProfileBinding
    from brokerauth.engine.pluginhost import PluginHost

EXIT_REFRESHED = 10
DEFAULT_WITHIN = timedelta(days=3)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", nargs="*", help="only these profiles (default: all)")
    # -p as every other command takes it (here a repeatable one): not ``profile_option``,
    # whose commands act on exactly one profile, settled from $BROKERAUTH_PROFILE too.
    parser.add_argument("-p", "--profile", dest="profile_options", action="append",
                        default=[], metavar="PROFILE",
                        help="only this profile (instead of the argument; may be repeated)")
    parser.add_argument("--all-users", action="store_true",
                        help="every identity stored for each profile, not only the default one")
    parser.add_argument("--within", type=duration, default=DEFAULT_WITHIN, metavar="TIME",
                        help="act on credentials whose horizon is this close: 3d, 12h, 90m "
                        "(default 3d)")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.cli import exit_code_of
    from brokerauth.contract.errors import BrokerAuthError
    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import load_profiles

    profiles = load_profiles(args.profiles)
    names = list(dict.fromkeys([*args.profile, *args.profile_options])) or sorted(
        profiles.profiles)
    host = PluginHost.create()
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            bindings = _bindings(profiles.get(name), host, all_users=args.all_users)
        except BrokerAuthError as exc:
            rows.append({"profile": name, "identity": None, "action": "error",
                         "message": exc.message, "hint": exc.hint, "exit": exit_code_of(exc)})
            continue
        rows.extend(_keep(binding, args.within) for binding in bindings)
    out.data({"credentials": rows})
    for row in rows:
        _describe(row, out)
    return _exit_code(rows)


def _bindings(profile: Any, host: PluginHost, *, all_users: bool) -> Iterator[ProfileBinding]:
    """The profile's binding for its default identity, or for each one stored: one profile
    resolved, however many identities (never a person: a keep-alive reports, not waits)."""
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.registry import stored_keys

    binding = open_binding(profile, host=host, interactive=False)
    if not all_users:
        return iter([binding])
    identities = sorted({key.identity for key in stored_keys(binding)})
    return (binding.for_identity(identity) for identity in identities)


def _keep(binding: ProfileBinding, within: timedelta) -> dict[str, Any]:
    from brokerauth.cli import exit_code_of
    from brokerauth.engine.keepalive import keep_alive

    kept = keep_alive(binding, within)
    row: dict[str, Any] = {"profile": kept.profile, "identity": kept.identity,
                           "action": kept.action, "works_until": kept.works_until,
                           "must_act_by": kept.must_act_by, "refreshed": kept.refreshed,
                           "message": kept.message, "command": kept.command}
    if kept.error is not None:
        row.update(hint=kept.error.hint, exit=exit_code_of(kept.error))
    return row


def _describe(row: dict[str, Any], out: Output) -> None:
    from datetime import UTC, datetime

    action = row["action"]
    if action == "none":
        return  # quiet when nothing is due
    now: datetime = datetime.now(UTC)
    who = row["profile"] + (f" (user {row['identity']})" if row.get("identity") else "")
    if action == "refreshed":
        out.line(f"{who}: pushed back; works until {moment_text(row.get('works_until'), now)}")
    elif action == "person":
        when = row.get("must_act_by")
        by = f" by {moment_text(when, now)}" if when is not None and when > now else " now"
        out.line(f"{who}: a person must act{by}: {row.get('message', '')}")
        out.line(f"  run: {row['command']}")
    else:
        out.line(f"{who}: {row.get('message', '')}")
        if row.get("hint"):
            out.line(f"  fix: {row['hint']}")


def _exit_code(rows: list[dict[str, Any]]) -> int:
    actions = {row["action"] for row in rows}
    if "person" in actions:
        return 3
    errors: list[int] = [row["exit"] for row in rows if row["action"] == "error"]
    if errors:
        return max(errors)
    return EXIT_REFRESHED if "refreshed" in actions else 0
