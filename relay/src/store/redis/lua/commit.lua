-- KEYS: doc, objects, then one inbox per delivery.
-- ARGV: expect_version, channel, notification head, has_doc ('0'/'1'), doc,
-- put count, the puts as key/value pairs, count count, the counters as
-- field/increment pairs (added to the doc hash), then participant (16 raw
-- bytes) and payload per delivery.
--
-- Returns nil on a version conflict, else `{version, seq...}`. The next seq
-- of an inbox is one past its newest entry id (entries are never trimmed).
-- The notification appends one `participant seq ':' len ':' payload`
-- record per delivery to the head; see notify.rs.
local doc, objects = KEYS[1], KEYS[2]
local state = redis.call('HMGET', doc, 'v', 'x')
if not state[1] or state[1] ~= ARGV[1] then return false end
local expire_at = state[2]
if not expire_at then return redis.error_reply('CORRUPT room has no expiry') end
local version = redis.call('HINCRBY', doc, 'v', 1)
if ARGV[4] == '1' then redis.call('HSET', doc, 'd', ARGV[5]) end
local puts = tonumber(ARGV[6])
local i = 7
for _ = 1, puts do
  redis.call('HSET', objects, ARGV[i], ARGV[i + 1])
  i = i + 2
end
if puts > 0 then redis.call('PEXPIREAT', objects, expire_at) end
local counts = tonumber(ARGV[i])
i = i + 1
for _ = 1, counts do
  redis.call('HINCRBY', doc, ARGV[i], ARGV[i + 1])
  i = i + 2
end
local result, announced = { version }, { ARGV[3] }
for k = 3, #KEYS do
  local inbox, participant, payload = KEYS[k], ARGV[i], ARGV[i + 1]
  i = i + 2
  local seq = 1
  local newest = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)[1]
  if newest then seq = tonumber(string.match(newest[1], '^%d+')) + 1 end
  local id = string.format('%d', seq)
  redis.call('XADD', inbox, id .. '-0', 'e', payload)
  -- Expiry is absolute and the same for every key of the room: set it once,
  -- when the inbox is created.
  if not newest then redis.call('PEXPIREAT', inbox, expire_at) end
  result[#result + 1] = seq
  announced[#announced + 1] =
    participant .. id .. ':' .. string.format('%d', #payload) .. ':' .. payload
end
if #KEYS > 2 then redis.call('PUBLISH', ARGV[2], table.concat(announced)) end
return result
