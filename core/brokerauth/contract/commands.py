"""The ``brokerauth`` commands that hints tell a person to run, spelled in one place.

A hint is pasted into a shell, often at the worst moment, so it must name the very profile and
user it is about (a command without ``--user`` acts on the profile's own user, who may be
someone else) and must stay one harmless command whatever the names hold: a user name comes
from whoever logged in, or from a shared store's listing, so each name is shell-quoted.
Plain names (letters, digits, ``-``, ``_``, ``.``, ``@``) come out as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from brokerauth.contract.tokens import TokenKey


#: The characters ``shlex.quote`` leaves a name as it is for.
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")


def _quoted(name: str) -> str:
    """``shlex.quote(name)``; a plain name is returned without importing shlex, which would
    cost ``brokerauth sign`` half a millisecond of start-up for a hint it builds anyway."""
    if name and all(c in _PLAIN for c in name):
        return name
    import shlex

    return shlex.quote(name)


def command(verb: str, profile: str, user: str | None = None) -> str:
    """``brokerauth VERB PROFILE [--user USER]``, names quoted for a POSIX shell; without
    ``user`` the command is about the profile's own user."""
    return f"brokerauth {verb} {_quoted(profile)}{user_option(user)}"


def user_option(user: str | None) -> str:
    """`` --user USER`` (quoted) for a command about ``user``, ``""`` for ``None``."""
    return "" if user is None else f" --user {_quoted(user)}"


def for_key(verb: str, key: TokenKey) -> str:
    """The command acting on the token stored under ``key``.  Stores do not know which user
    is a profile's own, so the user is always spelled out: that is never wrong."""
    return command(verb, key.profile, key.identity)
