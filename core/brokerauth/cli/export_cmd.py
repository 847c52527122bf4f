"""``brokerauth export PROFILE --key-env NAME | --key-file PATH [-o FILE]``: the profile's
stored token, sealed with a key (:mod:`brokerauth.toolkit.seal`), for a machine where nobody
can log in; ``brokerauth import`` opens it there.

The key is only ever named (a variable or a file), never given as an argument: any user of
the machine can read a process's arguments.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from brokerauth.cli.common import add_profile_argument
from brokerauth.cli.output import Output

if TYPE_CHECKING:
    from brokerauth.toolkit.secrets import Secret


def add_key_arguments(parser: argparse.ArgumentParser) -> None:
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-env", metavar="NAME",
                     help="the sealing key is in this environment variable")
    key.add_argument("--key-file", metavar="PATH",
                     help="the sealing key is in this file (0600, checked like a profile's "
                     "secret file)")


def key_secret(args: argparse.Namespace) -> Secret:
    from brokerauth.toolkit.secrets import Secret

    if args.key_env is not None:
        return Secret(env=args.key_env)
    return Secret(file=args.key_file)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    add_key_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the sealed token to FILE (0600, atomically); `-` or none: "
                        "standard output")
    parser.add_argument("--move", action="store_true",
                        help="delete the token here once it is sealed (not revoked), so only "
                        "the machine that imports it uses it: a rotating refresh token used "
                        "from two places is revoked by the broker")


def run(args: argparse.Namespace, out: Output) -> int:
    import sys
    from pathlib import Path

    from brokerauth.contract.errors import LoginRequiredError
    from brokerauth.engine.api import open_binding
    from brokerauth.engine.refresh import token_state
    from brokerauth.toolkit import privatefiles
    from brokerauth.toolkit.seal import seal_token

    key = key_secret(args).reveal()
    binding = open_binding(args.profile, user=args.user, profiles=args.profiles,
                           interactive=False)
    options = binding.resolved.profile.options
    login = binding.login_command
    # Under the store's lock: a refresh running meanwhile would rotate the refresh token
    # between our read and the seal, and the sealed one would be dead on arrival.
    with binding.locked("export again"):
        token = binding.load()
        if token is None:
            raise LoginRequiredError(f"{binding.label}: no token is stored to export",
                                     hint=f"run `{login}` first")
        state, _left = token_state(token, binding.clock.now(),
                                   advisory=options.refresh_advisory,
                                   mandatory=options.refresh_mandatory)
        if state == "needs login":
            raise LoginRequiredError(
                f"{binding.label}: the stored token has expired and cannot be renewed; "
                "nothing was exported", hint=f"run `{login}`, then export again")
        sealed = seal_token(token, key, identity=binding.identity,
                            profile=binding.resolved.name, now=binding.clock.now())
        to_stdout = args.output in (None, "-")
        if not to_stdout:
            path = Path(args.output).absolute()
            privatefiles.write_private(path, sealed, binding.key, "sealed token file")
        removed = binding.delete() if args.move else False
    facts = {"profile": binding.resolved.name, "identity": binding.identity,
             "broker": token.broker, "expires_at": token.expires_at,
             "refresh_token": token.refresh_token is not None, "moved": removed}
    if to_stdout:
        if out.json_mode:
            out.data({**facts, "sealed": sealed.decode("ascii").strip()})
        else:
            sys.stdout.write(sealed.decode("ascii"))
            sys.stdout.flush()
        return 0
    out.data({**facts, "file": str(path)})
    out.line(f"{binding.label}: the {token.broker} token is sealed in {path} (mode 0600)")
    if removed:
        out.line("  the token here was deleted (not revoked): only the importing machine "
                 "holds it now")
    out.line(f"  open it where it runs: brokerauth import {path.name} --profile PROFILE"
             f"{binding.user_option} --key-env NAME (or --key-file PATH)")
    return 0
