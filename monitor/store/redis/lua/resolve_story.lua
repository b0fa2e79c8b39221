-- KEYS: story-of-url key, the band buckets of the fingerprint, then those of its legacy fingerprint (if
-- any). ARGV: now, window cutoff, retention cutoff, signature (hex), size, url, max urls, ttl, key for a
-- new story, fallback key, band keys (space-joined), min containment, min shingles, permutations, how many
-- buckets are the fingerprint's, legacy signature, legacy size. Returns {key, new, other urls...}.
local sprefix = '${STORY}'
local uprefix = '${STORY_URLS}'
local now, window, sig, size = ARGV[1], tonumber(ARGV[2]), ARGV[4], tonumber(ARGV[5])
local perms, nbands = tonumber(ARGV[14]), tonumber(ARGV[15])
-- exactly monitor.fingerprint.containment / same_story, operation for operation
local function containment(a, asize, b, bsize)
  local equal = 0
  for i = 0, perms - 1 do
    if string.sub(a, i * 8 + 1, i * 8 + 8) == string.sub(b, i * 8 + 1, i * 8 + 8) then
      equal = equal + 1
    end
  end
  local j = equal / perms
  return math.min(1.0, j * (asize + bsize) / ((1.0 + j) * math.min(asize, bsize)))
end
local function same(a, asize, b, bsize)
  if math.min(asize, bsize) < tonumber(ARGV[13]) then return asize > 0 and asize == bsize and a == b end
  return containment(a, asize, b, bsize) >= tonumber(ARGV[12])
end
-- The best story among those listed in KEYS[first..last] for signature a of asize.
local function nearest(first, last, a, asize)
  local key, best_c, best_first
  local looked = {}
  for i = first, last do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[3])
    for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i], window, '+inf')) do
      if not looked[k] then
        looked[k] = true
        local s = redis.call('HMGET', sprefix .. k, 'sig', 'size', 'first', 'last')
        if s[1] and tonumber(s[4]) >= window and same(a, asize, s[1], tonumber(s[2])) then
          local c, first_seen = containment(a, asize, s[1], tonumber(s[2])), tonumber(s[3])
          if not key or c > best_c or (c == best_c and (first_seen < best_first or
              (first_seen == best_first and k < key))) then
            key, best_c, best_first = k, c, first_seen
          end
        end
      end
    end
  end
  return key
end
-- This fingerprint's buckets list story ``key`` from now on.
local function index(key)
  for i = 2, nbands + 1 do
    redis.call('ZADD', KEYS[i], now, key)
    redis.call('EXPIRE', KEYS[i], ARGV[8])
  end
end
local key = redis.call('GET', KEYS[1])
if key then
  local last = redis.call('HGET', sprefix .. key, 'last')
  if not last or tonumber(last) < window then key = nil end
end
if not key and size > 0 then
  key = nearest(2, nbands + 1, sig, size)
  local lsize = tonumber(ARGV[17])
  if not key and #KEYS > nbands + 1 and lsize > 0 then
    key = nearest(nbands + 2, #KEYS, ARGV[16], lsize)
    if key then  -- the story takes this copy's signature, in this algorithm
      for bucket in string.gmatch(redis.call('HGET', sprefix .. key, 'bands') or '', '%S+') do
        redis.call('ZREM', bucket, key)
      end
      redis.call('HSET', sprefix .. key, 'sig', sig, 'size', size, 'bands', ARGV[11])
      index(key)
    end
  end
end
local new = 0
if key then
  redis.call('HSET', sprefix .. key, 'last', now)
  for bucket in string.gmatch(redis.call('HGET', sprefix .. key, 'bands') or '', '%S+') do
    redis.call('ZADD', bucket, 'XX', now, key)
  end
else
  new = 1
  key = ARGV[9]
  if redis.call('EXISTS', sprefix .. key) == 1 then key = ARGV[10] end
  redis.call('DEL', sprefix .. key, uprefix .. key)
  local bands = ''
  if size > 0 then
    bands = ARGV[11]
    index(key)
  end
  redis.call('HSET', sprefix .. key, 'sig', sig, 'size', size, 'first', now, 'last', now, 'bands', bands)
end
redis.call('SET', KEYS[1], key, 'EX', ARGV[8])
local ukey = uprefix .. key
local urls = redis.call('ZRANGE', ukey, 0, -1)
if not redis.call('ZSCORE', ukey, ARGV[6]) and #urls < tonumber(ARGV[7]) then
  redis.call('ZADD', ukey, #urls, ARGV[6])
end
redis.call('EXPIRE', sprefix .. key, ARGV[8])
redis.call('EXPIRE', ukey, ARGV[8])
local out = {key, new}
for _, u in ipairs(urls) do
  if u ~= ARGV[6] then table.insert(out, u) end
end
return out
