-- KEYS: invites. ARGV: code. Returns what was stored before; a live code
-- (`+value`) is replaced by the tombstone `-`, which keeps the hash's expiry.
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, 1) == '+' then
  redis.call('HSET', KEYS[1], ARGV[1], '-')
end
return value
