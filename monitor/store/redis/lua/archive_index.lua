-- KEYS: archive index, sizes, total. ARGV: digest, detected_at, size, ... (triples). Indexes written records.
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[2], ARGV[i])
  if old then redis.call('DECRBY', KEYS[3], old) end
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  redis.call('INCRBY', KEYS[3], ARGV[i + 2])
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
end
