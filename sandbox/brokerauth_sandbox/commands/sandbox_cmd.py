"""``brokerauth sandbox BROKER``: run one broker's emulator for manual testing, with a
ready-to-use profile for it. Secrets are printed as ``export`` lines, the profile refers to
them, as a real profile would."""

from __future__ import annotations

import argparse
from typing import Any

from brokerauth.cli.output import Output

HELP = "run one broker's sandbox for manual testing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("broker", help="the broker whose sandbox to run")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--name", default=None, help="the profile name to print")


def run(args: argparse.Namespace, out: Output) -> int:
    """Serve until Ctrl-C, then exit 0: Ctrl-C is taken over before the plugin is even loaded,
    so that it stops cleanly at any moment (before the profile is printed, during it, while
    serving, while stopping); see :func:`brokerauth_sandbox.server.serve_until_interrupted`."""
    import functools

    from brokerauth_sandbox.server import serve_until_interrupted

    return serve_until_interrupted(functools.partial(_make, args),
                                   banner=functools.partial(_describe, args, out),
                                   out=out.stream)


def _make(args: argparse.Namespace) -> Any:
    from brokerauth.contract.clock import SystemClock
    from brokerauth.engine.pluginhost import PluginHost

    from brokerauth_sandbox.emulators import make_sandbox

    PluginHost.create().broker(args.broker)
    sandbox: Any = make_sandbox(args.broker, SystemClock())
    if args.port:
        sandbox.listen_on(args.port)
    return sandbox


def _describe(args: argparse.Namespace, out: Output, sandbox: Any) -> None:
    import tomli_w
    from brokerauth.toolkit.secrets import Secret

    name = args.name or f"{args.broker}-sandbox"
    table: dict[str, Any] = {"broker": args.broker}
    exports: dict[str, str] = {}
    for key, value in sandbox.profile_settings().items():
        if isinstance(value, Secret):
            env = f"BROKERAUTH_SANDBOX_{key.upper()}"
            exports[env] = value.reveal()
            table[key] = {"env": env}
        else:
            table[key] = value
    out.data({"broker": args.broker, "base_url": sandbox.base_url, "profile": name,
              "table": table, "env": exports})
    out.line(f"{args.broker} sandbox listening on {sandbox.base_url} (Ctrl-C to stop)")
    out.line("\n# these credentials exist only in this sandbox")
    for env, value in exports.items():
        out.line(f"export {env}={value}")
    out.line("\n# brokerauth.toml")
    out.line(tomli_w.dumps({"profiles": {name: table}}).rstrip())
    out.stream.flush()
