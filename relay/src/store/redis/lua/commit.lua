-- KEYS: doc, objects, then one inbox per delivery.
-- ARGV: expect_version, channel, notification head, has_doc ('0'/'1'), doc,
-- put count, the puts as key/value pairs, count count, the counters as
-- field/increment pairs (kept in the doc hash), then participant (16 raw
-- bytes) and payload per delivery.
--
-- Returns nil on a version conflict, else `{version, seq...}`.
--
-- Redis does little more than append and publish: one HMGET reads the
-- version, the expiry, whether the objects hash has its expiry (`o`), each
-- recipient's inbox counter (`s<participant>`) and each counter; one HSET
-- writes them all back. An inbox's next seq is one past its counter. A room
-- written before the counters existed has none: the newest entry id is read
-- once per inbox instead (entries are never trimmed), and the counter is
-- set from then on.
--
-- The notification appends one `participant seq ':' len ':' payload`
-- record per delivery to the head; see notify.rs.
local doc, objects = KEYS[1], KEYS[2]
local puts = tonumber(ARGV[6])
local i = 7 + 2 * puts
local counts = tonumber(ARGV[i])
local first_delivery = i + 1 + 2 * counts

-- Every field this commit reads, each once.
local fields, slot = { 'v', 'x', 'o' }, {}
local function want(field)
  if not slot[field] then
    fields[#fields + 1] = field
    slot[field] = #fields
  end
end
for c = 0, counts - 1 do want(ARGV[i + 1 + 2 * c]) end
for k = 0, #KEYS - 3 do want('s' .. ARGV[first_delivery + 2 * k]) end

local state = redis.call('HMGET', doc, unpack(fields))
if not state[1] or state[1] ~= ARGV[1] then return false end
local expire_at = state[2]
if not expire_at then return redis.error_reply('CORRUPT room has no expiry') end

local version = tonumber(state[1]) + 1
local value = {}
for f, at in pairs(slot) do value[f] = state[at] end
local writes = { 'v', string.format('%d', version) }
if ARGV[4] == '1' then
  writes[#writes + 1] = 'd'
  writes[#writes + 1] = ARGV[5]
end

if puts > 0 then
  -- In chunks: Lua's unpack has a bounded stack.
  for from = 7, 6 + 2 * puts, 512 do
    redis.call('HSET', objects, unpack(ARGV, from, math.min(from + 511, 6 + 2 * puts)))
  end
  -- Expiry is absolute and the same for every key of the room: set it once.
  if not state[3] then
    redis.call('PEXPIREAT', objects, expire_at)
    writes[#writes + 1] = 'o'
    writes[#writes + 1] = '1'
  end
end

for c = 0, counts - 1 do
  local field = ARGV[i + 1 + 2 * c]
  value[field] = (tonumber(value[field]) or 0) + tonumber(ARGV[i + 2 + 2 * c])
end

local result, announced = { version }, { ARGV[3] }
for k = 3, #KEYS do
  local inbox = KEYS[k]
  local at = first_delivery + 2 * (k - 3)
  local participant, payload = ARGV[at], ARGV[at + 1]
  local field = 's' .. participant
  local seq = tonumber(value[field])
  local created = false
  if not seq then
    seq = 0
    local newest = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)[1]
    if newest then seq = tonumber(string.match(newest[1], '^%d+')) else created = true end
  end
  seq = seq + 1
  value[field] = seq
  local id = string.format('%d', seq)
  redis.call('XADD', inbox, id .. '-0', 'e', payload)
  if created then redis.call('PEXPIREAT', inbox, expire_at) end
  result[#result + 1] = seq
  -- Pieces, joined once below: each string Lua makes is hashed over its
  -- whole length, so no payload is copied into a string of its own.
  local n = #announced
  announced[n + 1] = participant
  announced[n + 2] = id
  announced[n + 3] = ':' .. string.format('%d', #payload) .. ':'
  announced[n + 4] = payload
end

for f, at in pairs(slot) do
  if value[f] ~= state[at] then
    writes[#writes + 1] = f
    writes[#writes + 1] = string.format('%d', value[f])
  end
end
redis.call('HSET', doc, unpack(writes))
if #KEYS > 2 then redis.call('PUBLISH', ARGV[2], table.concat(announced)) end
return result
