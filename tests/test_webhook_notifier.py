"""The built-in ``webhook`` notifier over real HTTP: local servers on 127.0.0.1 and ::1, each
started by the test on a free port and shut down after it.

The URL of a webhook is a secret (Slack's and Discord's carry their token in the path), so
every failure is checked for it: not in a log record, not in an exception, not in a repr.
"""

from __future__ import annotations

import http.server
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from brokerauth._version import __version__
from brokerauth.builtin.webhook import (
    LOGGER,
    WEBHOOK,
    WebhookOptions,
    WebhookPlugin,
)
from brokerauth.contract.errors import ConfigError
from brokerauth.contract.events import CredentialEvent
from brokerauth.engine.pluginhost import BUILTIN_WEBHOOK as PLUGIN_ID
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import structure_settings
from brokerauth.toolkit.converter import make_converter
from brokerauth.toolkit.secrets import Secret

SECRET_PATH = "T0KEN-in-the-path-5e1f"
SECRET_QUERY = "qUeRy-secret-77aa"
HEADER_SECRET = "Bearer header-secret-91cc"
SECRETS = (SECRET_PATH, SECRET_QUERY, HEADER_SECRET)

EVENT = CredentialEvent(
    kind="login_needed",
    profile="desk",
    identity="alice",
    broker="double",
    at=datetime(2026, 12, 1, 13, 40, 5, tzinfo=UTC),
    works_until=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
    message="the refresh token was refused; log in again",
    login_command="brokerauth login desk --user alice",
    login_url="https://login.example.com/authorize?state=s",
)
EXPECTED_BODY = {
    "profile": "desk",
    "identity": "alice",
    "broker": "double",
    "event": "login_needed",
    "at": "2026-12-01T13:40:05+00:00",
    "works_until": "2026-12-01T14:00:00+00:00",
    "must_act_by": None,
    "message": "the refresh token was refused; log in again",
    "login_command": "brokerauth login desk --user alice",
    "login_url": "https://login.example.com/authorize?state=s",
}


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


LOOPBACKS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no ::1")),
]


# --- servers ------------------------------------------------------------------------------

@attrs.frozen
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.hits.append(Hit(self.command, self.path, dict(self.headers.items()), body))
        status, headers = self.server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads its hits, not stderr


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hits: list[Hit]
    answer: tuple[int, dict[str, str]]


class _Server6(_Server):
    address_family = socket.AF_INET6


def _url(host: str, port: int, *, scheme: str = "http") -> str:
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{scheme}://{netloc}/hooks/{SECRET_PATH}?token={SECRET_QUERY}"


