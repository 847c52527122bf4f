"""API answers are capped after decompression (QUALITY 23): a session reads at most the
profile's ``max_response_bytes`` of body (64 MiB unless set), counted as it is decompressed, and
token answers at most 1 MiB the same way.  Past the cap: a typed ``ResponseError`` naming the
limit and the setting, the connection dropped; a request asks explicitly to lift it.

The gzip bomb (2 MiB on the wire, 2 GiB inflated) is read by a child process, whose peak memory
is measured from its own ``VmHWM``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _hostile import HostileServer, answering, gzip_bomb, gzip_of_zeros, measure
from brokerauth.contract.errors import ProfileError, ResponseError
from brokerauth.contract.wire import Request
from brokerauth.engine.profiles import Profile, ProfileOptions
from brokerauth.engine.transport import DEFAULT_RESPONSE_LIMIT, TOKEN_RESPONSE_LIMIT, Transport

MiB = 1 << 20
CAP = 1000


@pytest.fixture(scope="module")
def bomb() -> list[bytes]:
    """2 GiB of zeros as gzip: about 2 MiB."""
    pieces = list(gzip_of_zeros(2048 * MiB))
    assert 1.5 * MiB < sum(len(p) for p in pieces) < 3 * MiB
    return pieces


def _capped(double: Any, session_factory: Any, url: str, **keys: Any) -> Any:
    # The double's signer without a token flow: the hostile server needs no login.
    return session_factory(double, base_url=url, flow="none", timeout=5,
                           max_response_bytes=CAP, **keys)


CHILD = textwrap.dedent("""
    import json, resource, sys

    def peak():
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    # A guard for the machine running the suite: were the cap gone, the child fails with
    # MemoryError at 1.5 GiB of address space instead of taking 4 GB.
    resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
    from brokerauth.engine.api import session
    from brokerauth.engine.profiles import Profile

    api = session(Profile.from_mapping("bomb", {
        "broker": "double", "base_url": sys.argv[1], "client_id": "double-client",
        "client_secret": {"env": "BOMB_SECRET"}, "flow": "none", "store": "memory",
    }))
    api.binding.transport.pool  # urllib3 imported and the pool made: part of the baseline
    baseline = peak()
    try:
        api.get("/api/bars")
        outcome = "no error"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"baseline": baseline, "peak": peak(), "outcome": outcome}))
