"""The ``brokerauth`` command line.

Each command lives in its own module and is imported only when run, so a command that needs
no network starts fast.  Exit codes: 0 success, 1 unexpected failure, 2 a usage or profile
mistake, 3 a token or login problem, 4 the broker or the network failed.

``brokerauth --version`` reads the installed distributions' metadata, imports no plugin;
``brokerauth completion SHELL`` prints a completion script (:mod:`brokerauth.cli.completion_cmd`).
A command that acts on one profile takes it as its first argument or as ``-p PROFILE``, and
otherwise from ``$BROKERAUTH_PROFILE`` (:func:`brokerauth.cli.common.settle_profile`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from brokerauth.cli.output import Output

if TYPE_CHECKING:
    from brokerauth.contract.errors import BrokerAuthError

#: command name -> (module under brokerauth.cli, one-line help).  Other distributions add
#: commands through the entry-point group ``brokerauth.commands`` (name -> a module with
#: ``HELP``, ``add_arguments(parser)`` and ``run(args, out)``): the test bench adds
#: ``sandbox`` and ``demo`` that way.
COMMANDS: dict[str, tuple[str, str]] = {
    "plugins": ("plugins_cmd", "list installed plugins, their brokers and strategies"),
    "profiles": ("profiles_cmd", "list profiles and check each one"),
    "init": ("init_cmd", "write a profile, from flags or interactively"),
    "sign": ("sign_cmd", "print the headers a request would carry (debug signatures)"),
    "login": ("login_cmd", "run the profile's login flow now and store the token"),
    "status": ("status_cmd", "each profile's token state and time left"),
    "refresh": ("refresh_cmd", "refresh the profile's token now"),
    "logout": ("logout_cmd", "revoke (where possible) and delete the profile's token"),
    "request": ("request_cmd", "send one authenticated request and print the answer"),
    "export": ("export_cmd", "seal the stored token with a key, to provision a container"),
    "import": ("import_cmd", "open a sealed token and store it in a profile's store"),
    "keepalive": ("keepalive_cmd", "push back credentials that end soon; report what needs a "
                  "person (for cron)"),
    "users": ("users_cmd", "list a profile's stored identities, their state and horizons"),
    "completion": ("completion_cmd", "print a shell completion script (bash, zsh or fish)"),
}
#: command name -> real invocations shown under "examples:" in its --help.  Kept here, beside
#: the names, so that every command has some, whoever owns its module; an extension command
#: may give its own as ``EXAMPLES`` in its module.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "plugins": ("brokerauth plugins", "brokerauth plugins --json",
                "brokerauth plugins --traceback"),
    "profiles": ("brokerauth profiles", "brokerauth profiles live",
                 "brokerauth profiles --names"),
    # Broker ids come from the plugins (`brokerauth plugins`): the core names none.
    "init": ("brokerauth init", "brokerauth init live --broker BROKER --secret app_key=APP_KEY "
             "--secret app_secret=APP_SECRET"),
    "sign": ("brokerauth sign live GET /openapi/account/list",
             "brokerauth sign -p live POST /orders --data '{\"qty\": 1}' --explain",
             "BROKERAUTH_PROFILE=live brokerauth sign GET /quotes --timestamp 1704164645 "
             "--nonce n1"),
    "login": ("brokerauth login live", "brokerauth login live --no-browser",
              "brokerauth login platform --user alice"),
    "status": ("brokerauth status", "brokerauth status live", "brokerauth status --json"),
    "refresh": ("brokerauth refresh live", "BROKERAUTH_PROFILE=live brokerauth refresh"),
    "logout": ("brokerauth logout live", "brokerauth logout live --no-revoke"),
    "request": ("brokerauth request live GET /openapi/account/list",
                "brokerauth request live GET /quotes --param symbol=AAPL -H 'x-version: v3'",
                "brokerauth request -p live POST /orders --data '{\"qty\": 1}' --json"),
    "export": ("brokerauth export live --key-env SEAL_KEY -o live.sealed",
               "brokerauth export live --key-file ~/.seal-key --move > live.sealed"),
    "import": ("brokerauth import live.sealed --profile live --key-env SEAL_KEY",
               "brokerauth import - -p live --key-env SEAL_KEY --keep-newer < live.sealed"),
    "keepalive": ("brokerauth keepalive", "brokerauth keepalive live --within 12h",
                  "brokerauth keepalive --all-users --json"),
    "users": ("brokerauth users platform", "brokerauth users platform --expiring 3d --json"),
    "completion": ("brokerauth completion bash > ~/.local/share/bash-completion/completions/"
                   "brokerauth", "brokerauth completion zsh > \"${fpath[1]}/_brokerauth\"",
                   "brokerauth completion fish > ~/.config/fish/completions/brokerauth.fish"),
}
COMMAND_GROUP = "brokerauth.commands"
#: Commands another distribution of the project adds, and which one: named when missing.
OPTIONAL_COMMANDS = {"sandbox": "brokerauth-sandbox", "demo": "brokerauth-sandbox"}

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_TOKEN, EXIT_REMOTE = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one JSON document on stdout under
    ``--json`` (``{"error": {"type": "UsageError", ...}}``), as every other error is: a
    script reading stdout gets one document whatever went wrong."""

    json_mode = False

    def error(self, message: str) -> NoReturn:
        if not _Parser.json_mode:
            super().error(message)
        Output(json_mode=True).error(message, f"see `{self.prog} --help`", kind="UsageError")
        self.exit(EXIT_CONFIG)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command``, only that command (the others' modules are
    not imported, nor their parsers built), so one command starts without the rest."""
    parser = _Parser(
        prog="brokerauth",
        description="Sign, obtain, refresh and store credentials for broker APIs.",
        formatter_class=_HelpFormatter,
    )
    _add_common(parser, None)
    parser.add_argument("--version", action="store_true",
                        help="print the version of brokerauth and of each installed plugin")
    # The same options after the command; SUPPRESS keeps a subcommand from resetting what was
    # given before it.
    common = _Parser(add_help=False, formatter_class=_HelpFormatter)
    _add_common(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _command_modules(command).items():
        subparser = sub.add_parser(name, help=help_text, description=help_text,
                                   epilog=examples_text(name, module),
                                   parents=[common], formatter_class=_HelpFormatter)
        module.add_arguments(subparser)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    raise LookupError(command)


def examples_text(name: str, module: Any) -> str | None:
    """The "examples:" epilog of command ``name``'s --help."""
    examples = EXAMPLES.get(name) or getattr(module, "EXAMPLES", ())
    if not examples:
        return None
    return "examples:\n" + "\n".join(f"  {line}" for line in examples)


