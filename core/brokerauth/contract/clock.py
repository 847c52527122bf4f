"""The clock brokerauth reads, and the machine's.

Every component that reads the time takes a :class:`Clock`, so tests advance time instead of
sleeping and a sandbox server can share the test's clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """The time source brokerauth reads."""

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a manual clock advances itself instead."""
        ...


def utc_text(moment: datetime) -> str:
    """``moment`` as RFC 3339 text in UTC (``2026-12-02T10:00:00+00:00``), as brokerauth
    writes every time it records or reports; a naive time is read as UTC, which the contract
    says every time is."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"
