/**
 * Lua scripts of the Redis engine. They run atomically on the server, so the duplicate-id
 * check, the `XADD`, the trimming and the bookkeeping can never interleave with another node's
 * append or read.
 *
 * Keys, all on the stream's hash slot:
 * - the stream; each entry has `q`, the stream's last-generated id before it was added, so a
 *   reader can tell whether anything between two entries is gone;
 * - the custom-id hash (custom id → entry id);
 * - the meta hash: for each retention class, the newest entry id it evicted (field = class
 *   name); `*` for entries removed without a class (the safety bound, or trimming by a version
 *   without classes); `^`, the first entry id of the stream's current incarnation;
 * - one list per retention class: its retained entries as `<entry id> <size>`, oldest first,
 *   and a hash of each class's retained bytes (the sum of those sizes, as `eventSize` counts
 *   them). A class is trimmed by popping from its list and `XDEL`-ing the entry, so one class
 *   never evicts another's.
 *
 * Entry ids are compared as decimal strings (length, then text): exact for any `<ms>-<seq>`,
 * where Lua numbers would round above 2^53.
 *
 * @packageDocumentation
 */

import { TOPIC_OVERHEAD_BYTES } from './engine.js';

/** Shared Lua helpers: exact id comparison and the meta hash's monotonic "newest evicted". */
const HELPERS = `
local LINE_BREAKS = {'\\r', '\\n'}
local function lt(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if am ~= bm then return lt(am, bm) end
  return lt(as, bs)
end
local function raise(meta, field, id)
  local cur = redis.call('HGET', meta, field)
  if not cur or older(cur, id) then redis.call('HSET', meta, field, id) end
end
local function fieldOf(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do
    if f[i] == name then return f[i + 1] end
  end
  return nil
end
local function entryOf(item)
  local id, size = string.match(item, '^(%S+) (%d+)$')
  if id then return id, tonumber(size) end
  return item, 0
end
-- The CRs and LFs in v. Plain searches (memchr) while they are few: a gsub walks the string
-- through the pattern matcher, about 70 ms a megabyte, and would hold Redis up (every other
-- client's command waits) on each big event a replay reads. Past 64, one gsub as before.
local function breaksOf(v)
  local n = 0
  for _, c in ipairs(LINE_BREAKS) do
    local i = string.find(v, c, 1, true)
    while i do
      n = n + 1
      if n > 64 then
        local _, all = string.gsub(v, '[\\r\\n]', '')
        return all
      end
      i = string.find(v, c, i + 1, true)
    end
  end
  return n
end
-- An entry's size, at least what eventSize counts (see RANGE_SCRIPT): 64 bytes plus its field
-- values but q and b, its data with 6 more per CR or LF (a data: line of its own on the wire),
-- and TOPIC_OVERHEAD_BYTES per topic (half the quotes of its topics' JSON).
local function sizeOf(entry)
  local size = 64 + #entry[1]
  local f = entry[2]
  for j = 1, #f, 2 do
    local k, v = f[j], f[j + 1]
    if k == 'd' then
      size = size + #v + 6 * breaksOf(v)
    elseif k == 't' then
      local _, quotes = string.gsub(v, '"', '')
      size = size + #v + ${TOPIC_OVERHEAD_BYTES} * math.floor(quotes / 2)
    elseif k ~= 'q' and k ~= 'b' then
      size = size + #v
    end
  end
  return size
end
local function lastGenerated(stream)
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
`;

/**
 * Appends one event.
 *
 * KEYS: 1 = the stream, 2 = the custom-id hash, 3 = the meta hash, 4 = the classes' bytes hash,
 * 5 = the event's class list, 6… = the list of every class this node knows (the event's class
 * and `default` among them).
 * ARGV: 1 = custom id or `''`, 2 = the event's class name, 3 = its class's `maxEvents`, 4 = its
 * class's byte bound (`0` = none), 5 = ttl in ms (`0` = none), 6 = the stream's safety bound
 * (`0` = none), 7 = the event's size (`eventSize`; for a generated id, without it: the script
 * adds the entry id's length), 8 = n, the number of class lists in
 * KEYS[6…], 9…8+n = their class names, then the field/value pairs of the entry (without `q`,
 * which the script adds).
 *
 * Returns `{ 'ok', entryId, length, firstId, retainedBytes }` or `{ 'dup', olderEntryId }`.
 */
