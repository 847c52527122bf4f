"""A real redis-server on loopback for the tests, and small helpers around it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from brokerauth_sandbox.bearer.helpers import make_token

__all__ = ["FALLBACK_PATHS", "INSTALL_HINT", "RedisServer", "free_port", "make_token",
           "redis_server_binary", "redis_store"]

INSTALL_HINT = (
    "redis-server is not installed, and the redis store's tests need a real one: run "
    "`apt-get install redis-server` (Debian/Ubuntu; `make test` does it when run as root)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: Where Debian puts it, for a PATH without /usr/sbin or /usr/bin (cron, some CI shells).
FALLBACK_PATHS = ("/usr/bin/redis-server", "/usr/sbin/redis-server")


def redis_server_binary() -> str:
    """The path of redis-server; fails the test (never skips) when it is missing."""
    found = shutil.which("redis-server") or next(
        (p for p in FALLBACK_PATHS if Path(p).exists()), None
    )
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


class RedisServer:
    """One redis-server process on 127.0.0.1, without persistence, in its own folder.

    ``stop()`` and ``start()`` again keep the port, to test an outage and a return.
    """

    def __init__(self, folder: Path, *, extra_args: tuple[str, ...] = ()) -> None:
        self.extra_args = extra_args
        self.binary = redis_server_binary()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        password = None
        if "--requirepass" in self.extra_args:
            password = self.extra_args[self.extra_args.index("--requirepass") + 1]
        return redis.Redis(host="127.0.0.1", port=self.port, password=password,
                           socket_timeout=2, socket_connect_timeout=2)

    def start(self, *, keep_port: bool = False) -> None:
        for _attempt in range(5):
            if self._launch():
                return
            if keep_port:
                break
            # Another program took the port between free_port() and the bind.
            self.port = free_port()
        log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")

    def _launch(self) -> bool:
        self.starts += 1
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                # No snapshot and no append-only file: nothing the tests store reaches a disk.
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
                "--logfile", str(self.folder / "redis.log"),
                "--daemonize", "no",
                *self.extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = self.client()
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                with contextlib.suppress(redis.exceptions.ConnectionError):
                    if client.ping():
                        return True
                time.sleep(0.01)
        finally:
            client.close()
        self.stop()
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def redis_store(url: str, /, **options: Any) -> dict[str, Any]:
    """A profile's ``store`` value pointing at ``url``."""
    return {"name": "redis", "url": url, **options}
