"""What several commands share: opening a session the way the command line does."""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from brokerauth.engine.sessions import Session


#: The profile a command acts on when its command line names none.
PROFILE_ENV = "BROKERAUTH_PROFILE"


def add_profile_argument(
    parser: argparse.ArgumentParser, *, positional: bool = True, optional: bool = False,
    user: str | None = "the identity (platform user) to act for",
    help: str = "the profile's name (see `brokerauth profiles`)",
) -> None:
    """The command's profile, given as its first argument (``positional``) or ``-p PROFILE``,
    else ``$BROKERAUTH_PROFILE``; :func:`settle_profile` puts the one chosen in
    ``args.profile``.  An ``optional`` profile (a command that otherwise looks at every
    profile) takes no default from the variable.  ``user``: the help of ``--user``, if any."""
    where = "" if optional else f"; default ${PROFILE_ENV}"
    if positional:
        parser.add_argument("profile", nargs="?", metavar="PROFILE", help=f"{help}{where}")
    parser.add_argument("-p", "--profile", dest="profile_option", metavar="PROFILE",
                        help=f"{help} (instead of the argument){where}" if positional
                        else f"{help}{where}")
    parser.set_defaults(profile_optional=optional, profile_positional=positional)
    if user is not None:
        parser.add_argument("--user", help=user)


def regroup_positionals(parser: argparse.ArgumentParser, args: argparse.Namespace,
                        extras: list[str]) -> list[str]:
    """Place the words argparse left over (``extras``) when an optional profile came before an
    option: ``request live -H 'a: b' GET /x`` gives argparse ``live`` alone first, which it
    takes for the method, as no profile is required.  The command's single-word positionals
    are filled again from their values and ``extras``, in order, the profile taken from the
    first word only when every one has a word.  Returns the words beyond the last one."""
    if any(word.startswith("-") for word in extras):
        return extras
    slots = [a for a in parser._actions if not a.option_strings]
    if not slots or slots[0].dest != "profile" or any(a.nargs not in (None, "?") for a in slots):
        return extras
    words = [getattr(args, a.dest) for a in slots if getattr(args, a.dest) is not None]
    words += extras
    if len(words) == len(slots) - 1:
        slots = slots[1:]
        args.profile = None
    if len(words) < len(slots):
        return extras
    for action, word in zip(slots, words, strict=False):
        setattr(args, action.dest, word)
    return words[len(slots):]


def settle_profile(args: argparse.Namespace,
                   parser: argparse.ArgumentParser | None = None) -> None:
    """``args.profile``: the argument, else ``-p``, else ``$BROKERAUTH_PROFILE``; both given
    and different, or none at all where one is needed, is a :class:`ConfigError`.  So is a
    command line one word short whose words, moved up by one, start with a profile's name
    (see :func:`_refuse_shifted`; ``parser``: the command's, which names its arguments)."""
    from brokerauth.contract.errors import ConfigError

    given = getattr(args, "profile", None) if args.profile_positional else None
    option = args.profile_option
    if given and option and given != option:
        raise ConfigError(f"two profiles given: {given!r} and -p {option!r}",
                          hint="name the profile once, as the argument or with -p")
    name = given or option
    args.profile_from_env = False
    if not name and not args.profile_optional:
        name = os.environ.get(PROFILE_ENV) or None
        args.profile_from_env = name is not None
    if parser is not None and not given and args.profile_positional:
        _refuse_shifted(parser, args, name, "-p" if option else f"${PROFILE_ENV}")
    if not name and not args.profile_optional:
        command = getattr(args, "command", None) or "COMMAND"
        how = (f"as the first argument (`brokerauth {command} PROFILE ...`) or with -p "
               "PROFILE" if args.profile_positional else "with -p PROFILE")
        raise ConfigError(
            "no profile given",
            hint=f"name it {how}, or set {PROFILE_ENV}=PROFILE for every command "
            "(`brokerauth profiles` lists them)")
    args.profile = name


