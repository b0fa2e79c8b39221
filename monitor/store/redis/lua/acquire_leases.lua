-- KEYS: leases. ARGV: owner, then each lease's ttl ms. Per lease, in order: SET NX PX, or a renewal by
-- the holder; answers 1 (held by owner) or 0 (held by another), one per key.
local held = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[i + 1])
    held[i] = 1
  elseif holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[i + 1])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
