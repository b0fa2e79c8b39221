-- KEYS: alert, due, stream. ARGV: now, alert id, notifier ('' for all, else '=' .. name). A delivery
-- already on the stream (due, or being sent) keeps its entry: a second one would send it twice.
--! include entries.lua
local ns = redis.call('HGET', KEYS[1], 'notifiers')
if not ns then return 0 end
local dprefix = '${DELIVERY}'
local changed = 0
for _, n in ipairs(cjson.decode(ns)) do
  if ARGV[3] == '' or ARGV[3] == '=' .. n then
    local m = ARGV[2] .. '\0' .. n
    local state = redis.call('HGET', dprefix .. m, 'state')
    if state == 'dead' or state == 'pending' or state == 'digest' then
      redis.call('HSET', dprefix .. m, 'state', 'pending', 'next', ARGV[1])
      redis.call('ZREM', KEYS[2], m)
      if not redis.call('HGET', dprefix .. m, 'eid') then push_entry(KEYS[3], dprefix .. m, m) end
      changed = changed + 1
    end
  end
end
return changed
