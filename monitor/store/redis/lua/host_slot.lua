-- KEYS: host. ARGV: delay ms. Returns ms to wait: a queue of start times, `delay` apart, across instances.
--! include now_ms.lua
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local after = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', string.format('%d', after - now + 1000))
return start - now
