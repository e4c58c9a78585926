-- Apply many driver records in order, in one call: each update atomically (hash + geo index) unless
-- Redis already holds a newer one for its driver; each tombstone removes its driver from both.
-- KEYS[1] = geo index; KEYS[2] = statistics hash; KEYS[2 + i] = hash of the i-th record
-- ARGV = 5 per record: driver_id, latitude, longitude, timestamp, status (a tombstone: timestamp '')
-- Returns one reply per record: 1 written, 0 stale, 2 deleted, or a string: why Redis refused it.
-- The statistics hash keeps the newest timestamp written and counts of updates written and drivers
-- deleted, so a monitor reads freshness in O(1) instead of scanning every driver.
-- Timestamps are fixed-width ISO-8601 UTC (2026-11-22T10:30:45.123Z), so string order is time order.
local geo = KEYS[1]
local out = {}
local newest = nil
local applied, deleted = 0, 0
for i = 3, #KEYS do
  local key = KEYS[i]
  local r = i - 2
  local a = (r - 1) * 5
  local id, lat, lon, ts = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if ts == '' then
    redis.call('DEL', key)
    redis.call('ZREM', geo, id)
    deleted = deleted + 1
    out[r] = 2
  else
    -- pcall: a key of another type is this record's problem (dead letter queue), not the batch's.
    local current = redis.pcall('HGET', key, 'timestamp')
    if type(current) == 'table' and current.err then
      out[r] = current.err
    elseif current and current > ts then
      out[r] = 0
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
      applied = applied + 1
      if not newest or ts > newest then
        newest = ts
      end
      out[r] = 1
    end
  end
end
-- pcall: a statistics key of another type must not cost any driver its update.
if newest then
  local known = redis.pcall('HGET', KEYS[2], 'newest')
  if type(known) ~= 'table' and (not known or known < newest) then
    redis.pcall('HSET', KEYS[2], 'newest', newest)
  end
  redis.pcall('HINCRBY', KEYS[2], 'applied', applied)
end
if deleted > 0 then
  redis.pcall('HINCRBY', KEYS[2], 'deleted', deleted)
end
return out
