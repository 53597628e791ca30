/**
 * Lua scripts of the Redis engine. They run atomically on the server, so the duplicate-id
 * check, the `XADD`, the trimming and the custom-id index update can never interleave with
 * another node's append.
 *
 * @packageDocumentation
 */

import { TOPIC_OVERHEAD_BYTES } from './engine.js';

/**
 * Appends one event.
 *
 * KEYS: 1 = the stream, 2 = the custom-id hash, 3 = the byte total (same hash slot).
 * ARGV: 1 = custom id or `''`, 2 = MAXLEN bound, 3 = `~` or `=`, 4 = ttl in ms (`0` = none),
 * 5 = the event's size (`eventSize`), 6 = the byte bound (`0` = none),
 * 7… = field/value pairs of the entry (without `q`, which the script adds: the stream's
 * last-generated id before this entry, so readers can tell whether anything between two
 * entries was trimmed; nor `b`, also added: the byte total of every event appended before this
 * one).
 *
 * Bytes: the total of all sizes ever appended lives at KEYS[3]; an entry's `b` is the total
 * before it, so the stream retains `total − b(first entry)` bytes. Past the bound, the oldest
 * entries are trimmed (exactly, `MINID =`) until it holds; each entry is read once, when it
 * goes. Entries without `b` (appended by an older version) stop the trimming: they leave by
 * count or age.
 *
 * Returns `{ 'ok', entryId, length, firstId, retainedBytes }` or `{ 'dup', olderEntryId }`.
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
local size, maxBytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local total = redis.call('INCRBY', KEYS[3], size)
local args = {'XADD', stream, 'MAXLEN', ARGV[3], ARGV[2], '*', 'q', prev, 'b', tostring(total - size)}
for i = 7, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  local ms = tonumber(string.match(id, '^(%d+)-'))
  local minid = ms - ttl + 1
  if minid > 0 then redis.call('XTRIM', stream, 'MINID', ARGV[3], tostring(minid) .. '-0') end
end
local function before(entry)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == 'b' then return tonumber(f[i + 1]) end
  end
  return nil
end
local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
if maxBytes > 0 then
  -- Keep the entries whose bytes-before are at least total - maxBytes (the new one always is:
  -- larger events are refused before the script runs).
  local floor = total - maxBytes
  local trimmed = false
  while #head > 0 do
    local b = before(head[1])
    if b == nil or b >= floor then break end
    trimmed = true
    head = redis.call('XRANGE', stream, '(' .. head[1][1], '+', 'COUNT', 1)
  end
  if trimmed and #head > 0 then redis.call('XTRIM', stream, 'MINID', '=', head[1][1]) end
end
local retained = 0
if #head > 0 then
  first = head[1][1]
  local b = before(head[1])
  if b ~= nil then retained = total - b end
end
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
return {'ok', id, redis.call('XLEN', stream), first or '', retained}
`;

/**
 * Reads what `history` needs to decide `found`, in one round trip.
 *
 * KEYS: 1 = the stream, 2 = the custom-id hash. ARGV: 1 = the SSE id or position to start
 * after, 2 = `id` (look custom ids up in the hash) or `pos` (a position only), 3 = `1` to
 * return the start entry's fields (to check whether the reader may know of it).
 *
 * Returns `{ start, startExists, firstId, firstPrev, lastGenerated, length, startFields }` with
 * `''` for absent values (`startFields`: an empty array unless asked for and retained).
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
local fields = {}
if start ~= '' then
  local entry = redis.call('XRANGE', stream, start, start)
  if #entry > 0 then
    exists = 1
    if ARGV[3] == '1' then fields = entry[1][2] end
  end
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
return {start, exists, first, firstPrev, last, len, fields}
`;

/**
 * Reads one page of entries bounded by bytes as well as by count, so a reader never pulls more
 * than it asked for however large the events are.
 *
 * KEYS: 1 = the stream. ARGV: 1 = start (`-`, or `(id` for after an id), 2 = most entries,
 * 3 = most bytes, 4 = `1` when at least one entry must be returned however large it is.
 *
 * An entry counts 64 bytes plus its field values (not `q` and `b`), its data with 6 more per CR
 * or LF (each line break becomes a `data:` line on the wire), and `TOPIC_OVERHEAD_BYTES` per
 * topic (half the quotes of its topics' JSON: a topic with a quote of its own only counts more):
 * at least what `eventSize` counts.
 * Entries are fetched a few at a time, sized by the largest one seen, so the script itself
 * holds little more than the page.
 *
 * Returns `{ entries, done }` where `done` is 1 when the stream has no entry after the page.
 */
export const RANGE_SCRIPT = `
local stream = KEYS[1]
local from, count, budget, need = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local out, bytes, biggest = {}, 0, 0
while #out < count do
  local want = 1
  if biggest > 0 then want = math.floor((budget - bytes) / biggest) end
  want = math.max(1, math.min(want, count - #out, 64))
  local page = redis.call('XRANGE', stream, from, '+', 'COUNT', want)
  for i = 1, #page do
    local e = page[i]
    local f = e[2]
    local size = 64 + #e[1]
    for j = 1, #f, 2 do
      local k, v = f[j], f[j + 1]
      if k == 'd' then
        local _, breaks = string.gsub(v, '[\\r\\n]', '')
        size = size + #v + 6 * breaks
      elseif k == 't' then
        local _, quotes = string.gsub(v, '"', '')
        size = size + #v + ${TOPIC_OVERHEAD_BYTES} * math.floor(quotes / 2)
      elseif k ~= 'q' and k ~= 'b' then
        size = size + #v
      end
    end
    if (#out > 0 or not need) and bytes + size > budget then return {out, 0} end
    out[#out + 1] = e
    bytes = bytes + size
    if size > biggest then biggest = size end
    from = '(' .. e[1]
  end
  if #page < want then return {out, 1} end
end
return {out, 0}
`;
