"""Query values as a caller gives them are what is sent and signed: ``None`` leaves a value
out, alone or in a list (as requests does), a boolean is ``true``/``false`` (over real HTTP to
the test double, which checks the signature of the query it parsed)."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.clock import Clock
from brokerauth.contract.wire import Request
from brokerauth_sandbox.server import SandboxRequest, SandboxResponse
from doubles.sandbox import DoubleSandbox


class RecordingDouble(DoubleSandbox):
    """The double, keeping each query it was sent to ``/api/me``."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.queries: list[list[tuple[str, str]]] = []

    def me(self, request: SandboxRequest) -> SandboxResponse:
        self.queries.append(list(request.params))
        return super().me(request)


def test_none_in_a_list_is_left_out_not_sent_as_none(session_factory: Any,
                                                        manual_clock: Any) -> None:
    double = RecordingDouble(manual_clock)
    double.start()
    try:
        session = session_factory(double)
        answer = session.get("/api/me", params={"ids": ["a", None, "b"], "gone": None,
                                                "flags": [True, None], "only": [None]})
        assert answer.status == 200  # signed as sent
        assert double.queries == [[("ids", "a"), ("ids", "b"), ("flags", "true")]]
    finally:
        double.stop()


def test_a_request_built_from_a_url_leaves_none_out_too() -> None:
    request = Request.from_url("GET", "https://api.example.com/v1/x?q=1",
                               params={"ids": [None, 2], "n": None})
    assert request.params == (("q", "1"), ("ids", "2"))
    assert request.url == "https://api.example.com/v1/x?q=1&ids=2"


@pytest.mark.parametrize("url", [
    "ws://user:pw-SEKRET1@127.0.0.1/x?api_key=SEKRET2#SEKRET3",
    "mailto:SEKRET1@example.com?subject=SEKRET2",
    "//SEKRET1@host/x?SEKRET2",
])
def test_a_url_refused_as_not_http_is_not_quoted_whole(url: str) -> None:
    with pytest.raises(ValueError, match="not an absolute http") as caught:
        Request.from_url("GET", url)
    assert "SEKRET" not in str(caught.value)
