/**
 * Lua scripts of the Redis engine. They run atomically on the server, so the duplicate-id
 * check, the `XADD`, the trimming and the custom-id index update can never interleave with
 * another node's append.
 *
 * @packageDocumentation
 */

/**
 * Appends one event.
 *
 * KEYS: 1 = the stream, 2 = the custom-id hash (same hash slot).
 * ARGV: 1 = custom id or `''`, 2 = MAXLEN bound, 3 = `~` or `=`, 4 = ttl in ms (`0` = none),
 * 5… = field/value pairs of the entry (without `q`, which the script adds: the stream's
 * last-generated id before this entry, so readers can tell whether anything between two
 * entries was trimmed).
 *
 * Returns `{ 'ok', entryId, length, firstId }` or `{ 'dup', olderEntryId }`.
 */
export const APPEND_SCRIPT = `
local stream, ids = KEYS[1], KEYS[2]
local cid = ARGV[1]
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local first = nil
local prev = '0-0'
if redis.call('EXISTS', stream) == 1 then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then prev = info[i + 1] end
  end
end
if cid ~= '' then
  local old = redis.call('HGET', ids, cid)
  if old then
    local r = redis.call('XRANGE', stream, old, old)
    if #r > 0 then return {'dup', old} end
  end
end
local args = {'XADD', stream, 'MAXLEN', ARGV[3], ARGV[2], '*', 'q', prev}
for i = 5, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  local ms = tonumber(string.match(id, '^(%d+)-'))
  local minid = ms - ttl + 1
  if minid > 0 then redis.call('XTRIM', stream, 'MINID', ARGV[3], tostring(minid) .. '-0') end
end
local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
if #head > 0 then first = head[1][1] end
if cid ~= '' then
  redis.call('HSET', ids, cid, id)
  -- Prune the index a little on every custom-id append: two random entries that point before
  -- the oldest retained entry are dropped, which keeps the hash within a small factor of the
  -- retained custom ids without ever scanning it.
  if first then
    local sample = redis.call('HRANDFIELD', ids, 2, 'WITHVALUES')
    for i = 1, #sample, 2 do
      if older(sample[i + 1], first) then redis.call('HDEL', ids, sample[i]) end
    end
  end
end
return {'ok', id, redis.call('XLEN', stream), first or ''}
`;

/**
 * Reads what `history` needs to decide `found`, in one round trip.
 *
 * KEYS: 1 = the stream, 2 = the custom-id hash. ARGV: 1 = the SSE id or position to start
 * after, 2 = `id` (look custom ids up in the hash) or `pos` (a position only).
 *
 * Returns `{ start, startExists, firstId, firstPrev, lastGenerated, length }` with `''` for
 * absent values.
 */
export const LOCATE_SCRIPT = `
local stream, ids = KEYS[1], KEYS[2]
local after, kind = ARGV[1], ARGV[2]
local start = ''
if string.match(after, '^%d+%-%d+$') then
  start = after
elseif kind == 'id' then
  start = redis.call('HGET', ids, after) or ''
end
local exists = 0
if start ~= '' then
  if #redis.call('XRANGE', stream, start, start) > 0 then exists = 1 end
end
local first, firstPrev, last, len = '', '', '0-0', 0
if redis.call('EXISTS', stream) == 1 then
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #head > 0 then
    first = head[1][1]
    local f = head[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'q' then firstPrev = f[i + 1] end
    end
  end
  len = redis.call('XLEN', stream)
end
return {start, exists, first, firstPrev, last, len}
`;
