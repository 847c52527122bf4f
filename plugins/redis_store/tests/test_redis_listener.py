"""The listener of lock releases outlives whatever breaks its connection, and none outlives
its store's use: a subscriber whose server goes away, while the socket layer raises what
redis-py does not wrap (here a name lookup that fails with a RuntimeError), subscribes again
once the server is back and hears releases; ``close_all`` ends every listener."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
import redis
from brokerauth_redis import releases
from redis_helpers import RedisServer

CHANNEL = "brokerauth:{fleet:default}:released"


def subscriber_of(server: RedisServer) -> releases.Subscriber:
    pool = redis.ConnectionPool.from_url(server.url, max_connections=1)

    def make_pubsub() -> Any:
        return redis.client.PubSub(pool, ignore_subscribe_messages=False)

    subscriber = releases.Subscriber(make_pubsub, "brokerauth:*:released", server.url)
    subscriber.start()
    return subscriber


def heard(server: RedisServer, event: threading.Event, within: float = 10.0) -> bool:
    """Whether a release announced on the channel (again and again, as subscribing anew
    takes a moment) reaches ``event`` within ``within`` seconds."""
    client = server.client()
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            client.publish(CHANNEL, b"1")
            if event.wait(0.05):
                return True
        return False
    finally:
        client.close()


def test_the_listener_survives_what_its_client_does_not_wrap(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber = subscriber_of(redis_server)
    try:
        event = subscriber.register(CHANNEL)
        assert event is not None
        assert subscriber.confirmed(10)
        assert heard(redis_server, event)
        event.clear()

        lookups: list[object] = []
        real = socket.getaddrinfo

        def failing(*args: Any, **kwargs: Any) -> Any:
            lookups.append(args[0])
            raise RuntimeError("the name service is broken")

        redis_server.stop()
        monkeypatch.setattr(socket, "getaddrinfo", failing)
        deadline = time.monotonic() + 10
        while not lookups:  # the listener tried to connect again, and failed its own way
            assert time.monotonic() < deadline, "the listener never tried to reconnect"
            time.sleep(0.01)
        monkeypatch.setattr(socket, "getaddrinfo", real)
        redis_server.start(keep_port=True)
        assert heard(redis_server, event), "the listener did not subscribe again"
        assert not subscriber.closed
    finally:
        subscriber.close()


def test_close_all_ends_every_listener(redis_server: RedisServer) -> None:
    made = [subscriber_of(redis_server) for _ in range(3)]
    for subscriber in made:
        assert subscriber.register(CHANNEL) is not None
        assert subscriber.confirmed(10)
    releases.close_all()
    assert all(subscriber.closed for subscriber in made)
    assert not any(subscriber._thread.is_alive() for subscriber in made)
    assert not [t for t in threading.enumerate()
                if t.name.startswith("brokerauth-redis-releases") and t.is_alive()]
