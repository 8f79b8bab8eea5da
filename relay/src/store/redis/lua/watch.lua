-- KEYS: doc, watchers. ARGV: node (16 raw bytes), '1' to register the node
-- as watching the room or '0' to withdraw it.
--
-- A commit publishes its notification only if a node other than its own
-- is registered here (commit.lua); its own node hears it from the reply.
-- The hash expires with the room. Returns 1 if the node was not
-- registered before (a registration lost, say, in a failover), else 0;
-- and 0 if the room is gone.
local doc, watchers, node = KEYS[1], KEYS[2], ARGV[1]
if ARGV[2] ~= '1' then
  redis.call('HDEL', watchers, node)
  return 0
end
local expire_at = redis.call('HGET', doc, 'x')
if not expire_at then return 0 end
local added = redis.call('HSET', watchers, node, '1')
redis.call('PEXPIREAT', watchers, expire_at)
return added
