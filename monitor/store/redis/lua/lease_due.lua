-- KEYS: due, stream. ARGV: now, lease-until, limit, consumer, visibility timeout (ms), promote batch.
-- Moves due retries and digests onto the stream, takes over entries other consumers left unacknowledged
-- longer than the visibility timeout, then reads new entries. Returns {member, next before the lease, ...}.
--! include entries.lua
local dprefix = '${DELIVERY}'
local group = '${GROUP}'
local stream, limit = KEYS[2], tonumber(ARGV[3])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[6]))) do
  redis.call('ZREM', KEYS[1], m)
  if redis.call('EXISTS', dprefix .. m) == 1 then push_entry(stream, dprefix .. m, m) end
end
local out = {}
local function take(eid, fields)
  local m = fields and fields[2]
  if not m or redis.call('HGET', dprefix .. m, 'eid') ~= eid then
    -- deleted, expired, or superseded by a newer entry of the same delivery: not ours to send
    redis.call('XACK', stream, group, eid)
    redis.call('XDEL', stream, eid)
    return
  end
  table.insert(out, m)
  table.insert(out, redis.call('HGET', dprefix .. m, 'next'))
  redis.call('HSET', dprefix .. m, 'next', ARGV[2])
end
local claimed = redis.call('XAUTOCLAIM', stream, group, ARGV[4], ARGV[5], '0-0', 'COUNT', limit)
for _, e in ipairs(claimed[2]) do take(e[1], e[2]) end
local left = limit - #out / 2
if left > 0 then
  local fresh = redis.call('XREADGROUP', 'GROUP', group, ARGV[4], 'COUNT', left, 'STREAMS', stream, '>')
  if fresh then
    for _, e in ipairs(fresh[1][2]) do take(e[1], e[2]) end
  end
end
return out