#: First words that are never a profile's name forgotten in front of them: HTTP methods (what
#: `sign` and `request` take after the profile), so that their usual command line reads no file.
_NEVER_A_PROFILE = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _refuse_shifted(parser: argparse.ArgumentParser, args: argparse.Namespace,
                    profile: str | None, source: str) -> None:
    """With the profile left out (``-p`` or ``$BROKERAUTH_PROFILE`` gives it), argparse fills
    the command's other arguments from the words given.  When those words start with a
    profile's name (``sign live GET``, its URL forgotten), the person meant that profile and
    forgot a word: taken as written, the command would sign method ``live`` for URL ``GET``
    with another profile, silently.  Refused, saying how the words were read."""
    from brokerauth.contract.errors import ConfigError

    slots = [a for a in parser._actions if not a.option_strings]
    if len(slots) < 2 or slots[0].dest != "profile":
        return
    rest = slots[1:]
    words = [getattr(args, a.dest, None) for a in rest]
    first = words[0]
    if not isinstance(first, str) or first.upper() in _NEVER_A_PROFILE:
        return
    from brokerauth.engine.profiles import load_profiles

    try:
        if first not in load_profiles(args.profiles):
            return
    except ConfigError:
        return  # the command itself reports what is wrong with the file
    read = ", ".join(f"{_label(a).upper()} {w!r}" for a, w in zip(rest, words, strict=True)
                     if w is not None)
    by = f"the profile {profile!r} from {source}" if profile else "no profile"
    command = getattr(args, "command", None) or "COMMAND"
    wanted = " ".join(_label(a).upper() for a in rest)
    raise ConfigError(
        f"{first!r} is a profile, but it was read as the {_label(rest[0])} "
        f"({by}, {read}): is a word missing?",
        hint=f"give every argument: `brokerauth {command} {first} {wanted}`"
        + (f", or `brokerauth {command} -p {profile} {wanted}`" if profile else ""))


def _label(action: argparse.Action) -> str:
    return action.metavar if isinstance(action.metavar, str) else action.dest


def open_session(
    args: argparse.Namespace, *, browser: bool = True, login: bool = False
) -> Session:
    """A session for the command's profile. Only ``brokerauth login`` (``login``), or a
    command run at a terminal, may start a login that needs the person; any other run (cron,
    a service, a pipe) fails at once with the command to run instead of waiting for no one."""
    from brokerauth.cli.terminal import TerminalInteraction
    from brokerauth.contract.interaction import has_terminal
    from brokerauth.engine.api import session

    return session(
        args.profile,
        user=args.user,
        profiles=args.profiles,
        interaction=TerminalInteraction(open_browser=browser),
        interactive=login or has_terminal(),
    )


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


def moment_text(when: datetime | None, now: datetime) -> str:
    """``when`` for a person: local time to the minute and how far off, e.g.
    ``2026-12-04 15:20 (in 3d 4h)`` or ``2026-11-30 09:00 (2d 1h ago)``; ``-`` for none."""
    if when is None:
        return "-"
    local = when.astimezone().strftime("%Y-%m-%d %H:%M")
    seconds = (when - now).total_seconds()
    if seconds >= 0:
        return f"{local} (in {seconds_text(seconds)})"
    return f"{local} ({seconds_text(-seconds)} ago)"


def port_number(text: str) -> int:
    """A TCP port given on the command line (argparse ``type``): 0 (any free port) to 65535;
    anything else is a usage error that says the range, not an ``OverflowError`` at bind."""
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give a number from 1 to 65535, or 0 for a free one")
    return port


def duration(text: str) -> timedelta:
    """A window given on the command line: ``3d``, ``12h``, ``90m``, ``30s`` or seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        amount = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; write e.g. 3d, 12h, 90m or 30s") from None
    if not 0 <= amount <= 3650 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range")
    return timedelta(seconds=amount * (scale or 1))


#: The methods broker APIs use; anything else given on the command line is taken for a typo.
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def http_method(text: str) -> str:
    """``text`` as an HTTP method (upper-cased), refused unless it is one broker APIs use:
    a typo (``GTE``) would otherwise be signed and sent."""
    method = text.upper()
    if method in HTTP_METHODS:
        return method
    import difflib

    from brokerauth.contract.errors import ConfigError
    from brokerauth.contract.scrub import terminal_text

    close = difflib.get_close_matches(method, HTTP_METHODS, n=1)
    guess = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(f"{terminal_text(text)!r} is not an HTTP method{guess}",
                      hint=f"use one of {', '.join(HTTP_METHODS)}")
