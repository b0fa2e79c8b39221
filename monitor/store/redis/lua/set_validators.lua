-- KEYS: validators. ARGV: ttl, then field/value pairs. Replaces the hash in one step.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
