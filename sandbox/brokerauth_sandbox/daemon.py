"""What the test bench's real servers (:class:`~brokerauth_sandbox.postgres.PostgresServer`,
:class:`~brokerauth_sandbox.secretservice.SecretService`) share: each runs from a private
folder of its own, with a log file in it, and is closed for good by removing that folder.

A subclass sets :attr:`~FolderDaemon.folder` and :attr:`~FolderDaemon.log` and says how it
starts and stops; ``with`` starts it (closing it again if starting fails) and closes it.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["FolderDaemon"]

#: How much of the end of the log an error message quotes.
LOG_TAIL: int = 3000


class FolderDaemon(ABC):
    """A server (or servers) living in :attr:`folder`, logging to :attr:`log`."""

    folder: Path
    log: Path

    @abstractmethod
    def start(self) -> None:
        """Start serving (return once clients can connect)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving; the folder stays, for a later :meth:`start`."""

    def close(self) -> None:
        """Stop, and remove the folder (data, log) for good."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _log_tail(self) -> str:
        """The end of the log, for an error message."""
        try:
            return self.log.read_text(errors="replace")[-LOG_TAIL:]
        except OSError:
            return "(no log)"
