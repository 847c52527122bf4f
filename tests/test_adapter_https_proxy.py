"""The httpx adapter behind an HTTPS proxy (``httpx.Client(proxy=...)``, the corporate set-up).

httpcore opens a tunnel with a ``CONNECT host:port`` request that carries the request's own
extensions, the adapter's redirect guard among them: the guard must let the CONNECT pass (it is
no redirect), and must still be there for the request sent in the tunnel and for any redirect
that request gets (the proxy's ``200 Connection established`` is not the request's answer).

Real parts only: a loopback CONNECT proxy that pipes bytes, a loopback TLS server with a
certificate made for this test, and a recording server as the other origin.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from brokerauth.adapters import httpx_auth
from brokerauth.contract.errors import OriginError
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.server import RecordingServer
from brokerauth_sandbox.tls import loopback_certificate

# The profiles here are Webull profiles: the core's tests run without the plugin too.
pytest.importorskip("brokerauth_webull")

try:
    import cryptography  # noqa: F401 - the TLS server's certificate is made with it
except ModuleNotFoundError:  # pragma: no cover - the [test] extra brings it
    if os.environ.get("CI"):
        raise
    pytest.skip("cryptography is needed for the TLS server", allow_module_level=True)

#: No connection through the proxy lives longer than this, whatever the client does.
PIPE_LIMIT = 10.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1 (files: key, certificate; and its PEM)."""
    key_pem, pem = loopback_certificate("brokerauth proxy test")
    folder = tmp_path_factory.mktemp("tls")
    key_file, cert_file = folder / "key.pem", folder / "cert.pem"
    key_file.write_bytes(key_pem)
    cert_file.write_bytes(pem)
    return key_file, cert_file, pem.decode("ascii")


class TlsServer:
    """HTTPS on 127.0.0.1: ``/ok`` answers 200, ``/away`` a 302 to :attr:`location`; every
    request's path is kept in :attr:`paths`."""

    def __init__(self, key_file: Path, cert_file: Path) -> None:
        self.paths: list[str] = []
        self.location = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.paths.append(self.path)
                if self.path.startswith("/away"):
                    self.send_response(302)
                    self.send_header("Location", owner.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class ConnectProxy:
    """A forward proxy on 127.0.0.1 that only tunnels: ``CONNECT host:port`` opens a pipe to
    that address; any other request is kept in :attr:`others` and answered 502.  Each request
    line received is kept in :attr:`lines`."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.others: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        started = time.monotonic()
        client.settimeout(PIPE_LIMIT)
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = client.recv(4096)
                if not data:
                    return
                head += data
            line = head.split(b"\r\n", 1)[0]
            self.lines.append(line)
            method, target, _ = line.split(b" ", 2)
            if method != b"CONNECT":
                self.others.append(head)
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
                return
            host, _, port = target.rpartition(b":")
            with socket.create_connection((host.decode("ascii"), int(port)), timeout=5) as up:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    up.sendall(rest)
                self._pipe(client, up, started)

    def _pipe(self, client: socket.socket, up: socket.socket, started: float) -> None:
        while not self.stopping.is_set() and time.monotonic() - started < PIPE_LIMIT:
            ready, _, _ = select.select([client, up], [], [], 0.1)
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (up if source is client else client).sendall(data)

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        self.acceptor.join(5)
        for thread in self.threads:
            thread.join(PIPE_LIMIT + 1)


@pytest.fixture
def tls(certificate: tuple[Path, Path, str]) -> Iterator[TlsServer]:
    server = TlsServer(certificate[0], certificate[1])
    yield server
    server.close()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _home(token_home: Path) -> Path:
    return token_home


def _profile(base_url: str) -> Profile:
    # Webull without 2FA: every request is signed (the signature is what the guard protects),
    # and no token server is needed.
    return Profile.from_mapping("wb", {
        "broker": "webull", "base_url": base_url, "two_factor": "off",
        "app_key": Secret.from_value("proxy-test-key"),
        "app_secret": Secret.from_value("proxy-test-secret"),
    })


def _get(mode: str, url: str, *, base_url: str, proxy: str, pem: str) -> httpx.Response:
    auth = httpx_auth(_profile(base_url))
    verify = ssl.create_default_context(cadata=pem)
    if mode == "sync":
        with httpx.Client(auth=auth, proxy=proxy, verify=verify, follow_redirects=True,
                          timeout=5) as client:
            return client.get(url)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, proxy=proxy, verify=verify,
                                     follow_redirects=True, timeout=5) as client:
            return await client.get(url)

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_request_through_an_https_proxy_is_sent_and_signed(
    mode: str, tls: TlsServer, proxy: ConnectProxy, certificate: tuple[Path, Path, str],
) -> None:
    response = _get(mode, tls.base_url + "/openapi/account/list?page=1",
                    base_url=tls.base_url, proxy=proxy.url, pem=certificate[2])
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert response.request.headers["x-app-key"] == "proxy-test-key"
    assert "x-signature" in response.request.headers
    assert proxy.lines == [f"CONNECT 127.0.0.1:{tls.port} HTTP/1.1".encode("ascii")]
    assert tls.paths == ["/openapi/account/list?page=1"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_redirect_elsewhere_through_an_https_proxy_is_refused(
    mode: str, tls: TlsServer, proxy: ConnectProxy, recorder: RecordingServer,
    certificate: tuple[Path, Path, str],
) -> None:
    # The guard must outlive the proxy's "200 Connection established": the tunnelled request's
    # 302 is the first answer of the request itself.
    tls.location = recorder.base_url + "/steal"
    with pytest.raises(OriginError) as caught:
        _get(mode, tls.base_url + "/away", base_url=tls.base_url, proxy=proxy.url,
             pem=certificate[2])
    assert caught.value.origin == recorder.base_url
    assert tls.paths == ["/away"]
    assert proxy.others == []  # nothing went towards the other origin, not even to the proxy
    assert recorder.seen == []
