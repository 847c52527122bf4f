"""The Lua scripts behind every change the store makes, each atomic on the server.

Keys of one profile and identity (``P`` and ``I`` percent-encoded, see
:func:`brokerauth_redis.store.key_names`)::

    <prefix>:{P:I}:token   hash: v = the stored bytes, g = their generation,
                           f = the fence that wrote them, t = "1:<g>" when v holds a
                           token, "0:<g>" when it is a sealed logout record
    <prefix>:{P:I}:lock    string "<holder>:<fence>", with the lease's TTL
    <prefix>:{P:I}:fence   counter: the last fence handed out (never expires)

and one Pub/Sub channel, ``<prefix>:{P:I}:released``, on which each release of the lock is
announced, so that waiters try the lock (or re-read the token) at once instead of at their
next poll.

The braces put the three keys in one Redis Cluster hash slot, which Lua scripts need.

``t`` is for listing a profile's tokens (SCAN over ``<prefix>:{P:*}:token``) without opening
a single value: an encrypted logout record keeps ``v``, so only the envelope could tell it
from a token otherwise.  It names the generation it describes, so a ``t`` left behind by a
write of a version that does not keep it (a fleet half upgraded) is seen to be stale, like a
missing one, and the listing then opens that one envelope.  It is a hint for listing only:
nothing is ever loaded, refused or written because of it.

Fencing follows the classic rule: every acquisition of the lock gets a larger number, and the
token entry remembers the number of the holder that wrote it; a write from a holder with a
smaller number than that is refused.  A holder whose lease lapsed (a paused process) can
therefore still store its token if nobody wrote since, which matters because its refresh
may already have rotated the refresh token; but it can never overwrite a newer one.

Where the rule is decided: with an ``encryption_key`` the generation and fence that count
are the ones sealed inside ``v`` (:mod:`brokerauth_redis.envelope`), which Lua cannot read.
So the store reads the entry, opens it, decides in Python, and writes with :data:`WRITE`,
a compare-and-set on the exact bytes of ``v`` it opened: if anyone wrote meanwhile the
write is not done and the store starts again from the new value.  The clear ``g`` and
``f`` are copies, kept for redis-cli and so that a reader can notice them being changed;
nothing here trusts them.  Without a key nothing is sealed and the clear fields are all
there is.
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE", "NEXT_FENCE", "RAISE_FENCE", "READ", "RELEASE", "RENEW", "REPAIR", "TAKE_CALL",
    "WRITE",
]

#: KEYS: lock, fence counter, token hash.  ARGV: holder id, lease in ms.
#: Returns 0 if another holder has the lock, else ``{fence, v, f}``: the fence (> 0), and
#: the entry's value and clear fence, so the store can check in the same round trip that
#: the fence is above the sealed fence of the entry (a counter reset by hand would hand out
#: numbers that every write is refused for).  Asking again as the same holder returns the
#: same fence, so a retried call (lost reply) is harmless.
ACQUIRE = """
local fence
local held = redis.call('GET', KEYS[1])
if held then
  local mine = ARGV[1] .. ':'
  if string.sub(held, 1, string.len(mine)) ~= mine then
    return 0
  end
  fence = tonumber(string.sub(held, string.len(mine) + 1))
else
  fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
end
local entry = redis.call('HMGET', KEYS[3], 'v', 'f')
return {fence, entry[1], entry[2]}
"""

#: KEYS: lock, fence counter.  ARGV: the lock's value, the smallest fence acceptable, the
#: holder id.  For a holder whose fence is not above the entry's sealed fence (the counter
#: was lowered or removed by hand): lifts the counter past that fence and gives the holder
#: a new fence, keeping its lease.  Returns the new fence, or 0 if the lock is not ours.
RAISE_FENCE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local floor = tonumber(ARGV[2])
if (tonumber(redis.call('GET', KEYS[2]) or '') or -1) < floor then
  redis.call('SET', KEYS[2], floor)
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[3] .. ':' .. fence, 'KEEPTTL')
return fence
"""

#: KEYS: lock.  ARGV: the lock's value, lease in ms.  1 if extended, 0 if no longer ours.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

#: KEYS: lock.  ARGV: the lock's value, the channel announcing releases.  Deletes the lock
#: only if it is still ours, and then announces it on the channel: every waiter subscribed
#: to it tries at once (see :mod:`brokerauth_redis.lock`).  Returns 1 if released, 0 if the
#: lock was no longer ours (nothing is announced then: it was released, or lapsed, already).
#: The announcement is a hint, so ``pcall``: a Redis user without the channel right (Redis 7's
#: default for a new user) still releases, and its waiters poll.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.pcall('PUBLISH', ARGV[2], '1')
  return 1
end
return 0
"""

#: KEYS: token hash, fence counter, lock.  Returns ``{v, g, f, counter, lock}`` at one
#: instant, each nil when missing: what a write or a logout decides on.
READ = """
local entry = redis.call('HMGET', KEYS[1], 'v', 'g', 'f')
return {entry[1], entry[2], entry[3], redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""

#: KEYS: token hash.  ARGV: '1' if a value was read (else '0'), the value read, '1' to
#: store a value (else '0': remove it, a logout in clear), the value, generation, fence,
#: '1' if the value is a token (else '0': a logout record).
#: 1 if written; 0 if ``v`` is no longer the value read: someone wrote meanwhile, and the
#: store decides again on what is there now.
WRITE = """
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '1' then
  if current ~= ARGV[2] then
    return 0
  end
elseif current then
  return 0
end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'v', ARGV[4])
else
  redis.call('HDEL', KEYS[1], 'v')
end
redis.call('HSET', KEYS[1], 'g', ARGV[5], 'f', ARGV[6], 't', ARGV[7] .. ':' .. ARGV[5])
return 1
"""

#: KEYS: fence counter.  The next fence, for a logout: larger than every holder's so far,
#: so a refresh still running somewhere cannot bring a logged-out token back.
NEXT_FENCE = """
return redis.call('INCR', KEYS[1])
"""

#: KEYS: token hash.  ARGV: the value read, its sealed generation and fence.  Puts the clear
#: copies back when someone changed them, if the value is still the one read; 1 if done.
REPAIR = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'f', ARGV[3])
return 1
"""

#: KEYS: the budget's sorted set (``<prefix>:{P:I}:budget:<name>``, call times as scores).
#: ARGV: now (Unix seconds), the window in seconds, the calls allowed in it, a unique member.
#: The sliding window of :func:`brokerauth.toolkit.budget.take`, atomically: returns "0" when the
#: call is allowed (and counted), else the seconds until it would be, as text (Lua numbers reach
#: Redis as integers).
TAKE_CALL = """
local now = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local calls = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + per), '+inf')
local count = redis.call('ZCARD', KEYS[1])
if count < calls then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(per * 1000) + 1000)
  return '0'
end
local edge = redis.call('ZRANGE', KEYS[1], count - calls, count - calls, 'WITHSCORES')
local wait = tonumber(edge[2]) + per - now
if wait < 0.001 then wait = 0.001 end
return tostring(wait)
"""