""")


def test_a_gzip_bomb_is_a_typed_error_and_costs_little_memory(
    bomb: list[bytes], tmp_path: Path
) -> None:
    with HostileServer(gzip_bomb(bomb)) as server:
        env = {**os.environ, "BOMB_SECRET": "bomb-secret-value", "BROKERAUTH_HOME": str(tmp_path)}
        child = subprocess.run([sys.executable, "-c", CHILD, server.url], env=env,
                               capture_output=True, text=True, timeout=60)
        assert child.returncode == 0, child.stderr
        result = json.loads(child.stdout)
        assert result["outcome"].startswith("ResponseError: GET /api/bars: the answer is larger "
                                            f"than the {DEFAULT_RESPONSE_LIMIT:,}-byte limit "
                                            "(the profile's max_response_bytes)"), result
        extra = result["peak"] - result["baseline"]
        assert extra < 300 * MiB, f"{extra / MiB:.0f} MiB over the baseline"


def test_the_default_cap_is_far_above_any_broker_answer() -> None:
    assert ProfileOptions().max_response_bytes == DEFAULT_RESPONSE_LIMIT == 64 * MiB


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    double: Any, session_factory: Any
) -> None:
    # The server declares 10,000 bytes and sends none: reading would wait for the deadline.
    with HostileServer(answering(b"", declared=10_000)) as server:
        api = _capped(double, session_factory, server.url)
        elapsed, error = measure(lambda: api.get("/api/bars", params={"q": "SECRET"}))
        assert isinstance(error, ResponseError), repr(error)
        assert elapsed < 2.5  # reading would have waited for the 5 s deadline
        assert str(error).startswith(
            "GET /api/bars: the answer declares 10,000 bytes, over the 1,000-byte limit "
            "(the profile's max_response_bytes); nothing was read")
        assert "SECRET" not in str(error)
        assert server.client_closed.wait(2)


@pytest.mark.parametrize("framing", ["chunked", "until close"])
def test_an_undeclared_answer_over_the_cap_is_refused(
    double: Any, session_factory: Any, framing: str
) -> None:
    body = b"[" + b"1," * 5000 + b"1]"
    behaviour = (answering(body, chunked=True, pieces=10) if framing == "chunked"
                 else _until_close(body))
    with HostileServer(behaviour) as server:
        api = _capped(double, session_factory, server.url)
        with pytest.raises(ResponseError, match="larger than the 1,000-byte limit"):
            api.get("/api/bars")
        if framing == "chunked":  # dropped, not kept for the next request (the session is open)
            assert server.client_closed.wait(2)


@pytest.mark.parametrize("framing", ["length", "chunked", "gzip"])
def test_an_answer_exactly_at_the_cap_passes(double: Any, session_factory: Any,
                                             framing: str) -> None:
    body = b'"' + b"7" * (CAP - 2) + b'"'
    assert len(body) == CAP
    if framing == "gzip":
        behaviour = answering(gzip.compress(body), ("Content-Encoding", "gzip"))
    else:
        behaviour = answering(body, chunked=framing == "chunked", pieces=3)
    with HostileServer(behaviour) as server:
        api = _capped(double, session_factory, server.url)
        for _ in range(2):
            response = api.get("/api/bars")
            assert response.status == 200 and response.content == body
        assert server.connections == 1  # read to its end: the connection is reused


def test_a_compressed_answer_is_counted_after_decompression(
    double: Any, session_factory: Any
) -> None:
    packed = gzip.compress(bytes(100_000))
    assert len(packed) < CAP  # the declared length is under the cap; the body is not
    with HostileServer(answering(packed, ("Content-Encoding", "gzip"))) as server:
        api = _capped(double, session_factory, server.url)
        with pytest.raises(ResponseError, match="larger than the 1,000-byte limit"):
            api.get("/api/bars")


def test_a_request_can_lift_or_set_the_cap(double: Any, session_factory: Any) -> None:
    body = b"[" + b"1," * 5000 + b"1]"
    with HostileServer(answering(body, chunked=True, pieces=4)) as server:
        api = _capped(double, session_factory, server.url)
        assert api.get("/api/export", max_bytes=None).content == body
        assert api.get("/api/export", max_bytes=len(body)).content == body
        with pytest.raises(ResponseError) as info:
            api.get("/api/export", max_bytes=len(body) - 1)
        assert f"larger than the {len(body) - 1:,}-byte limit (max_bytes)" in str(info.value)
        assert "raise max_bytes" in str(info.value)


def test_token_answers_are_capped_at_1_mib_after_decompression(
    double: Any, session_factory: Any, bomb: list[bytes]
) -> None:
    with HostileServer(gzip_bomb(bomb)) as server:
        api = session_factory(double, base_url=server.url, flow="none")
        http = api.binding.flow_context(None).http
        with pytest.raises(ResponseError, match=f"larger than the {TOKEN_RESPONSE_LIMIT:,}-byte"):
            http.request("POST", "/oauth/token", data={"grant_type": "client_credentials"})
        assert server.client_closed.wait(2)
    packed = gzip.compress(bytes(TOKEN_RESPONSE_LIMIT))  # exactly at the token cap: read
    with HostileServer(answering(packed, ("Content-Encoding", "gzip"))) as server:
        response = Transport(timeout=5).send(Request.from_url("POST", server.url + "/t"),
                                             max_bytes=TOKEN_RESPONSE_LIMIT)
        assert response.content == bytes(TOKEN_RESPONSE_LIMIT)


@pytest.mark.parametrize("value", [-1, "64MiB", 1.5, True])
def test_max_response_bytes_must_be_a_whole_number_of_bytes(value: Any) -> None:
    with pytest.raises(ProfileError, match="max_response_bytes"):
        Profile.from_mapping("p", {"broker": "double", "max_response_bytes": value})


def _until_close(body: bytes) -> Any:
    """An answer with no length and no chunks: the body ends when the server closes."""
    from _hostile import each_request, head

    def answer(c: Any, method: str, target: str, headers: Any, _body: bytes) -> bool:
        c.send(head(200, ("Content-Type", "application/json"), ("Connection", "close")))
        for start in range(0, len(body), 500):
            if not c.send(body[start:start + 500]):
                return False
        return False

    return each_request(answer)
