"""Token-endpoint budgets counted in Redis: one count for the whole fleet, the same sliding
window as the core's (:func:`brokerauth.toolkit.budget.take`)."""

from __future__ import annotations

from typing import Any

from brokerauth.contract.specs import CallBudget
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit import budget
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from redis_helpers import RedisServer

TEN_PER_30 = CallBudget("token", 10, 30.0)


def test_redis_counts_like_the_core_window(redis_server: RedisServer) -> None:
    plugin = RedisPlugin()
    options = RedisStoreOptions(url=redis_server.url)
    key = budget.budget_key(TokenKey("fleet", "alice"), TEN_PER_30)
    local: list[float] = []
    for now in [100.0 + i * 0.5 for i in range(12)] + [129.9, 130.0, 131.0]:
        kept, expected = budget.take(local, now, TEN_PER_30)
        if expected == 0:
            local = kept
        wait = plugin.take_call("redis", key, options, TEN_PER_30, now)
        assert wait is not None
        assert abs(wait - expected) < 1e-6, (now, wait, expected)


def test_machines_share_one_count(redis_server: RedisServer) -> None:
    options = RedisStoreOptions(url=redis_server.url)
    key = budget.budget_key(TokenKey("fleet"), TEN_PER_30)
    machines: list[Any] = [RedisPlugin(), RedisPlugin()]
    waits = [machines[i % 2].take_call("redis", key, options, TEN_PER_30, 500.0)
             for i in range(11)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == 30.0
