"""``brokerauth sandbox BROKER [OPTION ...]``: run one broker's emulator for manual testing,
with a ready-to-use profile for it. Secrets are printed as ``export`` lines, the profile refers
to them, as a real profile would. The options after ``BROKER`` are the emulator's own, as its
plugin declares them (see :mod:`brokerauth_sandbox.emulators`); ``brokerauth sandbox BROKER
--help`` lists them."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from brokerauth.cli.common import port_number
from brokerauth.cli.output import Output

HELP = "run one broker's sandbox for manual testing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("broker", help="the broker whose sandbox to run")
    _own_arguments(parser)
    # Known only once the broker's plugin is loaded, which waits until Ctrl-C is taken over:
    # kept as given, and parsed then.
    parser.add_argument("options", nargs=argparse.REMAINDER, metavar="OPTION",
                        help="the emulator's own options (`brokerauth sandbox BROKER --help` "
                        "lists them)")


def _own_arguments(parser: argparse.ArgumentParser, *, after_broker: bool = False) -> None:
    """The command's options; ``after_broker``: for the parser of what follows BROKER, which
    keeps only what is given there, and takes the command line's ``--json`` too."""
    unset = argparse.SUPPRESS
    parser.add_argument("--port", type=port_number, default=unset if after_broker else 0,
                        help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--name", default=unset if after_broker else None,
                        help="the profile name to print")
    if after_broker:
        parser.add_argument("--json", action="store_true", default=unset,
                            help="print JSON for scripts")


def run(args: argparse.Namespace, out: Output) -> int:
    """Serve until Ctrl-C, then exit 0: Ctrl-C is taken over before the plugin is even loaded,
    so that it stops cleanly at any moment (before the profile is printed, during it, while
    serving, while stopping); see :func:`brokerauth_sandbox.server.serve_until_interrupted`."""
    import functools

    from brokerauth_sandbox.server import serve_until_interrupted

    return serve_until_interrupted(functools.partial(_make, args, out),
                                   banner=functools.partial(_describe, args, out),
                                   out=out.stream)


def _make(args: argparse.Namespace, out: Output) -> Any:
    from brokerauth.contract.clock import SystemClock
    from brokerauth.engine.pluginhost import PluginHost

    from brokerauth_sandbox import emulators

    PluginHost.create().broker(args.broker)
    found = emulators.provider(args.broker)
    parser = argparse.ArgumentParser(
        prog=f"brokerauth sandbox {args.broker}",
        description=f"Run the {args.broker} sandbox on 127.0.0.1 and print a profile for it.",
    )
    _own_arguments(parser, after_broker=True)
    emulators.add_arguments(found, parser)
    parsed = vars(parser.parse_args(args.options))
    for name in ("port", "name"):
        if name in parsed:
            setattr(args, name, parsed.pop(name))
    if parsed.pop("json", False):
        out.json_mode = True
    sandbox: Any = found.make_sandbox(SystemClock(), **parsed)
    if args.port:
        sandbox.listen_on(args.port)
        _start_on(sandbox, args.port)
    return sandbox


def _start_on(sandbox: Any, port: int) -> None:
    """Bind the port asked for now (starting twice is starting once): one taken is the user's
    to change, not a failure to report."""
    import errno

    from brokerauth.contract.errors import ConfigError

    try:
        sandbox.start()
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        why = "is in use" if exc.errno == errno.EADDRINUSE else "may not be used by this user"
        raise ConfigError(
            f"port {port} on 127.0.0.1 {why}",
            hint="pick another with --port N (above 1023), or leave --port out to get a free "
            f"one; `lsof -i :{port}` shows what holds it") from None


def _describe(args: argparse.Namespace, out: Output, sandbox: Any) -> None:
    import tomli_w

    from brokerauth_sandbox.emulators import env_prefix, profile_table

    name = args.name or f"{args.broker}-sandbox"
    prefix = env_prefix(args.broker)
    table, exports = profile_table(args.broker, sandbox.profile_settings(), prefix)
    tables = {name: table}
    more = getattr(sandbox, "more_profiles", None)
    for suffix, settings in (more() if more is not None else {}).items():
        tables[f"{name}-{suffix}"], needs = profile_table(args.broker, settings, prefix)
        exports.update(needs)
    out.data({"broker": args.broker, "base_url": sandbox.base_url, "profile": name,
              "table": table, "profiles": tables, "env": exports})
    out.line(f"{args.broker} sandbox listening on {sandbox.base_url} (Ctrl-C to stop)")
    if exports:
        out.line("\n# these credentials exist only in this sandbox")
    for env, value in exports.items():
        # Quoted for the shell it is pasted into: a value is the plugin's to choose.
        out.line(f"export {env}={shlex.quote(str(value))}")
    out.line("\n# brokerauth.toml")
    out.line(tomli_w.dumps({"profiles": tables}).rstrip())
    out.stream.flush()
