-- KEYS: doc, then every other key of the room. ARGV: channel, notification.
-- Announces the deletion only if the room existed.
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
if existed == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return existed
