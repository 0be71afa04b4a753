-- Sliding-window counter: the previous fixed window's count, weighted by how much of it still
-- overlaps the sliding window, plus the current window's count.
-- KEYS[1] current window counter, KEYS[2] previous window counter
-- ARGV[1] limit, ARGV[2] weight of the previous window (0..1), ARGV[3] counter ttl in seconds
-- Returns {allowed (1/0), previous count, current count}
local limit = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if previous * weight + current + 1 > limit then
  return {0, previous, current}
end
current = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, previous, current}
