"""The ``redis`` store for one server: load, store, delete and lock tokens.

Every Redis failure becomes a :class:`~brokerauth.contract.errors.StoreError` naming the server
(scheme, host, port, database: never a password) and what to do, so the core can treat an
outage like any store trouble: a session keeps using the token it holds while that token is
valid, an early refresh is skipped and logged, and once the token must be refreshed the
caller gets a :class:`~brokerauth.contract.errors.RefreshError` saying Redis is unreachable.  No
refresh ever happens without the lock, since taking the lock needs Redis.

The client (``redis-py``) keeps a connection pool and opens a new connection on the next
command after one broke, so the store reconnects by itself when Redis comes back; a command
on a connection that broke meanwhile is tried once more on a fresh one.

Someone who can write to Redis but lacks the ``encryption_key`` (a leaked Redis password, a
shared Redis, a compromised neighbour) can still delete an entry, or hold or remove the lock,
which costs the fleet a login or a refresh token (nothing can prevent that from outside
Redis).  What they can no longer do, with a key:

* put back an older sealed value of an entry (:class:`ReplayedEntryError`): every value
  seals a generation, larger for each write; a reader refuses one below the entry's clear
  generation record, or below the highest generation this process has read or written.
  A process that never saw the newer value, shown a complete older copy of the hash (value
  and clear fields alike), cannot tell: Redis holds nothing the attacker cannot also roll
  back, so that last case stays undetected until the next write;
* block writes by raising the clear fence (``f``) or the fence counter: the fence a write
  is compared against is the one sealed in the value it replaces, clear copies that differ
  are put back with a warning, and a holder whose fence is not above the sealed one (a
  lowered or removed counter) is given a larger one when it takes the lock;
* let a lapsed holder overwrite a newer token, or bring back a logged-out one, by lowering
  ``f``: a logout leaves a sealed record with its fence;
* move an entry to another key prefix, profile or identity, or plant one in clear
  (:class:`ForgedEntryError`).

Without a key nothing is authenticated and none of this holds (the fields are still
maintained, so honest processes behave the same); which is why a server on another machine
needs a key unless ``allow_plaintext`` says otherwise.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import string
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import redis
from brokerauth.contract.commands import for_key
from brokerauth.contract.errors import ConfigError, StaleTokenError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.envelope import (
    ENCRYPTED_MARK,
    LEGACY_MARK,
    Entry,
    ForgedEntryError,
    ReplayedEntryError,
    StoreCipher,
    TamperedEntryError,
    clear_number,
    open_entry,
    seal_entry,
)
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.tokencodec import decode_token, forget_all
from redis.backoff import NoBackoff
from redis.retry import Retry

from brokerauth_redis import scripts
from brokerauth_redis.lock import LeaseLock, held_fence
from brokerauth_redis.options import (
    RedisStoreOptions,
    check_transport,
    check_url,
    is_local,
    safe_location,
)
from brokerauth_redis.releases import Subscriber

if TYPE_CHECKING:
    from brokerauth.contract.specs import CallBudget
    from cryptography.fernet import MultiFernet

__all__ = [
    "ForgedEntryError", "KeyNames", "RedisStore", "ReplayedEntryError", "StaleWriteError",
    "TamperedEntryError", "key_names",
]

log = logging.getLogger("brokerauth.store.redis")

_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
_TOKEN_TAIL = "}:token"
# Keys SCAN looks at per call: large enough that a platform's thousands of users take a few
# round trips, small enough that each call keeps the server busy for well under a millisecond.
_SCAN_COUNT = 1000
_REASON_LIMIT = 200
_store_ids = itertools.count(1)
# A write compares-and-sets the exact value it read; another write in between sends it back
# to read again.  Writes to one entry are rare and mostly under the lock, so a handful of
# attempts only runs out when something rewrites the entry in a loop.
_WRITE_ATTEMPTS = 8
_SEALED_MARKS = (ENCRYPTED_MARK, LEGACY_MARK)


class StaleWriteError(StaleTokenError):
    """A lock holder whose lease lapsed tried to store a token after a newer holder stored
    one; the newer token is kept."""


@attrs.frozen
class _Snapshot:
    """An entry and the fence state around it, read at one instant (:data:`scripts.READ`)."""

    value: bytes | None = attrs.field(repr=False)
    generation: int | None
    fence: int | None
    counter: int | None
    lock_fence: int | None

    @property
    def latest_fence(self) -> int:
        """The fence of the current holder, or else the last one handed out: what a write
        outside the lock counts as.  The current holder's, when there is one, so a counter
        raised by hand cannot make such a write refuse that holder's."""
        if self.lock_fence is not None:
            return self.lock_fence
        return self.counter or 0