export const APPEND_SCRIPT = `${HELPERS}
local stream, ids, meta, cbytes, list = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, cls, max, maxBytes = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, safety, size, n = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local exists = redis.call('EXISTS', stream) == 1
local prev = '0-0'
-- The newest id of a stream deleted under the engine (below): new ids must come after it.
local after = '0-0'
if exists then prev = lastGenerated(stream) end

-- Bookkeeping of the stream's incarnation.
local born = false
if redis.call('HEXISTS', meta, '^') == 0 then
  if exists then
    -- A stream written without retention classes: what it trimmed is lost to every class, and
    -- its entries join the default class.
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    local floor = prev
    if #head > 0 then
      local q = fieldOf(head[1], 'q') or '0-0'
      if q ~= '0-0' then
        raise(meta, '*', q)
        floor = q
      else
        floor = head[1][1]
      end
    end
    redis.call('HSET', meta, '^', floor)
    local default = nil
    for i = 1, n do
      if ARGV[8 + i] == 'default' then default = KEYS[5 + i] end
    end
    if default then
      redis.call('DEL', default)
      local total = 0
      local from = '-'
      while true do
        local page = redis.call('XRANGE', stream, from, '+', 'COUNT', 1000)
        for i = 1, #page do
          local s = sizeOf(page[i])
          redis.call('RPUSH', default, page[i][1] .. ' ' .. s)
          total = total + s
        end
        if #page < 1000 then break end
        from = '(' .. page[#page][1]
      end
      redis.call('HSET', cbytes, 'default', total)
    end
  else
    born = true
  end
elseif not exists then
  -- The stream is gone (deleted, or Redis restarted without persistence): start afresh. A new
  -- stream's generated ids start again from the clock, so within the same millisecond it could
  -- hand out an id the old one had, which a reader resuming from the old stream would take as
  -- known: the new ids start after the newest the bookkeeping still names.
  local m = redis.call('HGETALL', meta)
  for i = 2, #m, 2 do
    if string.match(m[i], '^%d+%-%d+$') and older(after, m[i]) then after = m[i] end
  end
  for i = 1, n do
    local tail = redis.call('LINDEX', KEYS[5 + i], -1)
    if tail then
      local e = entryOf(tail)
      if older(after, e) then after = e end
    end
  end
  redis.call('DEL', meta, cbytes)
  for i = 1, n do redis.call('DEL', KEYS[5 + i]) end
  born = true
end

if cid ~= '' then
  local old = redis.call('HGET', ids, cid)
  if old then
    local r = redis.call('XRANGE', stream, old, old)
    if #r > 0 then return {'dup', old} end
  end
end
local xid = '*'
if after ~= '0-0' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local am, as = string.match(after, '^(%d+)-(%d+)$')
  if now <= tonumber(am) then xid = am .. '-' .. (tonumber(as) + 1) end
end
local args = {'XADD', stream, xid, 'q', prev}
for i = 9 + n, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
-- A generated id counts as it is (eventSize counts the SSE id's bytes).
if cid == '' then size = size + #id end
if born then redis.call('HSET', meta, '^', id) end
redis.call('RPUSH', list, id .. ' ' .. size)
local bytes = redis.call('HINCRBY', cbytes, cls, size)

-- The event's class keeps its newest max entries, within its byte bound (exactly), and always
-- the event just appended (refused before the script when larger than the bound with a 15-byte
-- id; a longer generated id may take it over by those few bytes).
local evicted = nil
while redis.call('LLEN', list) > max or (maxBytes > 0 and bytes > maxBytes and redis.call('LLEN', list) > 1) do
  local item = redis.call('LPOP', list)
  if not item then break end
  local e, s = entryOf(item)
  redis.call('XDEL', stream, e)
  bytes = redis.call('HINCRBY', cbytes, cls, -s)
  evicted = e
end
if evicted then raise(meta, cls, evicted) end

-- The age bound, class by class.
if ttl > 0 then
  local ms = tonumber(string.match(id, '^(%d+)-'))
  if ms - ttl + 1 > 0 then
    local minid = string.format('%d', ms - ttl + 1) .. '-0'
    for i = 1, n do
      local l, name = KEYS[5 + i], ARGV[8 + i]
      local gone = nil
      while true do
        local h = redis.call('LINDEX', l, 0)
        if not h then break end
        local e, s = entryOf(h)
        if not older(e, minid) then break end
        redis.call('LPOP', l)
        redis.call('XDEL', stream, e)
        redis.call('HINCRBY', cbytes, name, -s)
        gone = e
      end
      if gone then raise(meta, name, gone) end
    end
  end
end

-- The safety bound: entries no list of this node holds (a class another node configured and
-- no node trims any more) cannot grow the stream for ever. What it trims is lost to all.
local first = nil
if safety > 0 and redis.call('XLEN', stream) > safety then
  if redis.call('XTRIM', stream, 'MAXLEN', '~', safety) > 0 then
    local h = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    if #h > 0 then raise(meta, '*', fieldOf(h[1], 'q') or h[1][1]) end
  end
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
local retained = 0
local totals = redis.call('HVALS', cbytes)
for i = 1, #totals do retained = retained + tonumber(totals[i]) end
return {'ok', id, redis.call('XLEN', stream), first or '', retained}
`;

