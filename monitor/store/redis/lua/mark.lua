-- KEYS: delivery, due, stream. ARGV: member, state, attempts increment, error ('' keeps), next ('' for
-- none). Acknowledges the delivery's stream entry. A retried digest delivery stays in its digest.
--! include entries.lua
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[3])
local state = ARGV[2]
if state == 'pending' and redis.call('HGET', KEYS[1], 'state') == 'digest' then state = 'digest' end
redis.call('HSET', KEYS[1], 'state', state)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', string.sub(ARGV[4], 2)) end
drop_entry(KEYS[3], KEYS[1])
if state == 'pending' or state == 'digest' then
  redis.call('HSET', KEYS[1], 'next', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
