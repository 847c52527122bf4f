"""``brokerauth demo``: walk through every installed broker's flow against its sandbox."""

from __future__ import annotations

import argparse
import io
import sys

from brokerauth.cli.output import Output

HELP = "walk through every installed broker's flow against its sandbox"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("brokers", nargs="*", help="only these brokers (default: all installed)")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.engine.pluginhost import PluginHost

    from brokerauth_sandbox.demo import results_json, run_demo, summary_rows

    stream = io.StringIO() if out.json_mode else sys.stdout
    results = run_demo(PluginHost.create(), brokers=args.brokers or None, stream=stream,
                       verbose=args.verbose)
    ok = bool(results) and all(r.ok for r in results)
    out.data({"ok": ok, "steps": results_json(results)})
    if not results:
        out.line("no installed broker plugin offers a demo; install a broker plugin that "
                 "ships a sandbox (`brokerauth plugins` lists what is installed)")
        return 1
    out.line("\nSummary")
    out.table(["broker", "steps ok", "time"], summary_rows(results))
    out.line("\nall steps passed" if ok else "\nsome steps FAILED")
    return 0 if ok else 1
