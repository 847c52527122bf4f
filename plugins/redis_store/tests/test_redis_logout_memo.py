"""A logout leaves no token in memory: the token decoder remembers the tokens it read (so a
re-read is not parsed again), and the store's delete makes it forget them, so a logged-out
token's secrets do not outlive the logout in the process."""

from __future__ import annotations

import gc
import weakref

from brokerauth.contract.tokens import TokenKey
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.store import RedisStore
from redis_helpers import RedisServer, make_token


def test_a_logout_leaves_no_token_in_the_decoders_memory(
    redis_server: RedisServer, key: TokenKey
) -> None:
    store = RedisStore(RedisStoreOptions(url=redis_server.url))
    try:
        store.save(key, make_token("memo"))
        token = store.load(key)
        assert token is not None
        assert store.load(key) is token  # remembered: the second read was not parsed
        gone = weakref.ref(token)
        del token
        assert store.delete(key) is True
        gc.collect()
        assert gone() is None
    finally:
        store.close()
