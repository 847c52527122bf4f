"""The transport over real loopback servers: host pools remembered, proxies respected."""

from __future__ import annotations

from typing import Any

import urllib3
from brokerauth.contract.wire import Request
from brokerauth.engine.transport import Transport


def test_one_pool_per_host_and_a_closed_pool_is_replaced(double: Any) -> None:
    transport = Transport()
    request = Request.from_url("GET", double.base_url + "/api/nothing?x=a b")
    assert transport.send(request).status == 404
    first = transport._host_pools[("http", double.host)]
    assert transport.send(request).status == 404
    assert transport._host_pools[("http", double.host)] is first
    # As the manager evicts a pool it holds too many of: closed, and forgotten.
    first.close()
    transport.pool.pools.clear()
    assert transport.send(request).status == 404
    assert transport._host_pools[("http", double.host)] is not first
    transport.close()


def test_a_caller_given_manager_routes_the_request_itself(double: Any) -> None:
    seen: list[str] = []

    class Watching(urllib3.PoolManager):
        def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(url)
            return super().urlopen(method, url, *args, **kwargs)

    transport = Transport(Watching())
    request = Request.from_url("GET", double.base_url + "/api/nothing?q=1")
    assert transport.send(request).status == 404
    assert seen == [double.base_url + "/api/nothing?q=1"]
