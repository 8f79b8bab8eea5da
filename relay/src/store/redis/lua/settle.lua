-- KEYS: doc. Sets the room's expiry to what it is: no change, but a write
-- (so it is replicated), and a WAIT after it covers every earlier write of
-- the room. Does nothing if the room is gone.
local expire_at = redis.call('HGET', KEYS[1], 'x')
if expire_at then redis.call('PEXPIREAT', KEYS[1], expire_at) end
return 0
