-- KEYS: source. ARGV: now, error ('' for success, else '!' .. error), articles.
redis.call('HSET', KEYS[1], 'last_attempt', ARGV[1])
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'last_success', ARGV[1])
  redis.call('HDEL', KEYS[1], 'last_error')
else
  redis.call('HSET', KEYS[1], 'last_error', string.sub(ARGV[2], 2))
end
redis.call('HINCRBY', KEYS[1], 'articles_seen', ARGV[3])
return 1
