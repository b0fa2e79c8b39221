-- Shared by the scripts that drop a delivery's stream entry. XACK may fail with NOGROUP when the group is
-- being (re)created; the entry is deleted either way, so pcall.
local function drop_entry(stream, dkey)
  local eid = redis.call('HGET', dkey, 'eid')
  if eid then
    redis.pcall('XACK', stream, '${GROUP}', eid)
    redis.call('XDEL', stream, eid)
    redis.call('HDEL', dkey, 'eid')
  end
end
local function push_entry(stream, dkey, m)
  redis.call('HSET', dkey, 'eid', redis.call('XADD', stream, '*', 'm', m))
end
