"""How a token flow talks to the person at the keyboard, if there is one.

A flow never prints: it calls an :class:`Interaction`.  The command line supplies one that
draws countdowns and opens browsers; scripts and servers get :class:`LogInteraction`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from brokerauth.logs import logger

LOGGER = "brokerauth.interaction"


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
    def say(self, message: str) -> None:
        """Tell the user something they must read or act on (never a secret)."""
        ...

    def open_url(self, url: str) -> None:
        """Show the user a URL they must visit (authorization page); may open a browser."""
        ...

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Waiting:
        """A context manager shown while the flow waits for the user or the server."""
        ...


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
