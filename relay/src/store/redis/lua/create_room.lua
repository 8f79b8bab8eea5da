-- KEYS: doc. ARGV: doc, expire_at_ms.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'd', ARGV[1], 'x', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
