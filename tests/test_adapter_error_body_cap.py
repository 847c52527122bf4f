"""The adapters read a non-success answer's body (the flow judges it: it may ask for a
refresh) up to the profile's ``max_response_bytes``, counted as the transport counts its own
answers: a larger one is a :class:`ResponseError`, and the rest is not read; a smaller one is
the caller's, as its library would have read it.  httpx (sync and async) and requests; a
loopback server that sends a huge error body; the profile's cap set low so that the test
stays small."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from _hostile import Connection, HostileServer, each_request, head, measure
from brokerauth.adapters import httpx_auth, requests_auth
from brokerauth.contract.errors import ResponseError
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit.secrets import Secret

# The profiles here are Webull profiles: the core's tests run without the plugin too.
pytest.importorskip("brokerauth_webull")

CAP = 64 << 10
PIECE = 64 << 10
#: What the server would send at most: far more than the cap, bounded.
HUGE = 256 << 20


@pytest.fixture(autouse=True)
def _home(token_home: Path) -> Path:
    return token_home


def huge_error(sent: list[int], *, declared: bool = False) -> Any:
    """Every request answered 500 with up to :data:`HUGE` bytes (chunked, or with its length
    declared), as long as the client reads; bytes sent are added up in ``sent``."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        framing = (("Content-Length", str(HUGE)) if declared
                   else ("Transfer-Encoding", "chunked"))
        if not c.send(head(500, ("Content-Type", "text/plain"), framing)):
            return False
        piece = b"x" * PIECE
        for _ in range(HUGE // PIECE):
            data = piece if declared else b"%x\r\n%b\r\n" % (len(piece), piece)
            if not c.send(data):
                return False
            sent[0] += len(piece)
        if not declared:
            c.send(b"0\r\n\r\n")
        return True

    return each_request(answer)


def small_error(c: Connection, method: str, target: str, headers: dict[str, str],
                body: bytes) -> bool:
    text = b'{"error_code": "BROKEN", "message": "under the cap"}'
    return c.send(head(503, ("Content-Type", "application/json"),
                       ("Content-Length", str(len(text)))) + text)


MODES = ["sync", "async", "requests"]


def _get(mode: str, url: str) -> Any:
    base_url = url.rsplit("/", 1)[0]
    profile = Profile.from_mapping("wb", {
        "broker": "webull", "base_url": base_url, "two_factor": "off",
        "max_response_bytes": CAP,
        "app_key": Secret.from_value("cap-key"), "app_secret": Secret.from_value("cap-secret"),
    })
    if mode == "requests":
        with requests.Session() as session:
            return session.get(url, auth=requests_auth(profile), timeout=10)
    auth = httpx_auth(profile)
    if mode == "sync":
        with httpx.Client(auth=auth, timeout=10) as client:
            return client.get(url)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            return await client.get(url)

    return asyncio.run(go())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "declared"])
def test_a_huge_error_body_is_refused_past_the_cap(mode: str, declared: bool) -> None:
    sent = [0]
    with HostileServer(huge_error(sent, declared=declared)) as server:
        elapsed, error = measure(lambda: _get(mode, server.url + "/openapi/account/list"))
        assert isinstance(error, ResponseError), repr(error)
        assert error.status == 500
        assert elapsed < 5  # the client's timeout is 10 s: it did not wait for the rest
        if declared:
            assert str(error).startswith(
                f"GET /openapi/account/list: the answer declares {HUGE:,} bytes, over the "
                f"{CAP:,}-byte limit (the profile's max_response_bytes); nothing was read")
        else:
            assert str(error).startswith(
                f"GET /openapi/account/list: the answer is larger than the {CAP:,}-byte "
                "limit (the profile's max_response_bytes)")
        assert server.client_closed.wait(5)  # dropped, not drained
    # What the server managed to write before the client hung up: the socket buffers' worth
    # past the cap, not the whole body.
    assert sent[0] < 32 << 20, sent[0]


@pytest.mark.parametrize("mode", MODES)
def test_an_error_body_under_the_cap_is_the_callers(mode: str) -> None:
    with HostileServer(each_request(small_error)) as server:
        response = _get(mode, server.url + "/openapi/account/list")
    assert response.status_code == 503
    assert response.json() == {"error_code": "BROKEN", "message": "under the cap"}
    if mode == "requests":  # read once, kept: iter_content gives it again
        assert b"".join(response.iter_content(16)) == response.content
