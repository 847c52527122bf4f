"""``brokerauth sign``: the headers a request would carry, computed offline.

With ``--timestamp`` and ``--nonce`` the signature is reproducible, so it can be compared with
another implementation's.  The token is the one a request would carry: the stored one, or the
one the profile's flow makes without a login (a configured API key's).  Token headers are
masked unless ``--reveal`` is given.

``--explain`` adds the signer's own account of that very signature (its ``explain_signature``
hook, called with the same request, time and nonce): the canonical string, the string to
sign, the body's digest..., never a secret, to diff against a broker's example or error.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from brokerauth.cli.common import add_profile_argument
from brokerauth.cli.output import Output, shown
from brokerauth.contract.errors import ConfigError

if TYPE_CHECKING:
    from brokerauth.contract.tokens import Token
    from brokerauth.contract.wire import Request
    from brokerauth.engine.binding import ProfileBinding

_TOKEN_HEADERS = ("authorization", "x-access-token")
#: Shorter secret values could match ordinary text by chance.
_MIN_SECRET = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser, help="the profile to sign with",
                         user="the identity whose stored token to attach")
    parser.add_argument("method", help="HTTP method, e.g. GET")
    parser.add_argument("url", help="a path (resolved against the profile) or a full URL")
    parser.add_argument("--data", help="the exact request body")
    parser.add_argument("--header", "-H", action="append", default=[], metavar="NAME:VALUE",
                        help="an extra header (repeatable)")
    parser.add_argument("--timestamp", help="sign at this time (ISO 8601 or Unix seconds)")
    parser.add_argument("--nonce", help="sign with this nonce")
    parser.add_argument("--no-token", action="store_true", help="sign without a token")
    parser.add_argument("--reveal", action="store_true",
                        help="print token headers in full (they are masked by default)")
    parser.add_argument("--explain", action="store_true",
                        help="also print the signer's steps (canonical string, string to "
                        "sign, body digest) and the clock offset; never a secret")


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
    from brokerauth.cli.common import http_method
    from brokerauth.engine.api import open_binding

    method = http_method(args.method)

    headers: dict[str, str] = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {item!r} is not NAME:VALUE",
                              hint="e.g. --header 'x-version: v3'")
        headers[name.strip()] = value.strip()
    binding = open_binding(args.profile, profiles=args.profiles, user=args.user)
    request = binding.build(
        method, args.url, data=args.data.encode() if args.data is not None else None,
        headers=headers,
    )
    token = None if args.no_token else _token(binding, out)
    now = parse_time(args.timestamp) if args.timestamp else None
    nonce = args.nonce
    if args.explain:
        # The explanation must be of the signature shown: both get one time and one nonce,
        # chosen here as the binding would choose them.
        from brokerauth.engine.binding import new_nonce

        now = now or binding.clock.now() + binding.skew
        nonce = nonce if nonce is not None else new_nonce()
    signed = binding.sign(request, token, now=now, nonce=nonce)
    shown = {
        k: v if args.reveal or k.lower() not in _TOKEN_HEADERS else _mask(v)
        for k, v in signed.headers.items()
    }
    payload: dict[str, Any] = {"method": signed.method, "url": signed.url, "headers": shown,
                               "body": args.data}
    explanation = None
    if now is not None and nonce is not None and args.explain:
        explanation = _explain(binding, request, signed, token, now, nonce,
                               fixed_time=bool(args.timestamp))
        payload["explanation"] = explanation
    out.data(payload)
    out.line(f"{signed.method} {signed.url}")
    for key, value in shown.items():
        out.line(f"{key}: {value}")
    if args.data is not None:
        out.line()
        out.line(args.data)
    if explanation is not None:
        _print_explanation(explanation, out)
    return 0


def _explain(binding: ProfileBinding, request: Request, signed: Request, token: Token | None,
             now: datetime, nonce: str, *, fixed_time: bool) -> dict[str, Any]:
    signer = binding.resolved.signer
    steps = binding.host.explain_signature(signer.name, request, binding.settings, token, now,
                                           nonce, owner=signer.owner)
    skew = binding.skew.total_seconds()
    if fixed_time:
        offset = "not applied: --timestamp fixes the time signed"
    elif skew:
        offset = f"{skew:+.0f} s (server minus local), added to the local clock"
    else:
        # A session learns the offset from a server's Date header when a timestamp is refused
        # and keeps it in memory for its own life only; nothing records it for later runs.
        offset = ("none known: sessions learn it from the server's Date header after a "
                  "refused timestamp and keep it in memory only; signed with the local clock")
    return {
        "signer": signer.name,
        "steps": None if steps is None else _hidden(dict(steps), binding, signed, token),
        "signed_at": now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "nonce": nonce,
        "clock_offset_seconds": None if fixed_time or not skew else skew,
        "clock_offset": offset,
    }


def _hidden(steps: dict[str, str], binding: ProfileBinding, signed: Request,
            token: Token | None) -> dict[str, str]:
    """``steps`` with every secret masked that ``signed`` does not carry in clear.

    A signer must put none there; this holds for one that does all the same: the token's
    values always (``--reveal`` is for the headers), and each secret of the profile (its
    settings' and strategies') that is not a header's whole value, as an app key is."""
    from brokerauth.toolkit.secrets import Secret

    clear = set(signed.headers.values())
    values = [] if token is None else [token.access_token, token.refresh_token]
    for holder in _secret_holders(binding):
        for field in getattr(type(holder), "__attrs_attrs__", ()):
            value = getattr(holder, field.name)
            if isinstance(value, Secret) and value.reveal() not in clear:
                values.append(value.reveal())
    hidden = sorted({v for v in values if v and len(v) >= _MIN_SECRET}, key=len, reverse=True)
    for name, text in steps.items():
        for value in hidden:
            if value in text:
                text = text.replace(value, f"<hidden, {len(value)} characters>")
        steps[name] = text
    return steps