@attrs.frozen
class KeyNames:
    """The Redis keys of one profile and identity."""

    token: str
    lock: str
    fence: str
    released: str


def key_names(prefix: str, key: TokenKey) -> KeyNames:
    """The keys for ``key``: ``<prefix>:{<profile>:<identity>}:token`` and so on.

    Profile and identity are percent-encoded outside ``A-Za-z0-9._-``, so ``:`` and braces
    inside a name cannot make two names share a key.
    """
    return _key_names(prefix, key.profile, key.identity)


@functools.lru_cache(maxsize=4096)
def _key_names(prefix: str, profile: str, identity: str) -> KeyNames:
    # Worked out once per name: every read of a token starts here.
    slot = f"{prefix}:{{{_encode(profile)}:{_encode(identity)}}}"
    return KeyNames(token=f"{slot}:token", lock=f"{slot}:lock", fence=f"{slot}:fence",
                    released=f"{slot}:released")


def _encode(name: str) -> str:
    if not name:
        raise StoreError("a token cannot be stored under an empty profile or identity name")
    return "".join(
        char if char in _SAFE_CHARS
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in name
    )


class RedisStore:
    """The tokens kept on one Redis server under one key prefix (one per options value)."""

    def __init__(self, options: RedisStoreOptions) -> None:
        self.options = options
        self._guard = threading.Lock()
        self._client: redis.Redis | None = None
        self._location: str | None = None
        self._keys = StoreCipher(options.encryption_key, store="redis")
        self._scripts: dict[str, Any] = {}
        #: Tells this store's held locks from another store's in the same thread; the
        #: lock and the write of one refresh always go through the same store object.
        self._identity = f"store-{next(_store_ids)}"
        #: The highest sealed generation this process has read or written, per entry: a
        #: value below it was put back by someone (the replay check needs no Redis state an
        #: attacker could roll back along with the value).
        self._seen: dict[str, int] = {}
        #: Hears the releases of this store's locks for its waiters, made on the first wait.
        self._subscriber: Subscriber | None = None
        self._subscriber_pid = 0
        #: The Redis user may not subscribe to the releases: waiters poll, without asking.
        self._listen_refused = False

    def __repr__(self) -> str:
        return f"RedisStore({self.location}, prefix={self.options.key_prefix!r})"

    @property
    def location(self) -> str:
        """The server, safe to show."""
        if self._location is not None:
            return self._location
        url = self.options.url
        if isinstance(url, Secret):
            # Not revealed just for a name: the secret may not be available yet.
            return f"the Redis server of url ({url.source})"
        return safe_location(url)

    # -- the four operations -------------------------------------------------------------
    def load(self, key: TokenKey) -> Token | None:
        names = key_names(self.options.key_prefix, key)
        cipher = self._get_cipher()
        if cipher is None:
            # In clear the generation and fence decide nothing a read returns: the value
            # alone, in the one command a raw read would send.
            with self._redis("read the token of", key):
                value = self._connect().hget(names.token, "v")
            assert value is None or isinstance(value, bytes)
            if value is None:
                return None
            if not value.startswith(_SEALED_MARKS):
                return decode_token(value, source=self._source(names), key=key)
            # A sealed value and no key: open_entry says so, in the store's words.
            open_entry(
                value, key, names.token, None, clear_generation=None, clear_fence=None,
                source=self._source(names), key_source=self._key_source(), store="redis",
                where="Redis",
            )
            raise AssertionError("open_entry refuses a sealed value without a key")
        with self._redis("read the token of", key):
            value, raw_generation, raw_fence = self._connect().hmget(names.token, "v", "g", "f")
        assert value is None or isinstance(value, bytes)
        generation, fence = clear_number(raw_generation), clear_number(raw_fence)
        entry = open_entry(
            value, key, names.token, cipher, clear_generation=generation, clear_fence=fence,
            source=self._source(names), key_source=self._key_source(), store="redis", where="Redis",
        )
        if entry is None:
            return None
        if value is not None:
            self._check_current(key, names, entry, value, generation, fence)
        return entry.token

    def save(self, key: TokenKey, token: Token) -> None:
        names = key_names(self.options.key_prefix, key)
        fence = held_fence(self._identity, names.lock)
        cipher = self._get_cipher()
        for _attempt in range(_WRITE_ATTEMPTS):
            snapshot = self._read(key, names, "store the token of")
            current, _readable = self._inspect(key, names, snapshot, cipher)
            if current.authenticated and current.generation < self._seen.get(names.token, 0):
                # Refusing would lose the token being stored, which may be the only one
                # with a live refresh token: the older value put back is replaced instead.
                log.warning("%s: replacing stored token %s, an older value put back (sealed "
                            "generation %d, this process has seen %d)", key,
                            self._source(names), current.generation,
                            self._seen.get(names.token, 0))
            if fence is not None and fence < current.fence:
                raise StaleWriteError(
                    f"{key}: this process's refresh lock expired while it was refreshing (it "
                    "was paused or cut off from Redis for longer than lock_ttl) and another "
                    "process has stored a newer token since (or logged out); this one was not "
                    "stored",
                    hint="nothing to do: the newer token is used from the next request; if "
                    "this happens often, raise the redis store's lock_ttl",
                )
            # Never lower the fence: a write outside the lock counts as new as the latest
            # holder, and a holder's write as new as itself.
            written_fence = max(current.fence,
                                snapshot.latest_fence if fence is None else fence)
            generation = self._next_generation(names, current.generation)
            data = seal_entry(token, names.token, generation=generation, fence=written_fence,
                              cipher=cipher)
            if self._write(key, names, snapshot, data, generation, written_fence,
                           "store the token of", holds_token=True):
                self._saw(names, generation)
                log.debug("stored the token for %s in %s (generation %d, fence %d%s)", key,
                          self.location, generation, written_fence,
                          "" if fence is None else ", under the lock")
                return
        raise self._busy(key, names, "store")

    def delete(self, key: TokenKey) -> bool:
        try:
            return self._delete(key)
        finally:
            forget_all()  # the decoder's memo keeps no logged-out token

    def _delete(self, key: TokenKey) -> bool:
        names = key_names(self.options.key_prefix, key)
        cipher = self._get_cipher()
        with self._redis("log out", key):
            # Past every holder so far, so a refresh still running somewhere cannot bring
            # the logged-out token back (its write is refused for a smaller fence).
            logout_fence = int(self._script("next_fence")(keys=[names.fence]))
        for _attempt in range(_WRITE_ATTEMPTS):
            snapshot = self._read(key, names, "delete the token of")
            current, readable = self._inspect(key, names, snapshot, cipher)
            removed = snapshot.value is not None and (not readable or current.token is not None)
            # The sealed fence and the lock's holder count too: a counter lowered by hand
            # must not let that holder's refresh undo the logout.
            fence = max(logout_fence, current.fence + 1, (snapshot.lock_fence or 0) + 1)
            generation = self._next_generation(names, current.generation)
            # A sealed logout record (in clear: no value, the fields alone).
            data = seal_entry(None, names.token, generation=generation, fence=fence,
                              cipher=cipher)
            if self._write(key, names, snapshot, data, generation, fence, "delete the token of",
                           holds_token=False):
                self._saw(names, generation)
                return removed
        raise self._busy(key, names, "delete")

    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        """Count one token-endpoint call against ``budget`` for every machine of the fleet."""
        names = key_names(self.options.key_prefix, key)
        counted = f"{names.token.rsplit(':', 1)[0]}:budget:{_encode(budget.name)}"
        member = f"{now!r}:{os.urandom(6).hex()}"
        with self._redis("count a token request of", key):
            wait = self._script("take_call")(
                keys=[counted], args=[repr(now), repr(budget.per), budget.calls, member]
            )
        return float(wait)

    def list_keys(self, profile: str) -> Iterator[TokenKey]:
        """The key of every token stored for ``profile``, lazily: SCAN over the profile's
        token entries in batches (never KEYS, which blocks the server), the identity read
        back from each entry's name.  A logout record is not a token and is not listed; an
        entry that cannot be read (tampered, of another type) is.  No token is decrypted; an
        encrypted entry written by a version that did not mark it (see
        :mod:`brokerauth_redis.scripts`) has its envelope opened, to tell a logout from a token.

        :raises ~brokerauth.contract.errors.StoreError: Redis could not be listed (possibly
            part-way through).
        """
        head = f"{self.options.key_prefix}:{{{_encode(profile)}:"
        return self._listed(profile, head)

    def _listed(self, profile: str, head: str) -> Iterator[TokenKey]:
        pattern = _glob_escaped(head) + "*" + _TOKEN_TAIL
        action, whose = "list the tokens of", f"profile {profile!r}"
        seen: set[str] = set()
        cursor = 0
        while True:
            with self._redis(action, whose):
                cursor, found = self._connect().scan(cursor=cursor, match=pattern,
                                                     count=_SCAN_COUNT)
            batch: dict[str, bytes | str] = {}
            for name in found:
                identity = _identity_in(name, head)
                # SCAN may return a key more than once while the keyspace is rehashed.
                if identity is not None and identity not in seen:
                    batch[identity] = name
            with self._redis(action, whose):
                holding = self._holding_tokens(batch)
            for identity in holding:
                seen.add(identity)
                yield TokenKey(profile, identity)
            if int(cursor) == 0:
                return

    def _holding_tokens(self, batch: dict[str, bytes | str]) -> list[str]:
        """The identities of ``batch`` (identity: entry name) whose entry holds a token, or
        may (one that cannot be read): two small commands per entry, in one round trip."""
        if not batch:
            return []
        pipe = self._connect().pipeline(transaction=False)
        for name in batch.values():
            pipe.hexists(name, "v")
            pipe.hmget(name, "g", "t")
        answers = pipe.execute(raise_on_error=False)
        holding: list[str] = []
        unmarked: dict[str, bytes | str] = {}
        for position, identity in enumerate(batch):
            has_value, fields = answers[2 * position], answers[2 * position + 1]
            if isinstance(has_value, Exception) or isinstance(fields, Exception):
                holding.append(identity)  # not a hash: unreadable, and loading says so
                continue
            if not has_value:
                continue  # a logout in clear, or fields with no value: nothing stored
            generation, mark = fields
            if isinstance(generation, bytes) and mark == b"1:" + generation:
                holding.append(identity)
            elif not (isinstance(generation, bytes) and mark == b"0:" + generation):
                unmarked[identity] = batch[identity]
        cipher = self._get_cipher()
        if cipher is None:
            # In clear a logout removes the value, so a value is a token (or not readable).
            return holding + list(unmarked)
        if unmarked:
            pipe = self._connect().pipeline(transaction=False)
            for name in unmarked.values():
                pipe.hget(name, "v")
            values = pipe.execute(raise_on_error=False)
            holding.extend(identity for identity, value in zip(unmarked, values, strict=True)
                           if not _is_logout_record(value, cipher))
        return holding

    def lock(self, key: TokenKey, timeout: float) -> LeaseLock:
        names = key_names(self.options.key_prefix, key)

        def acquire(holder: str, ttl_ms: int) -> int:
            with self._redis("take the refresh lock of", key):
                answer = self._script("acquire")(keys=[names.lock, names.fence, names.token],
                                                 args=[holder, ttl_ms])
            if not isinstance(answer, list):
                return 0
            fence = int(answer[0])
            floor = self._sealed_fence(key, names, answer[1], answer[2])
            if fence > floor:
                return fence
            # Never so when every fence came from the counter: a holder's, a logout's and a
            # write outside the lock are all at most the counter, and it only grows.
            log.warning(
                "%s: the fence counter %s gave fence %d, not above the fence %d of the stored "
                "token: someone with write access to Redis lowered or removed it; raising it",
                key, names.fence, fence, floor,
            )
            with self._redis("take the refresh lock of", key):
                return int(self._script("raise_fence")(
                    keys=[names.lock, names.fence], args=[f"{holder}:{fence}", floor, holder]
                ))

        def renew(value: str, ttl_ms: int) -> bool:
            with self._redis("renew the refresh lock of", key):
                return bool(self._script("renew")(keys=[names.lock], args=[value, ttl_ms]))

        def release(value: str) -> bool:
            with self._redis("release the refresh lock of", key):
                return bool(self._script("release")(keys=[names.lock],
                                                    args=[value, names.released]))

        return LeaseLock(
            store_id=self._identity, lock_key=names.lock, label=str(key),
            ttl=self.options.lock_ttl, timeout=timeout,
            acquire=acquire, renew=renew, release=release,
            listen=lambda: self._listen(names.released),
            heard=lambda: self._listen(names.released, confirmed_only=True),
        )

    def _listen(self, channel: str, *, confirmed_only: bool = False) -> _Listener | None:
        """Listen for the announcements of ``channel`` (the releases of a lock) through the
        store's one subscriber (:mod:`brokerauth_redis.releases`), made on the first wait;
        ``None`` once the subscription was refused (an ACL without the channel right,
        remembered): the waiter polls as it would without.  With ``confirmed_only``, only
        through a subscriber of this process whose subscription is confirmed, nothing made
        or waited for (``None`` otherwise): what a lock takes before its first attempt."""
        if self._listen_refused:
            return None
        if confirmed_only:
            with self._guard:
                subscriber = self._subscriber
                if (subscriber is None or self._subscriber_pid != os.getpid()
                        or not subscriber.confirmed(0)):
                    return None
                event = subscriber.register(channel)
            return None if event is None else _Listener(self, subscriber, channel, event)
        subscriber, event = self._subscribed(channel)
        if subscriber is None or event is None:
            return None
        return _Listener(self, subscriber, channel, event)

    def _subscribed(self, channel: str) -> tuple[Subscriber | None, threading.Event | None]:
        """The store's subscriber (made if need be) and an event of ``channel`` in it."""
        client = self._connect()
        for _attempt in range(2):  # a subscriber that closed just now: one new one
            with self._guard:
                subscriber = self._subscriber
                if subscriber is not None and self._subscriber_pid != os.getpid():
                    # Made in the parent of this forked process: its thread is not here.
                    # Dropped, not closed (the connection is the parent's too).
                    subscriber = self._subscriber = None
                if subscriber is None or subscriber.closed:
                    if subscriber is not None and subscriber.refused:
                        self._listen_refused = True
                        return None, None
                    subscriber = self._subscriber = self._make_subscriber(client)
                    self._subscriber_pid = os.getpid()
                    subscriber.start()
                event = subscriber.register(channel)
            if event is not None:
                return subscriber, event
        return None, None

    def _make_subscriber(self, client: redis.Redis) -> Subscriber:
        commands = client.connection_pool
        settings = {name: value for name, value in commands.connection_kwargs.items()
                    if "maint_notifications" not in name}
        # Its own pool of one: the subscription never takes a connection from the command
        # pool's max_connections, and is made once per store, not once per wait.
        pool = redis.ConnectionPool(connection_class=commands.connection_class,
                                    max_connections=1, **settings)

        def make_pubsub() -> Any:
            return redis.client.PubSub(pool, ignore_subscribe_messages=False)

        pattern = _glob_escaped(self.options.key_prefix) + ":*:released"
        return Subscriber(make_pubsub, pattern, self.location)

    def close(self) -> None:
        with self._guard:
            client, self._client = self._client, None
            subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None and self._subscriber_pid == os.getpid():
            subscriber.close()
        if client is not None:
            client.close()

    # -- generations and fences ----------------------------------------------------------
    def _read(self, key: TokenKey, names: KeyNames, action: str) -> _Snapshot:
        with self._redis(action, key):
            value, generation, fence, counter, lock = self._script("read")(
                keys=[names.token, names.fence, names.lock]
            )
        assert value is None or isinstance(value, bytes)
        lock_fence = None
        if isinstance(lock, bytes):
            lock_fence = clear_number(lock.rpartition(b":")[2])
        return _Snapshot(value, clear_number(generation), clear_number(fence),
                         clear_number(counter), lock_fence)

    def _inspect(
        self, key: TokenKey, names: KeyNames, snapshot: _Snapshot, cipher: MultiFernet | None
    ) -> tuple[Entry, bool]:
        """What a write decides on: the entry there now, and whether it could be read.  An
        entry that cannot be read does not stop a write (that is how a logout, or a new
        login, replaces it); its generation and fence then count as none."""
        try:
            entry = open_entry(
                snapshot.value, key, names.token, cipher,
                clear_generation=snapshot.generation, clear_fence=snapshot.fence,
                source=self._source(names), key_source=self._key_source(), store="redis",
                where="Redis",
            )
        except StoreError as problem:
            log.warning("%s: replacing stored token %s, which cannot be used: %s", key,
                        self._source(names), problem.message)
            if cipher is None:
                # In clear the fields are all there is, readable value or not.
                return Entry(None, snapshot.generation or 0, snapshot.fence or 0, False), False
            return Entry(None, 0, 0, authenticated=False), False
        if entry is None:
            return Entry(None, 0, 0, authenticated=False), True
        return entry, True

    def _sealed_fence(self, key: TokenKey, names: KeyNames, value: Any, fence: Any) -> int:
        """The fence a new holder must be above: the sealed one (in clear: the field)."""
        snapshot = _Snapshot(value if isinstance(value, bytes) else None, None,
                             clear_number(fence), None, None)
        try:
            entry = open_entry(
                snapshot.value, key, names.token, self._get_cipher(), clear_generation=None,
                clear_fence=snapshot.fence, source=self._source(names),
                key_source=self._key_source(), store="redis", where="Redis",
            )
        except StoreError:
            return 0  # reading the entry says what is wrong with it; the lock is not the place
        return entry.fence if entry is not None else (snapshot.fence or 0)

    def _check_current(
        self, key: TokenKey, names: KeyNames, entry: Entry, value: bytes,
        generation: int | None, fence: int | None,
    ) -> None:
        """Refuse a sealed value older than what is known to exist; put back clear copies
        someone changed."""
        seen = self._seen.get(names.token, 0)
        logout = f"`{for_key('logout', key)}`"
        replayed_hint = (
            "the entry is left as it is, and a new login replaces it: run "
            f"{logout}, then log in again; unless Redis itself was restored or failed over, "
            "find out who else can write to it (and change its password)"
        )
        if entry.legacy:
            if seen or generation:
                raise ReplayedEntryError(
                    f"stored token {self._source(names)} is in the older fernet1 envelope, "
                    "but a newer fernet2 value was already stored there: someone with write "
                    "access to Redis put an old value back",
                    hint=replayed_hint,
                )
            return
        if entry.generation < seen or (generation is not None and generation > entry.generation):
            newer = max(seen, generation or 0)
            raise ReplayedEntryError(
                f"stored token {self._source(names)} is an older value of this entry put back: "
                f"its sealed generation {entry.generation} is below generation {newer} "
                + ("that this process has already read or written"
                   if seen >= (generation or 0) else "in the entry's own generation record (g)")
                + "; it was replayed by someone with write access to Redis, or Redis lost "
                "writes (a restore from a backup, a failover to a replica behind)",
                hint=replayed_hint,
            )
        if generation != entry.generation or fence != entry.fence:
            # The sealed numbers are the writer's; the clear copies only mirror them, so
            # changed copies are repaired rather than allowed to mislead the next writer.
            log.warning(
                "%s: the clear %s of stored token %s did not match the sealed one (someone "
                "with write access to Redis changed it: a tampered %s); putting it back",
                key, "fence (f)" if fence != entry.fence else "generation (g)",
                self._source(names), "fence" if fence != entry.fence else "generation record",
            )
            try:
                with self._redis("repair the token of", key):
                    self._script("repair")(keys=[names.token],
                                           args=[value, entry.generation, entry.fence])
            except StoreError as problem:
                log.warning("%s: %s", key, problem.message)
        self._saw(names, entry.generation)

    def _next_generation(self, names: KeyNames, current: int) -> int:
        # Microseconds of the clock, when that is larger: after Redis lost its data (a
        # restart without persistence) the first new value is still above everything a
        # long-running process has seen, so it is not taken for a replay.
        with self._guard:
            seen = self._seen.get(names.token, 0)
        return max(time.time_ns() // 1000, current + 1, seen + 1)

    def _saw(self, names: KeyNames, generation: int) -> None:
        with self._guard:
            if generation > self._seen.get(names.token, 0):
                self._seen[names.token] = generation

    def _write(
        self, key: TokenKey, names: KeyNames, snapshot: _Snapshot, data: bytes,
        generation: int, fence: int, action: str, *, holds_token: bool,
    ) -> bool:
        read = snapshot.value
        with self._redis(action, key):
            return bool(self._script("write")(
                keys=[names.token],
                args=["0" if read is None else "1", read or b"", "1" if data else "0", data,
                      generation, fence, "1" if holds_token else "0"],
            ))

    def _busy(self, key: TokenKey, names: KeyNames, what: str) -> StoreError:
        return StoreError(
            f"cannot {what} the token of {key} in Redis at {self.location}: "
            f"{names.token!r} changed under each of {_WRITE_ATTEMPTS} attempts",
            hint="something rewrites the entry in a loop; if it is not another brokerauth, give "
            "this fleet its own key_prefix",
        )

    # -- connection, scripts, cipher -----------------------------------------------------
    def _connect(self) -> redis.Redis:
        client = self._client
        if client is not None:
            return client
        with self._guard:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> redis.Redis:
        options = self.options
        if isinstance(options.url, Secret):
            url = options.url.reveal()
            try:
                check_url(url, password_allowed=True)
                check_transport(url, encrypted=options.encryption_key is not None,
                                allow_plaintext=options.allow_plaintext)
            except ValueError as exc:
                raise ConfigError(
                    f"the redis store's url ({options.url.source}) {exc}",
                    hint="fix the value the reference points to, or the store's options",
                ) from None
        else:
            url = options.url
        location = safe_location(url)
        tls: dict[str, Any] = {}
        if urlsplit(url).scheme == "rediss":
            # What redis-py 5 to 8 default to, said here so that no version's default can
            # weaken it; the URL cannot either (check_url refuses such query options).
            tls = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=options.socket_timeout,
                socket_connect_timeout=options.connect_timeout,
                # One more try on a fresh connection covers a pooled connection that broke
                # while idle (Redis restarted); more would only delay the error of an outage.
                retry=Retry(NoBackoff(), 1),
                health_check_interval=0,
                client_name="brokerauth",
                **tls,
            )
        except (ValueError, TypeError):
            # redis-py's message may quote parts of the URL.
            raise ConfigError(
                f"the redis store's url ({self._url_source()}) is not a URL redis-py accepts",
                hint="use redis://host:port/db, rediss://host:port/db or unix:///path",
            ) from None
        if options.allow_plaintext and not is_local(url):
            missing = [what for what, present in (
                ("TLS", tls), ("an encryption_key", options.encryption_key is not None),
            ) if not present]
            if missing:
                log.warning("the redis store at %s is used without %s (allow_plaintext = true): "
                            "tokens are readable on the network or in Redis", location,
                            " and ".join(missing))
        self._scripts = {
            name: client.register_script(getattr(scripts, name.upper()))
            for name in ("acquire", "raise_fence", "renew", "release", "read", "write",
                         "next_fence", "repair", "take_call")
        }
        self._location = location
        return client

    def _script(self, name: str) -> Any:
        self._connect()
        return self._scripts[name]

    def _get_cipher(self) -> MultiFernet | None:
        return self._keys.get()

    def _key_source(self) -> str:
        return self._keys.source

    def _url_source(self) -> str:
        url = self.options.url
        return url.source if isinstance(url, Secret) else "in the profile"

    def _source(self, names: KeyNames) -> str:
        return f"{names.token!r} on {self.location}"

    @contextmanager
    def _redis(self, action: str, key: TokenKey | str) -> Iterator[None]:
        """Turn what redis-py raises into a :class:`StoreError` that says what to do."""
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise _store_error(exc, f"cannot {action} {key} in Redis at {self.location}") from None


