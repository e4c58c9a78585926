-- A tombstone: the driver leaves both the hash and the geo index.
-- KEYS[1] = driver hash, KEYS[2] = geo index; ARGV[1] = driver_id
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
