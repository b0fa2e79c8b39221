-- KEYS: leases. ARGV: owner. Drops each lease the owner holds; another owner's is left alone.
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
