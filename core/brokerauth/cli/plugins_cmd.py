"""``brokerauth plugins``: what is installed, and what failed to load and why;
``brokerauth plugins BROKER``: that broker's settings (each with its default and help), its
named environments and the strategies a profile gets by default."""

from __future__ import annotations

import argparse
import traceback
from typing import Any

from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("broker", nargs="?",
                        help="a broker id: list its settings, environments and defaults")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of plugins that failed to load")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.engine.pluginhost import PluginHost

    host = PluginHost.create()
    if args.broker is not None:
        return _broker(host, args.broker, out)
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
                 "settings": [setting["key"] for setting in _settings(b.settings)]}
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


def _broker(host: Any, broker_id: str, out: Output) -> int:
    from brokerauth.contract.scrub import terminal_text

    spec, owner = host.broker(broker_id)
    settings = _settings(spec.settings)
    environments = [{"name": e.name, "description": e.description, "hosts": dict(e.hosts)}
                    for e in spec.environments]
    out.data({"broker": spec.id, "plugin": owner, "description": spec.description,
              "signer": spec.signer, "flow": spec.flow, "store": spec.store,
              "settings": settings, "environments": environments})
    # A plugin's texts, shown on a terminal: no control character may draw on it.
    out.line(f"broker {spec.id} (plugin {owner}): {terminal_text(spec.description)}")
    out.line(f"by default: signer {spec.signer}, flow {spec.flow}, store {spec.store}")
    out.line("\nsettings (a profile's keys besides broker, store and the common ones):")
    out.table(["key", "default", "about"],
              [[s["key"], s["default"], terminal_text(s["help"])] for s in settings])
    if environments:
        out.line("\nenvironments (environment = NAME):")
        out.table(["name", "about"],
                  [[e["name"], terminal_text(e["description"])] for e in environments])
    return 0


def _settings(cls: type[Any]) -> list[dict[str, str]]:
    """Each setting's key, its default as a profile would write it (``required`` when there
    is none; a secret's as the reference it reads, never a value), and its help."""
    import attrs

    if not attrs.has(cls):
        return []
    shown: list[dict[str, str]] = []
    for field in attrs.fields(cls):
        default = field.default
        if default is attrs.NOTHING:
            text = "required"
        elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            text = "(worked out)"
        else:
            text = _default_text(default)
        shown.append({"key": field.alias or field.name, "default": text,
                      "help": str(field.metadata.get("help", ""))})
    return shown


def _default_text(value: Any) -> str:
    from brokerauth.toolkit.secrets import Secret

    if isinstance(value, Secret):
        return value.source  # env:NAME or file:PATH; a literal default shows as "value"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
