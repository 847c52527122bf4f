"""``brokerauth sign``: the headers a request would carry, computed offline.

With ``--timestamp`` and ``--nonce`` the signature is reproducible, so it can be compared with
another implementation's.  The token is the one a request would carry: the stored one, or the
one the profile's flow makes without a login (a configured API key's).  Token headers are
masked unless ``--reveal`` is given.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from brokerauth.cli.output import Output
from brokerauth.contract.errors import ConfigError

if TYPE_CHECKING:
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.binding import ProfileBinding

_TOKEN_HEADERS = ("authorization", "x-access-token")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", "-p", required=True, help="the profile to sign with")
    parser.add_argument("method", help="HTTP method, e.g. GET")
    parser.add_argument("url", help="a path (resolved against the profile) or a full URL")
    parser.add_argument("--data", help="the exact request body")
    parser.add_argument("--header", "-H", action="append", default=[], metavar="NAME:VALUE",
                        help="an extra header (repeatable)")
    parser.add_argument("--timestamp", help="sign at this time (ISO 8601 or Unix seconds)")
    parser.add_argument("--nonce", help="sign with this nonce")
    parser.add_argument("--user", help="the identity whose stored token to attach")
    parser.add_argument("--no-token", action="store_true", help="sign without a token")
    parser.add_argument("--reveal", action="store_true",
                        help="print token headers in full (they are masked by default)")


def parse_time(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--timestamp {text!r} is neither ISO 8601 nor Unix seconds",
            hint="e.g. --timestamp 2024-01-02T03:04:05Z or --timestamp 1704164645",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.engine.api import open_binding

    headers: dict[str, str] = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {item!r} is not NAME:VALUE",
                              hint="e.g. --header 'x-version: v3'")
        headers[name.strip()] = value.strip()
    binding = open_binding(args.profile, profiles=args.profiles, user=args.user)
    request = binding.build(
        args.method, args.url, data=args.data.encode() if args.data is not None else None,
        headers=headers,
    )
    token = None if args.no_token else _token(binding, out)
    signed = binding.sign(
        request,
        token,
        now=parse_time(args.timestamp) if args.timestamp else None,
        nonce=args.nonce,
    )
    shown = {
        k: v if args.reveal or k.lower() not in _TOKEN_HEADERS else _mask(v)
        for k, v in signed.headers.items()
    }
    out.data({"method": signed.method, "url": signed.url, "headers": shown,
              "body": args.data})
    out.line(f"{signed.method} {signed.url}")
    for key, value in shown.items():
        out.line(f"{key}: {value}")
    if args.data is not None:
        out.line()
        out.line(args.data)
    return 0


def _token(binding: ProfileBinding, out: Output) -> Token | None:
    """The token a request would carry: the stored one, else the one the flow makes without
    a login (a configured API key's); without either the request is signed bare, and the
    user is told why its token header is missing."""
    from brokerauth.cli.offline_token import flow_token
    from brokerauth.contract.errors import LoginRequiredError

    stored = binding.load()
    if stored is not None:
        return stored
    try:
        return flow_token(binding)
    except LoginRequiredError as exc:
        # On stderr in JSON mode too: the headers on stdout stay one document.
        print(f"note: {exc.message}; signed without one", file=out.errors)
        if exc.hint:
            print(f"  fix: {exc.hint}, and requests carry the token it obtains",
                  file=out.errors)
        return None


def _mask(value: str) -> str:
    scheme, _, rest = value.partition(" ")
    if rest:
        return f"{scheme} <hidden, {len(rest)} characters; --reveal to show>"
    return f"<hidden, {len(value)} characters; --reveal to show>"
