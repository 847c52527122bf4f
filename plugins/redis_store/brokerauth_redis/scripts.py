"""The Lua scripts behind every change the store makes, each atomic on the server.

Keys of one profile and identity (``P`` and ``I`` percent-encoded, see
:func:`brokerauth_redis.store.key_names`)::

    <prefix>:{P:I}:token   hash: v = the stored bytes, f = the fence that wrote them
    <prefix>:{P:I}:lock    string "<holder>:<fence>", with the lease's TTL
    <prefix>:{P:I}:fence   counter: the last fence handed out (never expires)

The braces put the three keys in one Redis Cluster hash slot, which Lua scripts need.

Fencing follows the classic rule: every acquisition of the lock gets a larger number, and the
token entry remembers the number of the holder that wrote it; a write from a holder with a
smaller number than that is refused.  A holder whose lease lapsed (a paused process) can
therefore still store its token if nobody wrote since, which matters because its refresh
may already have rotated the refresh token; but it can never overwrite a newer one.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "DELETE", "RELEASE", "RENEW", "TAKE_CALL", "WRITE"]

#: KEYS: lock, fence counter.  ARGV: holder id, lease in ms.
#: Returns the fence (> 0) once held, 0 if another holder has it.  Asking again as the same
#: holder returns the same fence, so a retried call (lost reply) is harmless.
ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held then
  local mine = ARGV[1] .. ':'
  if string.sub(held, 1, string.len(mine)) == mine then
    return tonumber(string.sub(held, string.len(mine) + 1))
  end
  return 0
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
return fence
"""

#: KEYS: lock.  ARGV: the lock's value, lease in ms.  1 if extended, 0 if no longer ours.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

#: KEYS: lock.  ARGV: the lock's value.  Deletes the lock only if it is still ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: KEYS: token hash, fence counter.  ARGV: the bytes, the writer's fence ('' outside a lock).
#: 1 if written, 0 if refused because a holder with a larger fence wrote since.  A write
#: outside the lock is last-writer-wins and counts as new as the latest fence handed out.
WRITE = """
local written = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local fence
if ARGV[2] == '' then
  fence = math.max(written, tonumber(redis.call('GET', KEYS[2]) or '0'))
else
  fence = tonumber(ARGV[2])
  if fence < written then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'f', fence)
return 1
"""

#: KEYS: token hash, fence counter.  Removes the token and advances the fence past every
#: holder so far, so a refresh still running somewhere cannot bring a logged-out token back.
#: 1 if a token was removed, 0 if there was none.
DELETE = """
local fence = redis.call('INCR', KEYS[2])
local removed = redis.call('HDEL', KEYS[1], 'v')
redis.call('HSET', KEYS[1], 'f', fence)
return removed
"""

#: KEYS: the budget's sorted set (``<prefix>:{P:I}:budget:<name>``, call times as scores).
#: ARGV: now (Unix seconds), the window in seconds, the calls allowed in it, a unique member.
#: The sliding window of :func:`brokerauth.budget.take`, atomically: returns "0" when the call
#: is allowed (and counted), else the seconds until it would be, as text (Lua numbers reach
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
