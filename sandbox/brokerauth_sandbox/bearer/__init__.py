"""The bearer double: as little as a broker can be and still refresh (the built-in ``bearer``
signer, client credentials in the token request's body, rotating refresh tokens whose reuse
revokes the family), and an emulator of its server that counts refreshes and can hold one
open, so that a fleet of processes sharing a store shows whether it refreshed once.  The
store plugins' tests (Redis, SQL, keyring) run their sessions over it.

It is a plugin only for the tests that ask for it: installing brokerauth-sandbox registers
no broker (``brokerauth plugins`` lists none of the bench's).  :data:`INSTALLED` holds the
metadata pip would have written for it, and :func:`installed` puts that folder on the path
of the test process and of every process started meanwhile; the pytest plugin's
``bearer_double_installed`` fixture (a module's tests) and ``bearer_double`` (a started
emulator on the test's manual clock) do it for a test.  Helpers for tokens and fleets of
sessions over it: :mod:`brokerauth_sandbox.bearer.helpers`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BROKER", "INSTALLED", "installed"]

#: The broker id the double registers, in the entry-point groups ``brokerauth`` and
#: ``brokerauth.sandbox``.
BROKER = "bearer_double"
#: The folder holding the double's ``.dist-info``: on ``sys.path``, it makes the double an
#: installed plugin.
INSTALLED = Path(__file__).resolve().parent / "entry-points"


@contextmanager
def installed(*also: Path) -> Iterator[None]:
    """The bearer double an installed plugin, in this process and in every process started
    meanwhile (``$PYTHONPATH``), with the folders ``also`` (the tests' own, for the modules
    a spawned worker imports) on their path too; ``sys.path`` and ``$PYTHONPATH`` are put
    back after."""
    import importlib
    import sys

    folders = [str(INSTALLED), *map(str, also)]
    before_path, before_variable = list(sys.path), os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*folders, *filter(None, [before_variable])])
    sys.path[:0] = folders
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = before_path
        if before_variable is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before_variable
        importlib.invalidate_caches()
