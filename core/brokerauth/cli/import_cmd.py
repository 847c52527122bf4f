"""``brokerauth import FILE --profile PROFILE --key-env NAME | --key-file PATH [--force]``:
open a token sealed by ``brokerauth export`` and place it in the profile's store, whichever
store that is (it goes through the profile's binding, under the store's lock, as a login
does).

Refused: another broker's token, another identity's, one issued for another origin than the
profile's API, and (without ``--force``) one older than the token already stored.  A stored
token counts as newer when it was issued at the same time or later than the sealed one
(``issued_at``; ``expires_at`` when either lacks it), or when neither time tells: it may be
the rotated successor of the sealed one, and overwriting it would bring back a refresh token
the broker has already retired.  The same token again is left as it is; ``--keep-newer``
makes a newer stored token no error, so a container can import on every start.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from brokerauth.cli.common import add_profile_argument
from brokerauth.cli.export_cmd import add_key_arguments, key_secret
from brokerauth.cli.output import Output

if TYPE_CHECKING:
    from brokerauth.contract.tokens import Token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE",
                        help="the sealed token `brokerauth export` wrote; `-`: standard input")
    add_profile_argument(parser, positional=False,
                         help="the profile whose store receives the token",
                         user="the identity the token belongs to (as exported)")
    add_key_arguments(parser)
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--force", action="store_true",
                      help="replace the stored token even if it is newer, or unreadable")
    when.add_argument("--keep-newer", action="store_true",
                      help="a newer stored token is kept and that is no error (exit 0): for a "
                      "container's start script, which imports on every start")


def run(args: argparse.Namespace, out: Output) -> int:
    from brokerauth.contract.commands import command
    from brokerauth.contract.errors import (
        CorruptStoreError,
        SealedTokenError,
        StaleTokenError,
    )
    from brokerauth.contract.tokens import ISSUED_FOR
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.refresh import validate_token
    from brokerauth.toolkit.seal import open_sealed

    key = key_secret(args).reveal()
    binding = open_binding(args.profile, user=args.user, profiles=args.profiles,
                           interactive=False)
    source = "standard input" if args.file == "-" else args.file
    opened = open_sealed(_read(args.file, source), key, broker=binding.resolved.broker.id,
                         identity=binding.identity, source=source)
    token = validate_token(opened.token, binding.label)
    issued_for = token.extra.get(ISSUED_FOR)
    if issued_for is not None and issued_for != binding.home_origin:
        # Sent where it was not issued, a token is at best refused and at worst given away.
        raise SealedTokenError(
            f"{source} holds a token issued for {issued_for}, and profile "
            f"{binding.resolved.name!r} points at {binding.home_origin}; nothing was stored",
            reason="origin",
            hint="import it into a profile with the same environment or base_url as the one "
            "it was exported from",
        )
    with binding.locked("import again"):
        try:
            stored = binding.load(wherever_issued=True)
        except CorruptStoreError:
            if not args.force:
                raise
            stored = None
        same = stored is not None and _same_credential(stored, token)
        if stored is not None and not same and _stored_is_newer(stored, token):
            moments = f"{_when(stored)} against {_when(token)}"
            if args.keep_newer:
                out.data({"profile": binding.resolved.name, "identity": binding.identity,
                          "broker": token.broker, "stored": False, "replaced": False,
                          "kept_newer": True})
                out.line(f"{binding.label}: kept the stored token, newer than the sealed one "
                         f"({moments})")
                return 0
            if not args.force:
                raise StaleTokenError(
                    f"{binding.label}: the stored token is not older than the sealed one "
                    f"({moments}); it was kept",
                    hint="it may be the refreshed successor of the sealed token; to replace "
                    "it anyway, import again with --force (or keep it with --keep-newer)",
                )
        if not same:
            binding.save(token)
    store = binding.resolved.store.name
    out.data({"profile": binding.resolved.name, "identity": binding.identity,
              "broker": token.broker, "from_profile": opened.profile,
              "sealed_at": opened.sealed_at, "expires_at": token.expires_at,
              "stored": not same, "replaced": stored is not None and not same,
              "store": store})
    if same:
        out.line(f"{binding.label}: this token is already stored; nothing changed")
        return 0
    verb = "replaced the stored token with" if stored is not None else "stored"
    out.line(f"{binding.label}: {verb} the {token.broker} token exported from profile "
             f"{opened.profile!r} at {opened.sealed_at:%Y-%m-%d %H:%M} UTC "
             f"(store {store!r})")
    if token.refresh_token is not None:
        out.line("  it renews itself here as long as this store is writable; stop using it "
                 f"where it was exported (`{command('logout', opened.profile, binding.named_user)}"
                 " --no-revoke` there)")
    return 0


def _read(name: str, source: str) -> bytes:
    """At most one byte more than a sealed token may take (the opener refuses it by size)."""
    import sys

    from brokerauth.contract.errors import ConfigError
    from brokerauth.toolkit.seal import MAX_SEALED_BYTES

    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_SEALED_BYTES + 1)
        with open(name, "rb") as file:
            return file.read(MAX_SEALED_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or type(exc).__name__}",
                          hint="give the path of the file `brokerauth export` wrote") from None


def _same_credential(stored: Token, incoming: Token) -> bool:
    return (stored.access_token, stored.refresh_token) == (incoming.access_token,
                                                           incoming.refresh_token)


def _stored_is_newer(stored: Token, incoming: Token) -> bool:
    for field in ("issued_at", "expires_at"):
        mine, theirs = getattr(stored, field), getattr(incoming, field)
        if mine is not None and theirs is not None:
            return bool(mine >= theirs)
    return True


def _when(token: Token) -> str:
    moment = token.issued_at or token.expires_at
    if moment is None:
        return "no time recorded"
    from datetime import UTC

    shown = moment.astimezone(UTC)
    return f"{'issued' if token.issued_at else 'expiring'} {shown:%Y-%m-%d %H:%M:%S} UTC"
