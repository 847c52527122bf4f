"""``brokerauth init``: write a profile, from flags or by asking.

Secrets are written as references (``{ env = "NAME" }`` or ``{ file = "path" }``), never as
values. The file is replaced atomically, so an interrupted ``init`` leaves the old file whole.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from brokerauth.cli.output import Output
from brokerauth.contract.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the profile's name")
    parser.add_argument("--broker", help="the broker (see `brokerauth plugins`)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting; VALUE is read as TOML when it parses, else as text")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=ENV_VAR",
                        help="a secret read from an environment variable")
    parser.add_argument("--secret-file", action="append", default=[], metavar="KEY=PATH",
                        help="a secret read from a file")
    parser.add_argument("--force", action="store_true", help="replace an existing profile")


def run(args: argparse.Namespace, out: Output) -> int:
    import attrs

    from brokerauth.engine.pluginhost import PluginHost
    from brokerauth.engine.profiles import Profile, candidate_files, find_profiles_file
    from brokerauth.engine.resolve import resolve_profile
    from brokerauth.toolkit.secrets import Secret

    interactive = args.broker is None or args.name is None
    if interactive and not sys.stdin.isatty():
        raise ConfigError("init needs a NAME and --broker when not run at a terminal",
                          hint="brokerauth init NAME --broker BROKER --set key=value ...")
    host = PluginHost.create()
    name = args.name or _ask("profile name", "default")
    if args.broker is None:
        host.load_all()
        brokers = sorted(host.brokers)
        if not brokers:
            raise ConfigError("no broker plugin is installed",
                              hint="install a broker plugin; `brokerauth plugins` lists "
                                   "what is installed")
        out.line(f"installed brokers: {', '.join(brokers)}")
    broker = args.broker or _ask("broker", brokers[0])
    spec, _ = host.broker(broker)

    table: dict[str, Any] = {"broker": broker}
    for item in args.set:
        key, value = _pair(item, "--set")
        table[key] = _toml_value(value)
    for item in args.secret:
        key, value = _pair(item, "--secret")
        table[key] = {"env": value}
    for item in args.secret_file:
        key, value = _pair(item, "--secret-file")
        table[key] = {"file": value}
    if interactive:
        for field in attrs.fields(spec.settings):
            key = field.alias or field.name
            if key in table:
                continue
            help_text = field.metadata.get("help", "")
            required = field.default is attrs.NOTHING
            if field.type in (Secret, "Secret"):
                default_env = f"{broker}_{key}".upper()
                env = _ask(f"{key} ({help_text}) — environment variable holding it", default_env)
                table[key] = {"env": env}
            elif required:
                table[key] = _toml_value(_ask(f"{key} ({help_text})", None))
            else:
                answer = _ask(f"{key} ({help_text})", _default_text(field.default))
                if answer != _default_text(field.default):
                    table[key] = _toml_value(answer)

    profile = Profile.from_mapping(name, table)
    resolve_profile(profile, host)  # every mistake is reported before anything is written

    if args.profiles:
        path = Path(args.profiles)
    else:
        path = find_profiles_file(None) or candidate_files(None)[-1][1]
    document: dict[str, Any] = {}
    if path.exists():
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    profiles = document.setdefault("profiles", {})
    if name in profiles and not args.force:
        raise ConfigError(f"profile {name!r} already exists in {path}",
                          hint="pass --force to replace it, or choose another name")
    profiles[name] = table
    _write(path, document)
    unset = [k for k, v in table.items()
             if isinstance(v, dict) and "env" in v and not os.environ.get(v["env"])]
    out.data({"file": str(path), "profile": name, "table": table, "unset_secrets": unset})
    out.line(f"wrote profile {name!r} to {path}")
    for key in unset:
        out.line(f"  note: {key} comes from ${table[key]['env']}, which is not set here")
    return 0


def _pair(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} {item!r} is not KEY=VALUE", hint=f"e.g. {flag} key=value")
    return key.strip(), value


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _default_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ask(question: str, default: str | None) -> str:
    suffix = f" [{default}]" if default else ""
    while True:
        answer = input(f"{question}{suffix}: ").strip()
        if answer:
            return answer
        if default is not None:
            return default


def _write(path: Path, document: dict[str, Any]) -> None:
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    text = tomli_w.dumps(document)
    fd, temp = tempfile.mkstemp(prefix=".profiles-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
