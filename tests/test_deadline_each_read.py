"""Each socket read of an answer waits only for what is left of the exchange's deadline, not
for the timeout urllib3 set when the answer began: a body that stalls after a first piece ends
at the deadline, not a whole timeout after that piece (QUALITY 22)."""

from __future__ import annotations

import time
from typing import Any

from _hostile import Connection, HostileServer, each_request, head, measure
from brokerauth.contract.errors import DeadlineError
from brokerauth.contract.wire import Request
from brokerauth.engine.transport import Transport

T = 1.0


def stalling_after(first: float) -> Any:
    """Headers at once (100 bytes promised), one byte ``first`` seconds later, then nothing
    until the client goes (or the connection limit)."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        c.send(head(200, ("Content-Type", "application/json"), ("Content-Length", "100")))
        time.sleep(first)
        c.send(b"{")
        c._recv()  # returns when the client closes the connection, or at the limit
        return False

    return each_request(answer)


def test_a_body_that_stalls_after_a_piece_ends_at_the_deadline() -> None:
    with HostileServer(stalling_after(0.6 * T)) as server:
        transport = Transport(timeout=T)
        elapsed, error = measure(
            lambda: transport.send(Request.from_url("GET", server.url + "/api/quotes")))
        assert isinstance(error, DeadlineError), repr(error)
        # Waiting a whole timeout again after the piece would end at 1.6 T.
        assert 0.9 * T <= elapsed < 1.3 * T, elapsed
