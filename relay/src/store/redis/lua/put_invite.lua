-- KEYS: doc, invites. ARGV: code, `+value`. Does nothing if the room is gone.
local expire_at = redis.call('HGET', KEYS[1], 'x')
if not expire_at then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], expire_at)
return 1
