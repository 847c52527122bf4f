"""``brokerauth profiles``: every profile of the profiles file, each checked."""

from __future__ import annotations

import argparse
from typing import Any

from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="check only this profile")
    parser.add_argument("--names", action="store_true",
                        help="only print the profiles' names, one a line, unchecked (fast: "
                        "for shell completion and scripts)")


def run(args: argparse.Namespace, out: Output) -> int:
    if args.names:
        return _names(args, out)
    from brokerauth.contract.errors import BrokerAuthError
    from brokerauth.engine.binding import check_secrets
    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import find_profiles_file, load_profiles, other_definitions
    from brokerauth.engine.resolve import resolve_profile

    path = find_profiles_file(args.profiles)
    profiles = load_profiles(args.profiles)
    names = [args.name] if args.name else sorted(profiles.profiles)
    host = PluginHost.create()
    rows: list[dict[str, Any]] = []
    for name in names:
        profile = profiles.get(name)
        row: dict[str, Any] = {"name": name, "broker": profile.broker, "ok": True,
                               "file": profile.source,
                               "also_in": other_definitions(name, profile.source, args.profiles)}
        try:
            resolved = resolve_profile(profile, host)
            check_secrets(resolved)
            row.update(signer=resolved.signer.name, flow=resolved.flow.name,
                       store=resolved.store.name)
        except BrokerAuthError as exc:
            row.update(ok=False, error=exc.message, hint=exc.hint)
        rows.append(row)
    out.data({"file": str(path) if path else None, "profiles": rows})
    if path is None:
        out.line("no profiles file found (looked at --profiles, $BROKERAUTH_PROFILES, "
                 "./brokerauth.toml and the user config folder)")
        out.line("create one with `brokerauth init`")
        return 0
    out.line(f"profiles from {path}")
    out.table(
        ["profile", "broker", "signer", "flow", "store", "status"],
        [[r["name"], r["broker"], r.get("signer", "-"), r.get("flow", "-"), r.get("store", "-"),
          "ok" if r["ok"] else "ERROR"] for r in rows],
    )
    for row in rows:
        if row["also_in"]:
            out.line()
            out.line(f"{row['name']}: from {row['file']}; also defined, not used, in "
                     + ", ".join(row["also_in"]))
    for row in rows:
        if not row["ok"]:
            out.line()
            out.line(f"{row['name']}: {row['error']}")
            if row.get("hint"):
                out.line(f"  fix: {row['hint']}")
    return 0 if all(r["ok"] for r in rows) else 2


def _names(args: argparse.Namespace, out: Output) -> int:
    """Each profile's name, read from the profiles file without resolving any (no plugin is
    loaded): what completion asks for at every <TAB>."""
    from brokerauth.engine.profiles import load_profiles

    names = sorted(load_profiles(args.profiles).profiles)
    out.data({"names": names})
    for name in names:
        out.line(name)
    return 0
