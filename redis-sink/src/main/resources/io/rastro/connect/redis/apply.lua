-- Apply many driver records in order, in one call: each update atomically (hash + the geo set of its
-- status) unless Redis already holds a newer one for its driver; each tombstone removes its driver.
-- KEYS[1..3] = the geo sets of status available, busy, offline; KEYS[4] = statistics hash;
-- KEYS[4 + i] = hash of the i-th record
-- ARGV = 5 per record: driver_id, latitude, longitude, timestamp, status (a tombstone: timestamp '')
-- Returns one reply per record: 1 written, 0 stale, 2 deleted, or a string: why Redis refused it.
-- A driver is in exactly one geo set, its status's: a status change moves it in the same call, so a
-- search of one status never offers a driver whose hash says another.
-- The statistics hash keeps the newest timestamp written and counts of updates written and drivers
-- deleted, so a monitor reads freshness in O(1) instead of scanning every driver.
-- Timestamps are fixed-width ISO-8601 UTC (2026-11-22T10:30:45.123Z), so string order is time order.
local geo = {available = KEYS[1], busy = KEYS[2], offline = KEYS[3]}
local stats = KEYS[4]
local out = {}
local newest = nil
local applied, deleted = 0, 0
for i = 5, #KEYS do
  local key = KEYS[i]
  local r = i - 4
  local a = (r - 1) * 5
  local id, lat, lon, ts, status = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  if ts == '' then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    deleted = deleted + 1
    out[r] = 2
  elseif not geo[status] then
    out[r] = 'status ' .. status .. ' has no geo set'
  else
    -- pcall: a key of another type is this record's problem (dead letter queue), not the batch's.
    local held = redis.pcall('HMGET', key, 'timestamp', 'status')
    if held.err then
      out[r] = held.err
    elseif held[1] and held[1] > ts then
      out[r] = 0
    else
      local current, was = held[1], held[2]
      -- The hash holds exactly the contract's five fields, whatever an older version left behind:
      -- rewritten in place when it has them (the common case), started over otherwise.
      if not current or redis.call('HLEN', key) ~= 5 then
        redis.call('DEL', key)
        current = false
      end
      if redis.call('HSET', key, 'driver_id', id, 'latitude', lat, 'longitude', lon, 'timestamp', ts,
                    'status', status) ~= 0 and current then
        redis.call('DEL', key)
        redis.call('HSET', key, 'driver_id', id, 'latitude', lat, 'longitude', lon, 'timestamp', ts,
                   'status', status)
      end
      -- A new driver, or one whose status changed: out of every other status's set.
      if was ~= status then
        for s, k in pairs(geo) do
          if s ~= status then
            redis.call('ZREM', k, id)
          end
        end
      end
      local la = tonumber(lat)
      -- Redis geo sets only index latitudes within +-85.05112878 (Web Mercator).
      if la >= -85.05112878 and la <= 85.05112878 then
        redis.call('GEOADD', geo[status], lon, lat, id)
      else
        redis.call('ZREM', geo[status], id)
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
  local known = redis.pcall('HGET', stats, 'newest')
  if type(known) ~= 'table' and (not known or known < newest) then
    redis.pcall('HSET', stats, 'newest', newest)
  end
  redis.pcall('HINCRBY', stats, 'applied', applied)
end
if deleted > 0 then
  redis.pcall('HINCRBY', stats, 'deleted', deleted)
end
return out
