"""``brokerauth request PROFILE METHOD PATH``: one authenticated call, answer printed."""

from __future__ import annotations

import argparse
import json
import sys

from brokerauth.cli.common import add_profile_argument, open_session
from brokerauth.cli.output import Output, shown
from brokerauth.contract.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument("method", help="HTTP method")
    parser.add_argument("path", help="a path (resolved against the profile) or a full URL")
    parser.add_argument("--data", help="a JSON body (sent as application/json)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a query parameter (repeatable)")
    parser.add_argument("--header", "-H", action="append", default=[], metavar="NAME:VALUE",
                        help="an extra request header, e.g. -H 'x-version: v3' (repeatable)")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.cli.common import http_method

    method = http_method(args.method)
    body = None
    if args.data is not None:
        try:
            body = json.loads(args.data)
        except ValueError as exc:
            raise ConfigError(f"--data is not JSON: {exc}",
                              hint="quote it for the shell, e.g. --data '{\"qty\": 1}'") from None
    params = []
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r} is not KEY=VALUE", hint="e.g. --param symbol=AAPL")
        params.append((key, value))
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            raise ConfigError(f"--header {item!r} is not NAME:VALUE",
                              hint="e.g. -H 'x-version: v3'")
        headers[name.strip()] = value.strip()
    hint = None
    with open_session(args, browser=False) as session:
        response = session.request(method, args.path, params=params or None, json=body,
                                   headers=headers or None)
        if not response.ok:
            # What the broker's plugin says to do about this answer (a refused signature).
            hint = session.binding.interpret(response).hint
    try:
        payload = response.json()
    except Exception:
        payload = response.text
    out.data({"status": response.status, "body": payload, **({"hint": hint} if hint else {})})
    if not out.json_mode:
        print(f"HTTP {response.status}", file=sys.stderr)
        out.line(json.dumps(payload, indent=2, ensure_ascii=False)
                 if not isinstance(payload, str) else payload)
        if hint:
            print(f"  fix: {shown(hint)}", file=sys.stderr)
    return 0 if response.ok else 4
