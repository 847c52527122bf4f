"""How a token flow talks to the person at the keyboard, if there is one.

A flow never prints: it calls an :class:`Interaction`.  The command line supplies one that
draws countdowns and opens browsers; scripts run at a terminal get :class:`LogInteraction`;
a process no one can act in (no terminal, or ``interactive=False``) gets :class:`NoOneThere`,
so a flow that needs a person fails at once instead of waiting for one.  A flow that needs a
person asks :func:`someone_present` before it does anything at the broker.

A flow that waits for an authorization redirect (the loopback listener) announces it with
:func:`announce_redirect` while it waits; an interaction that did not open a browser may offer
the person to paste the redirected address instead (:class:`RedirectReceiver`), so a login
whose browser runs on another machine still ends.  The flow itself does not change.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from brokerauth.contract.errors import LoginRequiredError

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

LOGGER = "brokerauth.contract.interaction"


@runtime_checkable
class Waiting(Protocol):
    """Shown while a flow waits; used as a context manager."""

    def __enter__(self) -> Waiting: ...

    def __exit__(self, *exc: object) -> None: ...

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        """A new status line while waiting (``deadline`` drives a countdown)."""
        ...


@runtime_checkable
class Interaction(Protocol):
    """What a flow may ask of the person. An implementation may also have ``present = False``
    to say that no one can act (see :func:`someone_present`)."""

    def say(self, message: str) -> None:
        """Tell the user something they must read or act on (never a secret)."""
        ...

    def open_url(self, url: str) -> None:
        """Show the user a URL they must visit (authorization page); may open a browser."""
        ...

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Waiting:
        """A context manager shown while the flow waits for the user or the server."""
        ...


@runtime_checkable
class RedirectReceiver(Protocol):
    """A wait for an authorization redirect that a person may also end by pasting the address
    the browser shows after approving (when the redirect cannot reach this machine)."""

    @property
    def redirect_uri(self) -> str:
        """The redirect the browser is sent to (public: no code, no state)."""
        ...

    @property
    def pending(self) -> bool:
        """Whether it still waits (no callback accepted, no error, not closed)."""
        ...

    def accept_pasted(self, url: str) -> None:
        """Judge ``url`` exactly as an arriving redirect is judged.  Returns when it ended the
        wait (its code taken, or the server's ``error=`` with this login's state, which the
        flow's wait then raises).

        :raises ~brokerauth.contract.errors.BrokerAuthError: refused; its message and hint are
            safe to show (never the URL).  If :attr:`pending` is still true, another paste is
            welcome; else the refusal was the last one allowed and the flow's wait fails.
        """
        ...

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, from any thread, when the wait ends (at once if it has)."""
        ...


_ANNOUNCED: ContextVar[RedirectReceiver | None] = ContextVar(
    "brokerauth_announced_redirect", default=None
)


def announce_redirect(receiver: RedirectReceiver) -> None:
    """Name the redirect the current flow waits for, until :func:`withdraw_redirect`.

    A context variable, not a global: two logins in two threads each see their own."""
    _ANNOUNCED.set(receiver)


def withdraw_redirect(receiver: RedirectReceiver) -> None:
    """The flow no longer waits for ``receiver`` (another announced since is left alone)."""
    if _ANNOUNCED.get() is receiver:
        _ANNOUNCED.set(None)


def announced_redirect() -> RedirectReceiver | None:
    """The redirect the current flow still waits for, if any."""
    receiver = _ANNOUNCED.get()
    return receiver if receiver is not None and receiver.pending else None


class _LogWaiting:
    def __init__(self, message: str) -> None:
        self.message = message

    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        logger(LOGGER).info("%s: %s", self.message, status)

    def __enter__(self) -> _LogWaiting:
        logger(LOGGER).info("%s", self.message)
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class LogInteraction:
    """For scripts and servers: messages go to the ``brokerauth`` logger at INFO (and WARNING
    for what the user must act on); URLs are logged, and opened when ``open_browser`` is set."""

    def __init__(self, *, open_browser: bool = False) -> None:
        self.open_browser = open_browser

    def say(self, message: str) -> None:
        logger(LOGGER).warning("%s", message)

    def open_url(self, url: str) -> None:
        logger(LOGGER).warning("open this URL to continue: %s", url)
        if self.open_browser:
            import webbrowser  # only here: it is slow to import and rarely used

            webbrowser.open(url)

    def waiting(self, message: str, *, deadline: datetime | None = None) -> _LogWaiting:
        return _LogWaiting(message)


class NoOneThere:
    """For a run in which no one can act: messages are logged, and a flow that needs a person
    (a URL to open, a code to wait for) gets :class:`LoginRequiredError` at once, naming the
    command that logs in."""

    present = False

    def __init__(self, *, profile: str, identity: str, default_identity: str) -> None:
        self.profile = profile
        self.identity = identity
        self.default_identity = default_identity

    def error(self) -> LoginRequiredError:
        from brokerauth.contract.commands import command

        own = self.identity == self.default_identity
        return LoginRequiredError(
            f"{self.profile}/{self.identity}: logging in needs a person, and no one can act in "
            "this run (no terminal, or interactive=False)",
            hint=f"run `{command('login', self.profile, None if own else self.identity)}` at a "
            "terminal, then run this again",
        )

    def say(self, message: str) -> None:
        logger(LOGGER).warning("%s", message)

    def open_url(self, url: str) -> None:
        raise self.error()

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Waiting:
        raise self.error()


def someone_present(interaction: Interaction) -> bool:
    """Whether a person can act through ``interaction`` (an interaction that does not say is
    taken to have one)."""
    return bool(getattr(interaction, "present", True))


def require_person(interaction: Interaction) -> None:
    """Raise at once, before anything is sent, when no one can act through ``interaction``."""
    if not someone_present(interaction):
        error = getattr(interaction, "error", None)
        raise error() if callable(error) else LoginRequiredError(
            "logging in needs a person, and no one can act in this run",
            hint="run `brokerauth login PROFILE` at a terminal",
        )


def has_terminal() -> bool:
    """Whether this process has a person at a terminal: its standard input is one."""
    import sys

    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def logger(name: str) -> logging.Logger:
    import logging  # on first use: a command that never logs does not pay for it

    return logging.getLogger(name)
