-- Apply many driver records in order, in one call: each update atomically (hash + geo index) unless
-- Redis already holds a newer one for its driver; each tombstone removes its driver from both.
-- KEYS[1] = geo index; KEYS[1 + i] = hash of the i-th record
-- ARGV = 5 per record: driver_id, latitude, longitude, timestamp, status (a tombstone: timestamp '')
-- Returns one reply per record: 1 written, 0 stale, 2 deleted, or a string: why Redis refused it.
-- Timestamps are fixed-width ISO-8601 UTC (2026-11-22T10:30:45.123Z), so string order is time order.
local geo = KEYS[1]
local out = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local a = (i - 2) * 5
  local id, lat, lon, ts = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if ts == '' then
    redis.call('DEL', key)
    redis.call('ZREM', geo, id)
    out[i - 1] = 2
  else
    -- pcall: a key of another type is this record's problem (dead letter queue), not the batch's.
    local current = redis.pcall('HGET', key, 'timestamp')
    if type(current) == 'table' and current.err then
      out[i - 1] = current.err
    elseif current and current > ts then
      out[i - 1] = 0
    else
      -- The hash holds exactly the contract's five fields, whatever an older version left behind:
      -- rewritten in place when it has them (the common case), started over otherwise.
      if not current or redis.call('HLEN', key) ~= 5 then
        redis.call('DEL', key)
        current = false
      end
      if redis.call('HSET', key, 'driver_id', id, 'latitude', lat, 'longitude', lon, 'timestamp', ts,
                    'status', ARGV[a + 5]) ~= 0 and current then
        redis.call('DEL', key)
        redis.call('HSET', key, 'driver_id', id, 'latitude', lat, 'longitude', lon, 'timestamp', ts,
                   'status', ARGV[a + 5])
      end
      local la = tonumber(lat)
      -- Redis geo sets only index latitudes within +-85.05112878 (Web Mercator).
      if la >= -85.05112878 and la <= 85.05112878 then
        redis.call('GEOADD', geo, lon, lat, id)
      else
        redis.call('ZREM', geo, id)
      end
      out[i - 1] = 1
    end
  end
end
return out
