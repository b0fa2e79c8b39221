-- KEYS: claim, stream, index, due. ARGV: now, retention cutoff, ttl, alert json after its id field, notifiers
-- json (sorted: stream order is then like SQLite's), claim key, realert cutoff ('' for never). Returns the
-- claimed alert id, or false.
--! include entries.lua
local claim = redis.call('HMGET', KEYS[1], 'n', 'at')
local n = 0
if claim[2] and tonumber(claim[2]) >= tonumber(ARGV[2]) then
  if ARGV[7] == '' or tonumber(claim[2]) > tonumber(ARGV[7]) then return false end
  n = tonumber(claim[1]) + 1
end
local id = ARGV[6]
if n > 0 then id = id .. '-r' .. n end
local akey = '${ALERT}' .. id
local dprefix = '${DELIVERY}'
if redis.call('EXISTS', akey) == 1 then
  -- an alert of this id older than retention (by the clock) is forgotten, as if it had expired
  for _, name in ipairs(cjson.decode(redis.call('HGET', akey, 'notifiers') or '[]')) do
    local m = id .. '\0' .. name
    drop_entry(KEYS[2], dprefix .. m)
    redis.call('DEL', dprefix .. m)
    redis.call('ZREM', KEYS[4], m)
    redis.call('ZREM', KEYS[3], m)
  end
  redis.call('DEL', akey)
end
redis.call('HSET', KEYS[1], 'n', n, 'at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HSET', akey, 'json', '{"id":"' .. id .. '",' .. ARGV[4], 'at', ARGV[1], 'notifiers', ARGV[5])
redis.call('EXPIRE', akey, ARGV[3])
for _, name in ipairs(cjson.decode(ARGV[5])) do
  local m = id .. '\0' .. name
  redis.call('HSET', dprefix .. m, 'state', 'pending', 'attempts', 0, 'next', ARGV[1], 'created', ARGV[1])
  redis.call('EXPIRE', dprefix .. m, ARGV[3])
  push_entry(KEYS[2], dprefix .. m, m)
  redis.call('ZADD', KEYS[3], ARGV[1], m)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
return id
