-- Apply one driver update atomically, unless Redis already holds a newer one.
-- KEYS[1] = driver hash, KEYS[2] = geo index
-- ARGV = driver_id, latitude, longitude, timestamp, status
-- Timestamps are fixed-width ISO-8601 UTC (2026-11-22T10:30:45.123Z), so string order is time order.
local current = redis.call('HGET', KEYS[1], 'timestamp')
if current and current > ARGV[4] then
  return 0
end
-- DEL first: the hash holds exactly the contract's fields, whatever an older version left behind.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'driver_id', ARGV[1], 'latitude', ARGV[2], 'longitude', ARGV[3],
           'timestamp', ARGV[4], 'status', ARGV[5])
local lat = tonumber(ARGV[2])
-- Redis geo sets only index latitudes within +-85.05112878 (Web Mercator).
if lat >= -85.05112878 and lat <= 85.05112878 then
  redis.call('GEOADD', KEYS[2], ARGV[3], ARGV[2], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