/**
 * Reads what `history` needs to decide `found`, in one round trip.
 *
 * KEYS: 1 = the stream, 2 = the custom-id hash, 3 = the meta hash. ARGV: 1 = what to start
 * after, 2 = `pos` (ARGV 1 is a valid entry id), `id` (look a custom id up in the hash) or
 * `none` (an id that cannot name an entry), 3 = `1` to return the start entry's fields (to
 * check whether the reader may know of it).
 *
 * Returns `{ start, startExists, firstId, lastGenerated, length, floor, meta, startFields }`
 * with `''` for absent values; `meta` is the meta hash as a flat field/value list (`^` and `*`
 * included, the latter computed for a stream written without retention classes);
 * `startFields` an empty array unless asked for and retained.
 */
export const LOCATE_SCRIPT = `${HELPERS}
local stream, ids, meta = KEYS[1], KEYS[2], KEYS[3]
local after, kind = ARGV[1], ARGV[2]
local start = ''
if kind == 'pos' then
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
local first, last, len, floor = '', '0-0', 0, ''
local lost = {}
if redis.call('EXISTS', stream) == 1 then
  last = lastGenerated(stream)
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #head > 0 then first = head[1][1] end
  len = redis.call('XLEN', stream)
  lost = redis.call('HGETALL', meta)
  floor = redis.call('HGET', meta, '^') or ''
  if floor == '' then
    -- Written without retention classes (see APPEND_SCRIPT): read it the way the append will.
    if #head > 0 then
      local q = fieldOf(head[1], 'q') or '0-0'
      if q ~= '0-0' then
        floor = q
        lost[#lost + 1] = '*'
        lost[#lost + 1] = q
      else
        floor = first
      end
    else
      floor = last
    end
  end
end
return {start, exists, first, last, len, floor, lost, fields}
`;

/**
 * Reads one page of entries bounded by bytes as well as by count, so a reader never pulls more
 * than it asked for however large the events are.
 *
 * KEYS: 1 = the stream. ARGV: 1 = start (`-`, or `(id` for after an id), 2 = most entries,
 * 3 = most bytes, 4 = `1` when at least one entry must be returned however large it is.
 *
 * An entry counts (`sizeOf`) 64 bytes plus its field values (not `q` and `b`), its data with 6
 * more per CR or LF (each line break becomes a `data:` line on the wire), and
 * `TOPIC_OVERHEAD_BYTES` per topic (half the quotes of its topics' JSON: a topic with a quote of
 * its own only counts more): at least what `eventSize` counts.
 * Entries are fetched a few at a time, sized by the largest one seen, so the script itself
 * holds little more than the page.
 *
 * Returns `{ entries, done }` where `done` is 1 when the stream has no entry after the page.
 */
export const RANGE_SCRIPT = `${HELPERS}
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
    local size = sizeOf(e)
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
