"""``brokerauth sandbox BROKER``: run one broker's emulator for manual testing, with a
ready-to-use profile for it. Secrets are printed as ``export`` lines, the profile refers to
them, as a real profile would."""

from __future__ import annotations

import argparse
from typing import Any

from brokerauth.cli.output import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("broker", help="the broker whose sandbox to run")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--name", default=None, help="the profile name to print")


def run(args: argparse.Namespace, out: Output) -> int:
    import tomli_w

    from brokerauth.clock import SystemClock
    from brokerauth.errors import PluginError
    from brokerauth.pluginhost import PluginHost
    from brokerauth.sandbox import serve_until_interrupted
    from brokerauth.secrets import Secret

    host = PluginHost.create()
    host.broker(args.broker)
    sandbox: Any = host.make_sandbox(args.broker, SystemClock())
    if sandbox is None:
        raise PluginError(f"the plugin of broker {args.broker!r} offers no sandbox")
    if args.port:
        sandbox.listen_on(args.port)
    sandbox.start()
    try:
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
        if out.json_mode:
            out.stream.flush()
    except BaseException:
        sandbox.stop()
        raise
    return serve_until_interrupted(sandbox, out=out.stream)