class _Listener:
    """A waiter's :class:`~brokerauth_redis.lock.ReleaseListener`: its event in the store's
    subscriber."""

    def __init__(self, store: RedisStore, subscriber: Subscriber, channel: str,
                 event: threading.Event) -> None:
        self._store = store
        self._subscriber = subscriber
        self._channel = channel
        self._event = event

    def confirmed(self, within: float) -> bool:
        started = time.monotonic()
        if self._subscriber.confirmed(within):
            return True
        if self._subscriber.refused:
            self._store._listen_refused = True  # no later wait asks again
            time.sleep(max(0.0, within - (time.monotonic() - started)))
        return False

    def wait(self, seconds: float) -> bool:
        heard = self._event.wait(seconds)
        if heard:
            self._event.clear()
        return heard

    def close(self) -> None:
        self._subscriber.unregister(self._channel, self._event)


def _glob_escaped(text: str) -> str:
    """``text`` matched literally by SCAN's MATCH (a key prefix may hold ``*?[]\\``)."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _identity_in(name: object, head: str) -> str | None:
    """The identity whose token entry ``name`` is, given the profile's ``head``
    (``<prefix>:{<P>:``), or ``None`` when it is not exactly such an entry's name: the
    identity must encode back to what the name holds."""
    if not isinstance(name, bytes):
        return None
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not (text.startswith(head) and text.endswith(_TOKEN_TAIL)):
        return None
    encoded = text[len(head):-len(_TOKEN_TAIL)]
    if not encoded:
        return None
    identity = encoded
    if "%" in encoded:
        from urllib.parse import unquote_to_bytes

        try:
            identity = unquote_to_bytes(encoded).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
    return identity if _encode(identity) == encoded else None


def _is_logout_record(value: object, cipher: MultiFernet) -> bool:
    """Whether an encrypted ``v`` is a sealed logout record (an empty body after the header).
    Anything that cannot be opened counts as a token: it is listed, and loading it says
    what is wrong."""
    if not isinstance(value, bytes) or not value.startswith(ENCRYPTED_MARK):
        return False
    from cryptography.fernet import InvalidToken

    try:
        plain = cipher.decrypt(value[len(ENCRYPTED_MARK):])
    except InvalidToken:
        return False
    _header, separator, body = plain.partition(b"\n")
    return bool(separator) and not body


def _store_error(exc: redis.exceptions.RedisError, what: str) -> StoreError:
    reason = f"{type(exc).__name__}: {str(exc)[:_REASON_LIMIT]}"
    if isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        hint = "check the user name and password in the store's url secret"
    elif isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        hint = ("check that Redis is running and reachable from this machine; sessions keep "
                "using their current token until it expires, then need Redis to refresh it")
    elif isinstance(exc, redis.exceptions.ResponseError) and "NOAUTH" in str(exc):
        hint = "this Redis needs a password: give the url as a secret reference with it"
    else:
        hint = ("if something else uses these keys, give this fleet its own key_prefix; "
                "otherwise report it with the error")
    return StoreError(f"{what} ({reason})", hint=hint)
