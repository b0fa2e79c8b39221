-- KEYS: delivery, due, stream. ARGV: member, until.
--! include entries.lua
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'pending' and state ~= 'digest' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'digest', 'next', ARGV[2])
drop_entry(KEYS[3], KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
