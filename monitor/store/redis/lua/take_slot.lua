-- KEYS: slot counter. ARGV: ttl.
local used = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return used