def _command_modules(command: str | None) -> dict[str, tuple[Any, str]]:
    """The modules of ``command`` (of every command when ``None``): the core's first, then
    the installed extensions', which are looked up only when the core has no such command."""
    found = {name: (importlib.import_module(f"brokerauth.cli.{module}"), help_text)
             for name, (module, help_text) in COMMANDS.items() if command in (None, name)}
    if command is None or command not in COMMANDS:
        for name, entry_point in extension_commands().items():
            if command in (None, name) and name not in found:
                module = entry_point.load()
                found[name] = (module, module.HELP)
    return found


def extension_commands() -> dict[str, Any]:
    """Commands other distributions add (group ``brokerauth.commands``), not imported yet."""
    from brokerauth.engine import entrypoints

    commands: dict[str, Any] = {}
    for entry_point in entrypoints.entry_points(COMMAND_GROUP):
        commands.setdefault(entry_point.name, entry_point)
    return commands


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, as wide as the terminal just as argparse makes it, but without
    importing ``shutil`` for that (argparse makes a formatter for every argument added, and
    ``shutil`` loads three compression modules: a twentieth of ``brokerauth sign``'s start).
    Descriptions and epilogs are kept as written: the examples stay one per line."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None, **kwargs: Any) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: ``$COLUMNS``, else the terminal's, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs: its first word that is not an option or the value of
    ``--profiles`` (which argparse also accepts abbreviated); ``None`` if it names none, or
    asks for the general help first (which lists every command)."""
    word = _command_word(argv)
    if word is None or word in COMMANDS:
        return word
    return word if word in extension_commands() else None


def _command_word(argv: Sequence[str]) -> str | None:
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return None
        if len(word) > 2 and "--profiles".startswith(word):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _asks_version(argv: Sequence[str]) -> bool:
    """``--version`` before any command (``brokerauth -v --version`` too)."""
    words = iter(argv)
    for word in words:
        if word == "--version":
            return True
        if len(word) > 2 and "--profiles".startswith(word):
            next(words, None)
        elif not word.startswith("-"):
            return False
    return False


def _missing_command(argv: Sequence[str]) -> str | None:
    word = _command_word(argv)
    return word if word in OPTIONAL_COMMANDS else None


def _versions() -> tuple[str, list[tuple[str, str, list[str]]]]:
    """brokerauth's version, then each distribution that adds plugins or commands: its name,
    version and entry point names, from the metadata only, no plugin imported."""
    from brokerauth import __version__
    from brokerauth.engine import entrypoints

    found: dict[str, tuple[str, list[str]]] = {}
    for group in ("brokerauth", COMMAND_GROUP):
        for entry_point in entrypoints.entry_points(group):
            dist = entry_point.dist
            name, version = (dist.name, dist.version) if dist is not None else ("?", "?")
            if name.lower().replace("_", "-") == "brokerauth":
                continue
            found.setdefault(name, (version, []))[1].append(entry_point.name)
    return __version__, [(name, version, sorted(set(points)))
                         for name, (version, points) in sorted(found.items())]


def _print_versions(json_mode: bool) -> None:
    """``brokerauth VERSION`` and a line for each distribution, or (``--json``) one document:
    ``{"brokerauth": ..., "distributions": [{"name", "version", "entry_points"}]}``."""
    own, distributions = _versions()
    output = Output(json_mode=json_mode)
    output.data({"brokerauth": own, "distributions": [
        {"name": name, "version": version, "entry_points": points}
        for name, version, points in distributions]})
    # Names from the installed distributions' metadata: shown, never obeyed.
    output.line(f"brokerauth {own}")
    for name, version, points in distributions:
        output.line(f"{name} {version} ({', '.join(points)})")


def _add_common(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--profiles", metavar="FILE", help="profiles file to use",
                        default=default)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts",
                        default=default if default is argparse.SUPPRESS else False)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level",
                        default=default if default is argparse.SUPPRESS else False)


#: The exit code of a command whose reader went away (``brokerauth ... | head``): what a shell
#: reports for a process ended by SIGPIPE, 128 + 13.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; a reader that went away (``| head -0``) ends it quietly with
    :data:`EXIT_BROKEN_PIPE`, as a well-behaved command ends, not with a traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, where it can be caught, not at the interpreter's exit
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _silence_stdout() -> None:
    """Python's recipe for SIGPIPE: what is still buffered for the closed pipe is thrown
    away (stdout made /dev/null), so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no stdout, or not a file
        pass


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_in(argv)
    if command is None and _asks_version(argv):
        _print_versions(json_mode="--json" in argv)
        return EXIT_OK
    if command is None and (missing := _missing_command(argv)):
        Output(json_mode="--json" in argv).error(
            f"`brokerauth {missing}` comes with {OPTIONAL_COMMANDS[missing]}, which is not "
            "installed", f"pip install {OPTIONAL_COMMANDS[missing]}", kind="PluginError")
        return EXIT_CONFIG
    _Parser.json_mode = "--json" in argv
    parser = build_parser(command)
    args, extras = parser.parse_known_args(argv)
    if extras and hasattr(args, "profile_option"):
        from brokerauth.cli.common import regroup_positionals

        extras = regroup_positionals(_subparser(parser, args.command), args, extras)
    if extras:  # as parse_args says it, with the command's own usage
        chosen = _subparser(parser, args.command) if args.command else parser
        chosen.error(f"unrecognized arguments: {' '.join(extras)}")
    if not args.command:
        parser.print_help()
        return EXIT_CONFIG
    if args.verbose:
        import logging

        from brokerauth.toolkit.logs import quiet_http_logs

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        # urllib3 logs each request target, query (signatures, tokens, parameters) included.
        quiet_http_logs()
    # Without -v, logging is not even imported unless something logs: Python's last-resort
    # handler then prints warnings and errors to stderr, which is all a command needs.
    out = Output(json_mode=args.json)
    module = _command_modules(args.command)[args.command][0]
    try:
        if hasattr(args, "profile_option"):
            from brokerauth.cli.common import settle_profile

            settle_profile(args, _subparser(parser, args.command))
        code: int = module.run(args, out)
    except KeyboardInterrupt:
        out.error("interrupted", None, kind="Interrupted")
        return 130
    except BrokenPipeError:
        raise  # the reader went away: nothing to report, and no one to report it to
    except Exception as exc:
        return _report(_named_by_variable(exc, args), out, verbose=args.verbose)
    return code


def _named_by_variable(exc: Exception, args: argparse.Namespace) -> Exception:
    """``exc``, saying so when the profile it did not find was named by $BROKERAUTH_PROFILE
    (set long ago, in a shell's startup file), which the command line did not show."""
    from brokerauth.cli.common import PROFILE_ENV
    from brokerauth.contract.errors import UnknownProfileError

    if (isinstance(exc, UnknownProfileError) and getattr(args, "profile_from_env", False)
            and exc.name == args.profile):
        return UnknownProfileError(
            f"{exc.message}; the name comes from ${PROFILE_ENV}", name=exc.name,
            hint=f"fix or unset {PROFILE_ENV}, or name the profile on the command line"
            + (f"; {exc.hint}" if exc.hint else ""))
    return exc


def _report(exc: Exception, out: Output, *, verbose: bool) -> int:
    from brokerauth.contract import errors

    if not isinstance(exc, errors.BrokerAuthError):
        if verbose:
            raise exc
        out.error(f"unexpected {type(exc).__name__}: {exc}",
                  "run again with --verbose for the traceback, and report it",
                  kind=type(exc).__name__)
        return EXIT_FAILURE
    # Not an error's login_url: it belongs to a pending login this process ends with (its
    # state is waited for by no one), so opening it could not finish anything; the hint says
    # which command logs in.
    out.error(exc.message, exc.hint, kind=type(exc).__name__)
    return exit_code_of(exc)


def exit_code_of(exc: BrokerAuthError) -> int:
    """The command line's exit code for ``exc``: 2 a profile, plugin, request or store
    problem; 3 a token a person must renew; 4 the broker or the network, or a refresh that
    cannot happen now (try again later)."""
    from brokerauth.contract import errors

    if isinstance(exc, errors.ConfigError | errors.PluginError | errors.RequestError):
        return EXIT_CONFIG
    if isinstance(exc, errors.RefreshError | errors.RateLimitError):
        # Not "log in again", which a cron job pages a person for: the broker or the way to
        # it failed (the cause says which), another process holds the lock, or the broker's
        # token-request limit is spent.  A refused refresh token is a LoginRequiredError.
        cause = exc.__cause__
        if isinstance(cause, errors.BrokerAuthError):
            return exit_code_of(cause)
        return EXIT_REMOTE
    if isinstance(exc, errors.TokenError | errors.AuthenticationError):
        return EXIT_TOKEN
    if isinstance(exc, errors.StoreError):
        return EXIT_CONFIG
    return EXIT_REMOTE


if __name__ == "__main__":
    raise SystemExit(main())