@contextmanager
def serving(host: str = "127.0.0.1", status: int = 200,
            headers: dict[str, str] | None = None,
            tls: ssl.SSLContext | None = None) -> Iterator[_Server]:
    server = (_Server6 if ":" in host else _Server)((host, 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.hits = []
    server.answer = (status, headers or {})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def listening(behave: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """A raw TCP server on 127.0.0.1 that runs ``behave(connection, stop)`` for the one
    connection it accepts; yields its port."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            behave(connection, stop)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        listener.close()
        for connection in held:
            connection.close()


def never_answer(connection: socket.socket, stop: threading.Event) -> None:
    stop.wait()  # reads nothing, answers nothing, until the test ends


def trickle(connection: socket.socket, stop: threading.Event) -> None:
    """Starts an answer at once, then sends a byte of a header every 50 ms for up to 5 s:
    each read gets something well inside any socket timeout."""
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(100):
        if stop.wait(0.05):
            return
        try:
            connection.sendall(b"x")
        except OSError:
            return


# --- helpers ------------------------------------------------------------------------------

def options(url: str, **changes: Any) -> WebhookOptions:
    return WebhookOptions(url=Secret.from_value(url), **changes)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING]


def assert_hidden(caplog: pytest.LogCaptureFixture, *more: object) -> None:
    """No secret of the webhook in any record (message, arguments, traceback) or in ``more``
    (texts, objects whose repr is checked, exceptions whose whole chain is checked)."""
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
        if record.exc_info and record.exc_info[1] is not None:
            texts.append("".join(traceback.format_exception(record.exc_info[1])))
    for thing in more:
        if isinstance(thing, BaseException):
            texts.append("".join(traceback.format_exception(thing)))
            seen: BaseException | None = thing
            while seen is not None:
                texts += [str(seen), repr(seen)]
                seen = seen.__cause__ or seen.__context__
        else:
            texts.append(thing if isinstance(thing, str) else repr(thing))
    for secret in SECRETS:
        for text in texts:
            assert secret not in text
        # The start of a secret is as good as the secret for a reader.
        assert all(secret[:10] not in text for text in texts)


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3's DEBUG lines included


def notify(opts: WebhookOptions, event: CredentialEvent = EVENT) -> bool:
    # Through the hook implementation, as the host calls it.
    return WebhookPlugin().notify(event=event, options=opts)


# --- delivery -----------------------------------------------------------------------------

@pytest.mark.parametrize("host", LOOPBACKS)
def test_a_delivered_event_arrives_once_with_exactly_the_json_body(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(host, 204) as server:
        assert notify(options(_url(host, server.server_address[1]))) is True
    (hit,) = server.hits
    assert hit.method == "POST"
    assert hit.path == f"/hooks/{SECRET_PATH}?token={SECRET_QUERY}"
    assert json.loads(hit.body) == EXPECTED_BODY
    assert list(json.loads(hit.body)) == list(EXPECTED_BODY)
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["User-Agent"] == f"brokerauth/{__version__}"
    assert hit.headers["Host"].startswith(f"[{host}]:" if ":" in host else f"{host}:")
    assert warnings_of(caplog) == []
    assert_hidden(caplog)


def test_extra_headers_are_sent_and_never_shown(caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with serving() as server:
        monkeypatch.setenv("HOOK_URL", _url("127.0.0.1", server.server_address[1]))
        monkeypatch.setenv("HOOK_AUTH", HEADER_SECRET)
        # Structured as a profile's table is.
        opts = make_converter().structure(
            {"url": {"env": "HOOK_URL"}, "timeout": 2,
             "headers": {"Authorization": {"env": "HOOK_AUTH"}}},
            WebhookOptions,
        )
        assert notify(opts) is True
    (hit,) = server.hits
    assert hit.headers["Authorization"] == HEADER_SECRET
    assert_hidden(caplog, opts)


def test_called_through_the_plugin_host_on_its_registered_owner() -> None:
    host = PluginHost.create([])
    spec, owner = host.strategy("notifier", WEBHOOK)
    assert owner == PLUGIN_ID
    assert spec.options is WebhookOptions and spec.description
    assert host.loaded[PLUGIN_ID].distribution == "brokerauth"
    with serving() as server:
        delivered = host.notify(WEBHOOK, EVENT, options(_url("127.0.0.1",
                                                              server.server_address[1])),
                                owner=owner)
    assert delivered is True
    assert len(server.hits) == 1


# --- failures: False, a warning, no secret ------------------------------------------------

@pytest.mark.parametrize("status", [500, 404, 401])
def test_an_error_status_is_not_delivered(status: int, caplog: pytest.LogCaptureFixture) -> None:
    with serving(status=status) as server:
        assert notify(options(_url("127.0.0.1", server.server_address[1]))) is False
    assert len(server.hits) == 1  # one attempt: nothing retried
    (warning,) = warnings_of(caplog)
    assert "the webhook of profile 'desk'" in warning and f"HTTP {status}" in warning
    assert_hidden(caplog)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_its_location_is_never_visited(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with serving() as target:
        location = _url("127.0.0.1", target.server_address[1])
        with serving(status=status, headers={"Location": location}) as server:
            assert notify(options(_url("127.0.0.1", server.server_address[1]))) is False
    assert len(server.hits) == 1
    assert target.hits == []
    (warning,) = warnings_of(caplog)
    assert f"HTTP {status}" in warning and "not followed" in warning
    assert_hidden(caplog)


def test_a_server_that_never_answers_is_given_up_on_in_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with listening(never_answer) as port:
        started = time.monotonic()
        assert notify(options(_url("127.0.0.1", port), timeout=0.3)) is False
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    (warning,) = warnings_of(caplog)
    assert "the webhook of profile 'desk'" in warning and "0.3 s" in warning
    assert_hidden(caplog)


def test_a_server_trickling_its_answer_is_given_up_on_in_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Socket timeouts alone would wait for ever: every read here gets a byte in 50 ms."""
    with listening(trickle) as port:
        started = time.monotonic()
        assert notify(options(_url("127.0.0.1", port), timeout=0.5)) is False
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    (warning,) = warnings_of(caplog)
    assert "0.5 s" in warning
    assert_hidden(caplog)


def test_a_refused_connection_is_not_delivered(caplog: pytest.LogCaptureFixture) -> None:
    # Bound but not listening, and kept bound so no other test takes the port meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        started = time.monotonic()
        assert notify(options(_url("127.0.0.1", port))) is False
        assert time.monotonic() - started < 2.0
    (warning,) = warnings_of(caplog)
    assert "the webhook of profile 'desk'" in warning and "refused" in warning
    assert_hidden(caplog)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a cert")
def test_a_certificate_that_cannot_be_verified_is_not_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serving(tls=context) as server:
        url = _url("127.0.0.1", server.server_address[1], scheme="https")
        assert notify(options(url, timeout=2)) is False
    assert server.hits == []
    (warning,) = warnings_of(caplog)
    assert "certificate" in warning
    assert_hidden(caplog)


def test_an_unset_url_variable_is_not_delivered_and_named(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_URL_UNSET", raising=False)
    assert notify(WebhookOptions(url=Secret(env="HOOK_URL_UNSET"))) is False
    (warning,) = warnings_of(caplog)
    assert "HOOK_URL_UNSET" in warning


# --- plain http -----------------------------------------------------------------------------

@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection urllib3 would open, refused and counted."""
    import urllib3.util.connection

    opened: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(address)
        raise ConnectionRefusedError("no connection in this test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    return opened


@pytest.mark.parametrize("url", [
    f"http://hooks.example.com/services/{SECRET_PATH}",
    f"http://10.1.2.3:8080/{SECRET_PATH}",
    f"http://127.0.0.1.example.com/{SECRET_PATH}",
    f"ftp://127.0.0.1/{SECRET_PATH}",
    f"https://user:{SECRET_PATH}@hooks.example.com/x",
])
def test_a_url_from_the_environment_that_is_not_https_is_refused_before_connecting(
    url: str, connections: list[Any], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_URL", url)
    opts = WebhookOptions(url=Secret(env="HOOK_URL"))
    assert notify(opts) is False
    assert connections == []
    (warning,) = warnings_of(caplog)
    assert "env:HOOK_URL" in warning and "nothing was sent" in warning
    assert_hidden(caplog, opts)


def test_a_url_given_in_code_that_is_plain_http_elsewhere_is_a_profile_error(
    connections: list[Any], caplog: pytest.LogCaptureFixture,
) -> None:
    url = Secret.from_value(f"http://hooks.example.com/services/{SECRET_PATH}")
    with pytest.raises(ValueError, match="must be https://") as direct:
        WebhookOptions(url=url)
    profile = Profile(name="desk", broker="double")
    with pytest.raises(ConfigError) as read:
        structure_settings(None, {"url": url}, WebhookOptions, profile, prefix="notify.")
    assert "profile 'desk'" in str(read.value) and "notify.url" in str(read.value)
    assert "must be https://" in str(read.value)
    assert connections == []
    assert_hidden(caplog, direct.value, read.value)


def test_plain_http_to_a_loopback_host_is_allowed() -> None:
    for url in ("http://127.0.0.1:9/x", "http://[::1]:9/x", "http://localhost:9/x",
                "https://hooks.example.com/x"):
        WebhookOptions(url=Secret.from_value(url))


# --- options --------------------------------------------------------------------------------

def test_the_options_repr_shows_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://hooks.example.com/services/{SECRET_PATH}?token={SECRET_QUERY}"
    monkeypatch.setenv("HOOK_URL", url)
    by_value = options(url, headers={"Authorization": Secret.from_value(HEADER_SECRET)})
    by_env = WebhookOptions(url=Secret(env="HOOK_URL"))
    by_env.url.reveal()  # resolved and cached: the repr still says only where it comes from
    for opts in (by_value, by_env):
        for text in (repr(opts), str(opts), repr(attrs.asdict(opts, recurse=False))):
            for secret in SECRETS:
                assert secret not in text
    assert "env:HOOK_URL" in repr(by_env)


@pytest.mark.parametrize("timeout", [0, -1, 10.5, 60, True])
def test_the_timeout_is_bounded(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        options("https://hooks.example.com/x", timeout=timeout)


def test_the_default_timeout_is_five_seconds() -> None:
    assert options("https://hooks.example.com/x").timeout == 5


@pytest.mark.parametrize("name", ["Content-Type", "host", "Content-Length", "Bad Name"])
def test_headers_may_not_replace_the_framing_or_be_malformed(name: str) -> None:
    with pytest.raises(ValueError, match="headers"):
        options("https://hooks.example.com/x", headers={name: Secret.from_value("v")})


def test_a_literal_url_in_a_profile_is_refused() -> None:
    profile = Profile(name="desk", broker="double")
    with pytest.raises(ConfigError) as read:
        structure_settings(None, {"url": f"https://hooks.example.com/{SECRET_PATH}"},
                           WebhookOptions, profile, prefix="notify.")
    assert "notify.url" in str(read.value) and "secret reference" in str(read.value)
    assert SECRET_PATH not in str(read.value)
