-- KEYS: archive index, sizes, total. ARGV: retention cutoff, byte cap ('' for none), limit. Unindexes records
-- older than the cutoff, then the oldest while the total exceeds the cap; returns their digests, whose
-- records the caller deletes.
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local cap = tonumber(ARGV[2])
if cap then
  local total = tonumber(redis.call('GET', KEYS[3]) or '0')
  for _, d in ipairs(gone) do total = total - tonumber(redis.call('HGET', KEYS[2], d) or '0') end
  local offset = #gone
  while total > cap and #gone < tonumber(ARGV[3]) do
    local next = redis.call('ZRANGE', KEYS[1], offset, offset)
    if #next == 0 then break end
    gone[#gone + 1] = next[1]
    total = total - tonumber(redis.call('HGET', KEYS[2], next[1]) or '0')
    offset = offset + 1
  end
end
for _, d in ipairs(gone) do
  redis.call('DECRBY', KEYS[3], redis.call('HGET', KEYS[2], d) or '0')
  redis.call('HDEL', KEYS[2], d)
  redis.call('ZREM', KEYS[1], d)
end
return gone
