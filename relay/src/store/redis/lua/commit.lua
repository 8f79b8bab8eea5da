-- KEYS: doc, objects, written, watchers, then one inbox per delivery.
-- ARGV: expect_version, channel, notification head, has_doc ('0'/'1'), doc,
-- put count, the puts as key/value pairs, count count, the counters as
-- field/increment pairs (kept in the doc hash), limit count, the ceilings
-- as field/max pairs, read count (-1: the whole room), the objects read as
-- key/version pairs, then participant (16 raw bytes) and payload per
-- delivery.
--
-- Returns nil on a conflict, else `{version, seq..., counter...}`: the new
-- version, each delivery's seq, and each counter's value after the commit.
--
-- Concurrency control by read set: with a read count of -1 the room's
-- version must still be expect_version; otherwise the document must not
-- have been written since expect_version (its write version is `w` in the
-- doc hash), nor each object read since the version it was read at (the
-- `written` hash). Every commit records what it wrote at its version.
--
-- Redis does little more than append and publish: one HMGET reads the
-- version, the expiry, the flags, each recipient's inbox counter
-- (`s<participant>`) and each counter; one HSET writes them all back. An
-- inbox's next seq is one past its counter. A room written before the
-- counters existed has none: the newest entry id is read once per inbox
-- instead (entries are never trimmed), and the counter is set from then on.
--
-- The notification appends one `participant seq ':' len ':' payload`
-- record per delivery to the head; see notify.rs. It is published only if
-- a node other than the committing one (bytes 3-18 of the head) watches
-- the room (the watchers hash, kept by watch.lua): the committing node
-- announces the commit to itself from this reply, so one node alone makes
-- Redis publish nothing.
local doc, objects, written, watchers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local first_inbox = 5
local puts = tonumber(ARGV[6])
local i = 7 + 2 * puts
local counts = tonumber(ARGV[i])
local l = i + 1 + 2 * counts
local limits = tonumber(ARGV[l])
local r = l + 1 + 2 * limits
local reads = tonumber(ARGV[r])
local first_delivery = r + 1 + 2 * math.max(reads, 0)

-- Every field this commit reads, each once. `o`/`p`: the objects and
-- written hashes have their expiry; `w`: the version that wrote the doc.
local fields, slot = { 'v', 'x', 'o', 'p', 'w' }, {}
local function want(field)
  if not slot[field] then
    fields[#fields + 1] = field
    slot[field] = #fields
  end
end
for c = 0, counts - 1 do want(ARGV[i + 1 + 2 * c]) end
for c = 0, limits - 1 do want(ARGV[l + 1 + 2 * c]) end
for k = 0, #KEYS - first_inbox do want('s' .. ARGV[first_delivery + 2 * k]) end

local state = redis.call('HMGET', doc, unpack(fields))
if not state[1] then return false end
local expire_at = state[2]
if not expire_at then return redis.error_reply('CORRUPT room has no expiry') end
if reads < 0 then
  if state[1] ~= ARGV[1] then return false end
else
  local seen = tonumber(ARGV[1])
  if tonumber(state[1]) < seen or (tonumber(state[5]) or 0) > seen then return false end
  -- An object read as absent (version 0) must still be absent; any other
  -- must not have been written since its version. (An object written
  -- before versions were kept has none, and was read as version 1.)
  local names = {}
  for k = 0, reads - 1 do
    local key, at = ARGV[r + 1 + 2 * k], ARGV[r + 2 + 2 * k]
    if at == '0' then
      if redis.call('HEXISTS', objects, key) == 1 then return false end
    else
      names[#names + 1] = key
      names[#names + 1] = tonumber(at)
    end
  end
  -- In chunks: Lua's unpack has a bounded stack.
  for from = 1, #names, 512 do
    local to = math.min(from + 511, #names)
    local keys = {}
    for k = from, to, 2 do keys[#keys + 1] = names[k] end
    local now = redis.call('HMGET', written, unpack(keys))
    for k = 1, #keys do
      if now[k] and tonumber(now[k]) > names[from + 2 * (k - 1) + 1] then return false end
    end
  end
end

local version = tonumber(state[1]) + 1
local stamp = string.format('%d', version)
local value = {}
for f, at in pairs(slot) do value[f] = state[at] end
local writes = { 'v', stamp }
if ARGV[4] == '1' then
  writes[#writes + 1] = 'd'
  writes[#writes + 1] = ARGV[5]
  writes[#writes + 1] = 'w'
  writes[#writes + 1] = stamp
end

for c = 0, counts - 1 do
  local field = ARGV[i + 1 + 2 * c]
  value[field] = (tonumber(value[field]) or 0) + tonumber(ARGV[i + 2 + 2 * c])
end
for c = 0, limits - 1 do
  local field = ARGV[l + 1 + 2 * c]
  if (tonumber(value[field]) or 0) > tonumber(ARGV[l + 2 + 2 * c]) then return false end
end

if puts > 0 then
  -- In chunks: Lua's unpack has a bounded stack.
  for from = 7, 6 + 2 * puts, 512 do
    redis.call('HSET', objects, unpack(ARGV, from, math.min(from + 511, 6 + 2 * puts)))
  end
  local stamps = {}
  for k = 0, puts - 1 do
    stamps[#stamps + 1] = ARGV[7 + 2 * k]
    stamps[#stamps + 1] = stamp
    if #stamps >= 512 then
      redis.call('HSET', written, unpack(stamps))
      stamps = {}
    end
  end
  if #stamps > 0 then redis.call('HSET', written, unpack(stamps)) end
  -- Expiry is absolute and the same for every key of the room: set it once.
  if not state[3] then
    redis.call('PEXPIREAT', objects, expire_at)
    writes[#writes + 1] = 'o'
    writes[#writes + 1] = '1'
  end
  if not state[4] then
    redis.call('PEXPIREAT', written, expire_at)
    writes[#writes + 1] = 'p'
    writes[#writes + 1] = '1'
  end
end

local result, announced = { version }, { ARGV[3] }
for k = first_inbox, #KEYS do
  local inbox = KEYS[k]
  local at = first_delivery + 2 * (k - first_inbox)
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
for c = 0, counts - 1 do
  result[#result + 1] = value[ARGV[i + 1 + 2 * c]]
end

for f, at in pairs(slot) do
  if value[f] ~= state[at] and value[f] ~= nil then
    writes[#writes + 1] = f
    writes[#writes + 1] = string.format('%d', value[f])
  end
end
redis.call('HSET', doc, unpack(writes))
if #KEYS >= first_inbox then
  local others = redis.call('HLEN', watchers)
    - redis.call('HEXISTS', watchers, string.sub(ARGV[3], 3, 18))
  if others > 0 then redis.call('PUBLISH', ARGV[2], table.concat(announced)) end
end
return result