def _secret_holders(binding: ProfileBinding) -> list[Any]:
    holders = [binding.settings]
    for kind in ("signer", "flow", "store"):
        options = binding.resolved.bound(kind).options
        if options is not None:
            holders.append(options)
    return holders


def _print_explanation(explanation: Mapping[str, Any], out: Output) -> None:
    out.line()
    out.line(f"how the signer {explanation['signer']!r} made these headers:")
    steps = explanation["steps"]
    if steps is None:
        out.line("  (it explains nothing: the signer does not implement explain_signature)")
    else:
        for name, value in steps.items():
            out.line(f"  {name}: {_one_line(value)}")
    out.line(f"  signed at: {explanation['signed_at']}")
    out.line(f"  nonce: {explanation['nonce']}")
    out.line(f"  clock offset: {explanation['clock_offset']}")


def _one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``...), one line to diff; --json gives
    the exact text."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _token(binding: ProfileBinding, out: Output) -> Token | None:
    """The token a request would carry: the stored one, else the one the flow makes without
    a login (a configured API key's); without either the request is signed bare, and the
    user is told why its token header is missing."""
    from brokerauth.cli.offline_token import flow_token
    from brokerauth.contract.errors import LoginRequiredError

    stored = binding.load()
    if stored is not None:
        from brokerauth.engine import failures

        failure = failures.failure_of(stored)
        if failure is not None and failure.kind == failures.DEAD:
            # What a request would carry, as asked, but the broker will likely refuse it: told
            # in the words (and with the fix) every request gets for this record.
            refused = failure.error(binding.label, binding.login_command)
            print(f"note: {shown(refused.message)}; the token is attached, but is likely "
                  "refused too", file=out.errors)
            if refused.hint:
                print(f"  fix: {shown(refused.hint)}", file=out.errors)
        return stored
    try:
        return flow_token(binding)
    except LoginRequiredError as exc:
        # On stderr in JSON mode too: the headers on stdout stay one document.
        print(f"note: {shown(exc.message)}; signed without one", file=out.errors)
        if exc.hint:  # it names the profile, as the file wrote it: shown, never obeyed
            print(f"  fix: {shown(exc.hint)}, and requests carry the token it obtains",
                  file=out.errors)
        return None


def _mask(value: str) -> str:
    scheme, _, rest = value.partition(" ")
    if rest:
        return f"{scheme} <hidden, {len(rest)} characters; --reveal to show>"
    return f"<hidden, {len(value)} characters; --reveal to show>"
