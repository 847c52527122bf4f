"""Code run in child processes by the multi-process tests (imported by name after spawn)."""

from __future__ import annotations

import os
from typing import Any


def refresh_forever(profile: Any, home: str) -> None:
    """Start a refresh (the sandbox holds it open) while holding the store's lock."""
    os.environ["BROKERAUTH_HOME"] = home
    import brokerauth

    brokerauth.session(profile).get("/api/me")
