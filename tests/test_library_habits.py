"""What users of requests and httpx expect of a library: answers with ``status_code`` and
``ok``, a package whose ``dir()`` and ``import *`` show its public names only (and stay cheap
to import), and a ``User-Agent`` naming brokerauth and the broker's plugin on every request,
which the caller's own header replaces.  Over real HTTP on 127.0.0.1."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from brokerauth._version import __version__, user_agent
from brokerauth.contract.wire import Request
from brokerauth.engine.api import session as open_session
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.transport import Transport
from brokerauth_sandbox.server import SandboxRequest, SandboxResponse

#: The test double's distribution and version, as its metadata (tests/doubles/installed) says.
_DOUBLE = importlib.metadata.Distribution.at(
    next((Path(__file__).resolve().parent / "doubles" / "installed").glob("*.dist-info")))
DOUBLE_AGENT = f"brokerauth/{__version__} {_DOUBLE.metadata['Name']}/{_DOUBLE.version}"
#: What a User-Agent brokerauth makes looks like: its product, then the plugin's.
AGENT_SHAPE = re.compile(r"brokerauth/\d+(\.\d+)*\S* [A-Za-z0-9._-]+/\d+(\.\d+)*\S*")


# -- answers --------------------------------------------------------------------------------

def test_answers_have_status_code_and_ok_as_requests_and_httpx(
    double: Any, session_factory: Any
) -> None:
    session = session_factory(double)
    found = session.get("/api/me")
    assert (found.status_code, found.status, found.ok) == (200, 200, True)
    assert found.raise_for_status() is found
    missing = session.get("/api/nowhere")
    assert (missing.status_code, missing.status, missing.ok) == (404, 404, False)


# -- the package's public names -------------------------------------------------------------

# __future__ first: the package's `from __future__ import annotations` loads it where nothing
# else has (an installed wheel; an editable install's finder already has), and it is the
# language's own module, not a cost of brokerauth's.
_PROBE = """
import __future__, json, sys
before = set(sys.modules)
import brokerauth
imported = sorted(set(sys.modules) - before)
listed = dir(brokerauth)
names = {}
exec("from brokerauth import *", names)
star = sorted(name for name in names if name != "__builtins__")
resolved = {name: getattr(brokerauth, name) is not None for name in brokerauth.__all__}
print(json.dumps({"imported": imported, "dir": listed, "all": brokerauth.__all__,
                  "star": star, "resolved": resolved, "dir_after": dir(brokerauth)}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    """What a fresh interpreter sees of ``import brokerauth``."""
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                            timeout=60, check=True)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_import_brokerauth_imports_only_the_package_and_its_version(
    probe: dict[str, Any],
) -> None:
    assert probe["imported"] == ["brokerauth", "brokerauth._version"]


def test_dir_shows_the_public_names_only(probe: dict[str, Any]) -> None:
    assert probe["dir"] == sorted(probe["all"])
    internal = [name for name in probe["dir"] if name.startswith("_") and name != "__version__"]
    assert not internal
    # Nor once every name was used, which imports (and binds) the subpackages behind them.
    assert probe["dir_after"] == probe["dir"]
    for name in ("session", "Session", "Token", "hookimpl", "__version__"):
        assert name in probe["dir"]


def test_import_star_gives_exactly_all_and_every_name_resolves(probe: dict[str, Any]) -> None:
    assert probe["star"] == sorted(probe["all"])
    # getattr raised for none of them (the probe would have failed), and none is None.
    assert probe["resolved"] == dict.fromkeys(probe["all"], True)


# -- User-Agent ------------------------------------------------------------------------------

def _record_agents(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """(method, path, User-Agent) of each request the sandbox receives."""
    seen: list[tuple[str, str, str]] = []
    dispatch = sandbox.dispatch

    def recording(request: SandboxRequest) -> SandboxResponse:
        seen.append((request.method, request.path, request.header("user-agent") or ""))
        answer: SandboxResponse = dispatch(request)
        return answer

    monkeypatch.setattr(sandbox, "dispatch", recording)
    return seen


def test_every_request_names_brokerauth_and_the_plugin(
    double: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_agents(double, monkeypatch)
    session = session_factory(double)
    assert session.get("/api/me").ok
    assert session.post("/api/orders", json={"symbol": "AAPL", "qty": 1}).ok
    assert session.refresh() is not None
    paths = [(method, path) for method, path, _ in seen]
    # The token requests (login, refresh) as well as the API's.
    assert paths.count(("POST", "/oauth/token")) == 2
    assert ("GET", "/api/me") in paths and ("POST", "/api/orders") in paths
    assert {agent for _, _, agent in seen} == {DOUBLE_AGENT}
    assert AGENT_SHAPE.fullmatch(DOUBLE_AGENT)


def test_the_callers_user_agent_wins_for_its_request(
    double: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_agents(double, monkeypatch)
    session = session_factory(double)
    # Any spelling of the name: a second header of brokerauth's would be the last one read.
    assert session.get("/api/me", headers={"user-agent": "my-app/2.0"}).ok
    assert session.get("/api/me", headers={"USER-AGENT": "my-app/3.0"}).ok
    assert session.get("/api/me").ok
    api = [agent for _, path, agent in seen if path == "/api/me"]
    assert api == ["my-app/2.0", "my-app/3.0", DOUBLE_AGENT]


def test_a_transport_given_a_user_agent_sends_it_on_every_request(
    double: Any, token_home: Path, plugin_host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_agents(double, monkeypatch)
    profile = Profile.from_mapping("fleet", {"broker": "double", **double.profile_settings()})
    transport = Transport(timeout=5.0, user_agent="fleet-worker/7")
    with open_session(profile, host=plugin_host, clock=double.clock,
                      transport=transport) as session:
        assert session.get("/api/me").ok
        assert session.get("/api/me", headers={"User-Agent": "one-call/1"}).ok
    assert [agent for _, _, agent in seen] == ["fleet-worker/7", "fleet-worker/7", "one-call/1"]
    assert [path for _, path, _ in seen] == ["/oauth/token", "/api/me", "/api/me"]


class _AgentServer(ThreadingHTTPServer):
    """Answers every GET with ``{}`` and keeps every User-Agent line of each request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AgentHandler)
        self.agents: list[list[str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/agent"


class _AgentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _AgentServer

    def do_GET(self) -> None:
        self.server.agents.append(self.headers.get_all("User-Agent") or [])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def agent_server() -> Iterator[_AgentServer]:
    server = _AgentServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_transport_sends_exactly_one_user_agent(agent_server: _AgentServer) -> None:
    transport = Transport(timeout=5.0)
    try:
        url = agent_server.url
        assert transport.send(Request.from_url("GET", url)).ok
        assert transport.send(Request.from_url("GET", url, headers={"uSeR-aGeNt": "x/1"})).ok
        # A signer's header counts as the caller's: brokerauth adds none beside it.
        assert transport.send(Request.from_url("GET", url),
                              signature={"user-agent": "signed/1"}).ok
        transport.name_plugin("brokerauth-double", "0.1.0")
        assert transport.send(Request.from_url("GET", url)).ok
        transport.name_plugin("another-plugin", "9")  # the first plugin named stays
        assert transport.send(Request.from_url("GET", url)).ok
    finally:
        transport.close()
    core = f"brokerauth/{__version__}"
    named = f"{core} brokerauth-double/0.1.0"
    assert agent_server.agents == [[core], ["x/1"], ["signed/1"], [named], [named]]


@pytest.mark.parametrize(("distribution", "version", "expected"), [
    ("brokerauth-webull", "0.3.1", "brokerauth/V brokerauth-webull/0.3.1"),
    ("brokerauth", "0.1.0", "brokerauth/V"),      # a built-in strategy: named once
    (None, None, "brokerauth/V"),
    ("some-plugin", "?", "brokerauth/V some-plugin"),  # metadata without a version
    ("odd plugin\r\n", "1.0 (beta)", "brokerauth/V oddplugin/1.0beta"),
])
def test_the_user_agent_is_always_a_valid_header_value(
    distribution: str | None, version: str | None, expected: str
) -> None:
    assert user_agent(distribution, version) == expected.replace("V", __version__, 1)
