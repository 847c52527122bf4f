"""``brokerauth plugins``: what is installed, and what failed to load and why."""

from __future__ import annotations

import argparse
import traceback
from typing import Any

from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of plugins that failed to load")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.engine.pluginhost import PluginHost

    host = PluginHost.create()
    host.load_all()
    plugins: list[dict[str, Any]] = []
    for name, loaded in sorted(host.loaded.items()):
        plugins.append({
            "name": name,
            "distribution": loaded.distribution,
            "version": loaded.version,
            "description": loaded.info.description,
            "brokers": [
                {"id": b.id, "signer": b.signer, "flow": b.flow, "store": b.store,
                 "environments": [e.name for e in b.environments],
                 "settings": _settings_keys(b.settings)}
                for b in loaded.info.brokers
            ],
            "strategies": [
                {"kind": s.kind, "name": s.name, "description": s.description}
                for s in loaded.info.strategies
            ],
        })
    failures = [
        {"name": f.name, "distribution": f.distribution, "version": f.version,
         "error": f.error.message, "hint": f.error.hint,
         "traceback": "".join(traceback.format_exception(f.error.__cause__ or f.error))}
        for f in host.failures.values()
    ]
    out.data({"plugins": plugins, "failed": failures})
    out.table(
        ["plugin", "distribution", "version", "brokers", "strategies"],
        [
            [p["name"], p["distribution"], p["version"],
             ", ".join(b["id"] for b in p["brokers"]) or "-",
             ", ".join(f"{s['kind']}:{s['name']}" for s in p["strategies"]) or "-"]
            for p in plugins
        ],
    )
    for failure in failures:
        out.line()
        out.line(f"FAILED {failure['name']} ({failure['distribution']} {failure['version']}): "
                 f"{failure['error']}")
        if failure["hint"]:
            out.line(f"  fix: {failure['hint']}")
        if args.traceback:
            out.line(str(failure["traceback"]).rstrip())
        else:
            out.line("  (run `brokerauth plugins --traceback` for the traceback)")
    return 0


def _settings_keys(cls: type[Any]) -> list[str]:
    import attrs

    if not attrs.has(cls):
        return []
    return [f.alias or f.name for f in attrs.fields(cls)]
