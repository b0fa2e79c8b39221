-- Redis's own clock for liveness: instances on different machines need not agree on the time. Before 7.0
-- a script must switch to effects replication to write after reading TIME.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
