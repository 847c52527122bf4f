"""The statement watchdog: a deadline cuts its connection's socket, even one armed while the
watchdog sleeps towards a later deadline (it is woken only by an earlier one)."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

from brokerauth_sql.watchdog import Watchdog


def _connection(sock: socket.socket) -> SimpleNamespace:
    return SimpleNamespace(pgconn=SimpleNamespace(socket=sock.fileno()))


def test_an_earlier_deadline_wakes_a_watchdog_sleeping_towards_a_later_one() -> None:
    watchdog = Watchdog()
    long_ours, long_peer = socket.socketpair()
    short_ours, short_peer = socket.socketpair()
    with long_ours, long_peer, short_ours, short_peer:
        with watchdog.deadline(_connection(long_ours), 120) as long_limit:
            give_up = time.monotonic() + 10
            while watchdog._wake_at != long_limit.at and time.monotonic() < give_up:
                time.sleep(0.005)  # until the thread sleeps towards the long deadline
            assert watchdog._wake_at == long_limit.at
            short_ours.settimeout(10)  # bounded even if nothing cuts it
            started = time.monotonic()
            with watchdog.deadline(_connection(short_ours), 0.05) as short_limit:
                assert short_ours.recv(1) == b""  # shut down under the blocked read
            waited = time.monotonic() - started
        assert short_limit.fired
        assert waited < 5
        assert not long_limit.fired
        long_peer.sendall(b"x")
        assert long_ours.recv(1) == b"x"  # the long one's socket was left alone


def test_statements_that_end_in_time_do_not_wake_the_watchdog_each() -> None:
    watchdog = Watchdog()
    ours, peer = socket.socketpair()
    with ours, peer:
        with watchdog.deadline(_connection(ours), 120) as first:
            give_up = time.monotonic() + 10
            while watchdog._wake_at != first.at and time.monotonic() < give_up:
                time.sleep(0.005)
        for _ in range(200):
            with watchdog.deadline(_connection(ours), 120) as later:
                pass
        # Still sleeping towards the first deadline: none of the later ones woke it.
        assert watchdog._wake_at == first.at
        assert not later.fired
