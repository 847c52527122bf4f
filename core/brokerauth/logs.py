"""Loggers made on first use.

Importing :mod:`logging` costs several milliseconds of start-up (it brings in threading and
string formatting); a command that never logs, such as ``brokerauth sign``, need not pay it.
Modules on that path ask for their logger where they log, which is rare and never per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def logger(name: str) -> logging.Logger:
    import logging

    return logging.getLogger(name)
