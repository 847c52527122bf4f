"""``python -m brokerauth_platform.demo`` (``make platform-demo``): the Webull Connect sandbox
and the platform app, each on a free loopback port, until Ctrl-C.

The sandbox shows its sign-in and consent page (type any Webull user id: each is a different
sandbox user with accounts of their own); the users' grants live in the SQL store, a SQLite
database in a temporary folder removed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import tomli_w
from brokerauth.contract.clock import SystemClock
from brokerauth_sandbox.emulators import profile_table
from brokerauth_webull_connect.sandbox.server import ConnectSandbox
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from brokerauth_platform.app import create_app

PROFILE = "platform"


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's request log without query strings: the callback's carries the
    authorization code, which no log may hold."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, code)


def serve(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    """``app`` served on a free port of 127.0.0.1 from a thread; ``server.shutdown()`` stops it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="platform-app", daemon=True)
    thread.start()
    return server, thread


def write_profiles(path: Path, sandbox: ConnectSandbox, store: dict[str, Any] | str,
                   name: str = PROFILE) -> dict[str, str]:
    """A profiles file for ``sandbox`` as a platform writes one (secrets as ``env``
    references, owner-only), and the environment those references need."""
    table, env = profile_table("webull_connect", sandbox.profile_settings(),
                               "BROKERAUTH_PLATFORM_")
    table["store"] = store
    path.write_text(tomli_w.dumps({"profiles": {name: table}}))
    path.chmod(0o600)
    return env


def main() -> int:
    # Ctrl-C (or a SIGTERM) only sets a flag: the stop then runs in order, never interrupted.
    # Taken over even where the caller ignored SIGINT (a job started in the background).
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    folder = Path(tempfile.mkdtemp(prefix="brokerauth-platform-"))
    folder.chmod(0o700)
    sandbox = ConnectSandbox(SystemClock()).start()  # auto_approve off: a person clicks
    server = None
    try:
        profiles = folder / "brokerauth.toml"
        app = create_app(PROFILE, profiles=profiles)
        server, _thread = serve(app)
        sandbox.redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
        store = {"name": "sql", "url": f"sqlite://{folder / 'tokens.db'}"}
        os.environ.update(write_profiles(profiles, sandbox, store))
        print(f"Webull Connect sandbox: {sandbox.base_url}")
        print(f"Platform app:           http://127.0.0.1:{server.server_port}/  <- open this")
        print("Ctrl-C stops both.", flush=True)
        while not stop.wait(0.5):
            pass
        print("\nstopping", flush=True)
        return 0
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        sandbox.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
