"""Shared values and helpers of the Futu plugin's tests (a module name no other folder uses)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

# Canary secrets: distinctive, so a test can search every log, repr and message for them.
CANARY_KEY = "canary-futu-app-key-7d1f"
CANARY_SECRET = "canary-futu-app-secret-93be0c"
CANARY_TOKEN = "canary-futu-access-token-5a2e"
CANARIES = (CANARY_SECRET, CANARY_TOKEN)


def free_port() -> int:
    """A loopback port free on 127.0.0.1 and ::1 right now."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            with socket.socket(socket.AF_INET6) as probe6:
                probe6.bind(("::1", port))
        except OSError as exc:
            if exc.errno == 98:  # taken on ::1: try another
                continue
        return port
    raise RuntimeError("no free loopback port")


def redirect_for(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}/callback"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777
