-- KEYS: doc, objects, written, watchers, then one inbox per delivery.
-- ARGV: expect_version, channel, notification head, has_doc ('0'/'1'), doc,
-- put count, the puts as key/value pairs, counter count, the counters
-- (kept in the doc hash) as field/increment/ceiling triples (increment ''
-- for a field that only has a ceiling, ceiling '' for none), read count
-- (-1: the whole room), the objects read as key/version pairs, then per
-- delivery the recipient's inbox counter field (`s` and the participant's
-- 16 raw bytes) and the payload.
--
-- Returns nil on a conflict or a ceiling passed, else `{version, seq...,
-- counter...}`: the new version, each delivery's seq, and each triple's
-- counter after the commit.
--
-- Concurrency control by read set: with a read count of -1 the room's
-- version must still be expect_version; otherwise the document must not
-- have been written since expect_version (its write version is `w` in the
-- doc hash), nor each object read since the version it was read at (the
-- `written` hash). Every commit records what it wrote at its version.
--
-- Redis does little more than append and publish: one HMGET reads the
-- version, the expiry and the flags, one HSET writes them back, and each
-- counter, including each recipient's inbox counter (`s<participant>`),
-- is one HINCRBY. An inbox's next seq is one past its counter. A room
-- written before the counters existed has none: the newest entry id is
-- read once per inbox instead (entries are never trimmed), and the counter
-- is set from then on.
--
-- The notification appends one `participant seq ':' len ':' payload`
-- record per delivery to the head; see notify.rs. It is published only if
-- a node other than the committing one (bytes 3-18 of the head) watches
-- the room (the watchers hash, kept by watch.lua): the committing node
-- announces the commit to itself from this reply, so one node alone makes
-- Redis publish nothing, and the notification is not even put together.
--
-- Written for what Lua costs inside Redis (bench/instructions.sh,
-- docs/BENCHMARKS.md): each argument, each tonumber, each number turned
-- into a string and each field read or written costs one to three
-- thousand instructions, about what a whole HINCRBY costs. So a counter
-- is one triple and one HINCRBY, and nothing is parsed, formatted or
-- gathered that is not needed.
local doc, objects, written, watchers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local first_inbox = 5
local inboxes = #KEYS - first_inbox + 1
local puts = tonumber(ARGV[6])
local i = 7 + 2 * puts
local counters = tonumber(ARGV[i])
local r = i + 1 + 3 * counters
local reads = tonumber(ARGV[r])
local first_delivery = r + 1 + 2 * math.max(reads, 0)

-- `v` the version, `x` the expiry, `o`/`p` whether the objects and
-- written hashes have their expiry, `w` the version that wrote the doc.
local state = redis.call('HMGET', doc, 'v', 'x', 'o', 'p', 'w')
if not state[1] then return false end
local expire_at = state[2]
if not expire_at then return redis.error_reply('CORRUPT room has no expiry') end
local version = tonumber(state[1])
if reads < 0 then
  if state[1] ~= ARGV[1] then return false end
else
  local seen = tonumber(ARGV[1])
  if version < seen or (tonumber(state[5]) or 0) > seen then return false end
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

version = version + 1
-- Formatted once: each number handed to redis.call is formatted anew.
local stamp = tostring(version)
local writes = { 'v', stamp }
if ARGV[4] == '1' then
  writes[3] = 'd'
  writes[4] = ARGV[5]
  writes[5] = 'w'
  writes[6] = stamp
end

-- Counters first, before anything else is written: HINCRBY adds in C
-- and answers the sum. One that passes its ceiling refuses the commit,
-- and the increments made so far are taken back (a counter left at 0 is
-- removed: absent and 0 count the same). One with increment '' only has
-- a ceiling, and is read, not written.
local result = { version }
for c = 1, counters do
  local at = i + 3 * c - 2
  local field, by, ceiling = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local now
  if by ~= '' then
    now = redis.call('HINCRBY', doc, field, by)
  else
    now = tonumber(redis.call('HGET', doc, field)) or 0
  end
  if ceiling ~= '' and now > tonumber(ceiling) then
    for u = c, 1, -1 do
      local back = i + 3 * u - 2
      if ARGV[back + 1] ~= '' then
        local left = redis.call('HINCRBY', doc, ARGV[back], -tonumber(ARGV[back + 1]))
        if left == 0 then redis.call('HDEL', doc, ARGV[back]) end
      end
    end
    return false
  end
  result[1 + inboxes + c] = now
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

-- Published only if a node other than this one (bytes 3-18 of the head)
-- watches: with one watcher, it may be this node.
local announced
if inboxes > 0 then
  local watching = redis.call('HLEN', watchers)
  if watching > 1 or (watching == 1
      and redis.call('HEXISTS', watchers, string.sub(ARGV[3], 3, 18)) == 0) then
    announced = { ARGV[3] }
  end
end

for k = 1, inboxes do
  local inbox, at = KEYS[first_inbox + k - 1], first_delivery + 2 * k - 2
  local field = ARGV[at]
  -- The inbox's counter, counted on in C. At 1 it was absent: the inbox is
  -- new, or from a room written before the counters, whose newest entry
  -- (entries are never trimmed) then sets the counter.
  local seq = redis.call('HINCRBY', doc, field, 1)
  local created = false
  if seq == 1 then
    local newest = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)[1]
    if newest then
      seq = tonumber(string.match(newest[1], '^%d+')) + 1
      redis.call('HSET', doc, field, seq)
    else
      created = true
    end
  end
  -- An id of `seq` alone is `seq-0`.
  redis.call('XADD', inbox, seq, 'e', ARGV[at + 1])
  if created then redis.call('PEXPIREAT', inbox, expire_at) end
  result[k + 1] = seq
  if announced then
    -- Pieces, joined once below: each string Lua makes is hashed over
    -- its whole length, so no payload is copied into a string of its own.
    local n = #announced
    announced[n + 1] = string.sub(field, 2)
    announced[n + 2] = seq
    announced[n + 3] = ':'
    announced[n + 4] = #ARGV[at + 1]
    announced[n + 5] = ':'
    announced[n + 6] = ARGV[at + 1]
  end
end
redis.call('HSET', doc, unpack(writes))
if announced then redis.call('PUBLISH', ARGV[2], table.concat(announced)) end
return result
