-- KEYS: objects, written. ARGV: the keys.
-- Returns each key's value, then each key's write version (nil: absent, or
-- written before versions were kept, which the store reports as version 1),
-- read at one instant: a version read apart from its value could be newer
-- than the value, and a commit would then pass its read-set check on a
-- value it never saw.
local n = #ARGV
local out = {}
-- In chunks: Lua's unpack has a bounded stack.
for from = 1, n, 512 do
  local to = math.min(from + 511, n)
  local values = redis.call('HMGET', KEYS[1], unpack(ARGV, from, to))
  local written = redis.call('HMGET', KEYS[2], unpack(ARGV, from, to))
  for k = 1, to - from + 1 do
    out[from + k - 1] = values[k]
    out[n + from + k - 1] = written[k]
  end
end
return out
