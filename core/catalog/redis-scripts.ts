/**
 * The Redis catalog's writes, each one Lua script so that it is one atomic step for every
 * gateway sharing the store: check the catalog's epoch, the record's unique claims and its
 * references, bump the revision, store the record, keep the claim and reference indexes and
 * publish the change.
 *
 * Epoch: `{prefix}:epoch` names the catalog a store holds (a random id set once). A gateway
 * writes only into the catalog it serves: a store that lost its data (no epoch) or holds another
 * catalog refuses the write, so nothing is built on top of an empty store before the reset is
 * handled (redis-reset.ts).
 *
 * Claim index: `{prefix}:unique` maps a claim key (claims.ts) to the record holding it, by its
 * record key (`JSON [kind, id]`: a claim's scope may hold records of several kinds, a consumer's
 * key and a credential's) or, as older versions wrote it, by its bare id (a record of the claim's
 * scope kind); `{prefix}:claims` maps a record key to the claim keys it holds, so a replace or a
 * delete releases them. A holder whose record no longer exists (deleted behind the gateway's
 * back) holds nothing. Records older than the index are not in it; the gateway checks its
 * snapshot for those before calling the script.
 *
 * Reference index (references.ts): `{prefix}:referrers` is a sorted set (all scores 0, ordered
 * by member) of `<target key>\n<referrer kind index>\n<referrer id>`; `{prefix}:refs` maps a
 * record (`JSON [kind, id]`) to the members it added (a JSON array), so a replace or a delete
 * takes them back. A PUT checks that every record it refers to exists (HEXISTS on that kind's
 * hash, so records of any age count); a DELETE looks up one member under its own key and refuses
 * while that referrer exists (a referrer deleted behind the gateway's back is dropped from the
 * index on the way). Referrers older than the index are not in it; the gateway checks its
 * snapshot for those before calling the script, as for claims. A referrer of a dependent kind
 * (types.ts `Cascades`: a consumer's credentials) does not refuse the delete: it is deleted with
 * its owner, first, each deletion its own revision and change message.
 *
 * Expiry index (a PUT with a ttl): `{prefix}:expiry` is a sorted set of record keys scored by
 * when they expire (ms, Redis's own clock, so gateways' clocks do not matter); the record's
 * envelope carries `expire_at` too. EXPIRE_SCRIPT deletes what is due as a DELETE with
 * `?force=true` would, through the same revision and change messages, so every gateway follows
 * an expiry like any other change (a key TTL would vanish without either). A write without a ttl
 * takes the record out of the index, as a write without a lease does in etcd.
 *
 * The record is built by concatenation so that Lua never decodes user JSON (cjson would turn
 * `[]` into `{}` and round large numbers). Its fixed prefix lets the script read the old
 * createdIndex and create_time back with a pattern. cjson decodes only arrays of claim keys and the
 * restore payload, in which every record stays a string.
 */

const EPOCH_GUARD = `
local epoch = redis.call('GET', KEYS[6])
if ARGV[1] ~= '' and epoch ~= ARGV[1] then return {-2, epoch or ''} end
`;

/** KEYS of the write scripts before the kinds' hashes: KEYS[KIND_HASHES_FROM + kind index] is a kind's hash. */
const KIND_HASHES_FROM = 9;

/**
 * Lua shared by the write scripts: `kinds` (the kind names, by index), finding a kind's index,
 * a record key from a kind index and an id, and deleting a record with what belongs to it.
 * `kindsArg` is the ARGV position of the kind names (JSON array).
 */
const PRELUDE = (kindsArg: number) => `
local kinds = cjson.decode(ARGV[${kindsArg}])
local kind_index = {}
for i, name in ipairs(kinds) do kind_index[name] = i end

-- Ids the gateway writes are JSON-safe (the Admin API's id patterns): a record key is then
-- exactly what JSON.stringify makes of [kind, id]. Where one is not, what is left behind is a
-- claim or reference entry whose record is gone, which holds nothing.
local function record_key(index, id)
  return '["' .. kinds[index] .. '","' .. id .. '"]'
end

local function release(rkey, id)
  local held = redis.call('HGET', KEYS[5], rkey)
  if held then
    for _, claim in ipairs(cjson.decode(held)) do
      local holder = redis.call('HGET', KEYS[4], claim)
      if holder == rkey or holder == id then redis.call('HDEL', KEYS[4], claim) end
    end
    redis.call('HDEL', KEYS[5], rkey)
  end
  local added = redis.call('HGET', KEYS[8], rkey)
  if added then
    for _, member in ipairs(cjson.decode(added)) do redis.call('ZREM', KEYS[7], member) end
    redis.call('HDEL', KEYS[8], rkey)
  end
  redis.call('ZREM', KEYS[9], rkey)
end

-- Deletes one record, bumps the revision, publishes; notes {kind index, id, revision} in changes.
local function remove(index, id, rkey, changes)
  redis.call('HDEL', KEYS[${KIND_HASHES_FROM} + index], id)
  release(rkey, id)
  local rev = redis.call('INCR', KEYS[2])
  redis.call('PUBLISH', KEYS[3], rev .. '|' .. kinds[index] .. '|' .. id .. '|')
  table.insert(changes, index)
  table.insert(changes, id)
  table.insert(changes, rev)
end

-- Deletes a record and its dependents (records of the kinds in dependent_kinds that refer to it),
-- dependents first. Any other referrer refuses the delete ({-3, kind index, id}) unless forced.
local function delete_record(index, id, rkey, dependent_kinds, force, changes)
  local dependent = {}
  for _, k in ipairs(dependent_kinds) do dependent[k] = true end
  local dependents = {}
  local from = '[' .. rkey .. '\\n'
  for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[7], from, from .. string.char(255))) do
    local k, rid = string.match(member, '\\n(%d+)\\n(.*)$')
    k = tonumber(k)
    if redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + k], rid) == 0 then
      redis.call('ZREM', KEYS[7], member)
    elseif dependent[k] then
      table.insert(dependents, {k, rid})
    elseif not force then
      return {-3, k, rid}
    end
  end
  for _, d in ipairs(dependents) do remove(d[1], d[2], record_key(d[1], d[2]), changes) end
  remove(index, id, rkey, changes)
  return nil
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * KEYS: the kind's hash, revision, changes, unique, claims, epoch, referrers, refs, expiry, then
 * one hash per kind in RESOURCE_KINDS order.
 * ARGV: expected epoch ('' when unknown), kind, id, value JSON, now (s), claim keys (JSON array),
 * record key (its field in claims, refs and expiry), references (JSON array of [target kind
 * index, target id]), their index members (JSON array, same order), the claims' scope kind
 * indexes (JSON array, parallel to the claim keys), the kind names (JSON array), ttl in ms
 * ('' for none), create_time and update_time the write sets itself ('' for none).
 */
export const PUT_SCRIPT = `${EPOCH_GUARD}${PRELUDE(11)}
local own = kind_index[ARGV[2]]
local refs = cjson.decode(ARGV[8])
for _, ref in ipairs(refs) do
  if redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + ref[1]], ref[2]) == 0 then return {-3, ref[1], ref[2]} end
end

-- The record a holder names exists: a record key, or a bare id of the claim's scope kind.
local function holds(holder, scope)
  if string.sub(holder, 1, 1) == '[' then
    local ok, ref = pcall(cjson.decode, holder)
    local index = ok and kind_index[ref[1]]
    return index and redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + index], ref[2]) == 1
  end
  return redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + scope], holder) == 1
end

local wanted = cjson.decode(ARGV[6])
local scopes = cjson.decode(ARGV[10])
for i, claim in ipairs(wanted) do
  local holder = redis.call('HGET', KEYS[4], claim)
  local mine = holder == ARGV[7] or (holder == ARGV[3] and scopes[i] == own)
  if holder and not mine and holds(holder, scopes[i]) then return {-1, holder, claim} end
end
local old = redis.call('HGET', KEYS[1], ARGV[3])
local rev = redis.call('INCR', KEYS[2])
local created = rev
local ctime = ARGV[5]
if old then
  created = string.match(old, '^{"createdIndex":(%d+),') or rev
  ctime = string.match(old, ',"create_time":(%d+),') or ARGV[5]
end
if ARGV[13] ~= '' then ctime = ARGV[13] end
local utime = ARGV[5]
if ARGV[14] ~= '' then utime = ARGV[14] end
local expire = ''
local expire_at
if ARGV[12] ~= '' then
  expire_at = now_ms() + tonumber(ARGV[12])
  expire = ',"expire_at":' .. string.format('%.0f', expire_at)
end
local record = '{"createdIndex":' .. created .. ',"modifiedIndex":' .. rev .. ',"create_time":' .. ctime ..
  ',"update_time":' .. utime .. expire .. ',"value":' .. ARGV[4] .. '}'
redis.call('HSET', KEYS[1], ARGV[3], record)
release(ARGV[7], ARGV[3])
for _, claim in ipairs(wanted) do redis.call('HSET', KEYS[4], claim, ARGV[7]) end
if #wanted > 0 then redis.call('HSET', KEYS[5], ARGV[7], ARGV[6]) end
local members = cjson.decode(ARGV[9])
for _, member in ipairs(members) do redis.call('ZADD', KEYS[7], 0, member) end
if #members > 0 then redis.call('HSET', KEYS[8], ARGV[7], ARGV[9]) end
if expire_at then redis.call('ZADD', KEYS[9], expire_at, ARGV[7]) end
redis.call('PUBLISH', KEYS[3], rev .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. record)
if old then return {rev, 0, record} end
return {rev, 1, record}
`;

/**
 * KEYS: as PUT. ARGV: expected epoch, kind, id, record key, '1' to delete even if referred to,
 * the dependent kinds' indexes (JSON array), the kind names (JSON array).
 * Returns {old record, changes} (changes: kind index, id, revision, … dependents first).
 */
export const DELETE_SCRIPT = `${EPOCH_GUARD}${PRELUDE(7)}
local old = redis.call('HGET', KEYS[1], ARGV[3])
if not old then return false end
local changes = {}
local refused = delete_record(kind_index[ARGV[2]], ARGV[3], ARGV[4], cjson.decode(ARGV[6]), ARGV[5] == '1', changes)
if refused then return refused end
return {old, changes}
`;

/**
 * Deletes the records whose ttl has run out (at most ARGV[4] per call), each with its dependents
 * and whatever still refers to it left dangling, as `?force=true` would.
 * KEYS: as PUT. ARGV: expected epoch, the kind names (JSON array), the dependent kinds of each
 * kind (JSON array by kind index of arrays of kind indexes), the most to delete.
 * Returns {changes, more}: more is 1 when records due were left for the next call.
 */
export const EXPIRE_SCRIPT = `${EPOCH_GUARD}${PRELUDE(2)}
local cascades = cjson.decode(ARGV[3])
local limit = tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now_ms(), 'LIMIT', 0, limit + 1)
local changes = {}
for i, rkey in ipairs(due) do
  if i > limit then break end
  redis.call('ZREM', KEYS[9], rkey)
  local ok, ref = pcall(cjson.decode, rkey)
  local index = ok and kind_index[ref[1]]
  if index and redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + index], ref[2]) == 1 then
    delete_record(index, ref[2], rkey, cascades[index], true, changes)
  end
end
return {changes, #due > limit and 1 or 0}
`;

/**
 * Names the catalog a store holds, once: only when it has no epoch yet and its revision is still
 * the one the caller loaded (so a reset in between is not mistaken for a fresh store).
 * KEYS: revision, epoch. ARGV: revision loaded, new epoch. Returns the store's epoch, or nil.
 */
export const ENSURE_EPOCH_SCRIPT = `
local epoch = redis.call('GET', KEYS[2])
if epoch then return epoch end
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return false end
redis.call('SET', KEYS[2], ARGV[2])
return ARGV[2]
`;

/**
 * Writes a gateway's snapshot back into a store that lost it, only if the store is still in the
 * state the gateway saw (epoch and revision): of several gateways restoring at once, one wins
 * and the others follow. Replaces every kind, the claim index and the reference index; keeps the
 * ids counter above every restored id; marks the revision as restored for a while (see
 * redis-reset.ts).
 * KEYS: revision, epoch, ids, restored, unique, claims, referrers, refs, expiry, then one hash
 * per kind in RESOURCE_KINDS order. ARGV: epoch seen ('' for none), revision seen, epoch,
 * revision, ids floor, marker lifetime (ms), payload JSON {records: [[kind index (1-based), id,
 * record]], unique: [[claim key, holder record key]], claims: [[record key, claim keys JSON]],
 * referrers: [member], refs: [[record key, members JSON]], expiry: [[expire at (ms), record
 * key]]}. Returns 1 when written, 0 when not.
 */
export const RESTORE_SCRIPT = `
local epoch = redis.call('GET', KEYS[2]) or ''
if epoch ~= ARGV[1] or tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[2]) then return 0 end
local data = cjson.decode(ARGV[7])
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
for _, r in ipairs(data.records) do redis.call('HSET', KEYS[${KIND_HASHES_FROM} + r[1]], r[2], r[3]) end
for _, u in ipairs(data.unique) do redis.call('HSET', KEYS[5], u[1], u[2]) end
for _, c in ipairs(data.claims) do redis.call('HSET', KEYS[6], c[1], c[2]) end
for _, m in ipairs(data.referrers) do redis.call('ZADD', KEYS[7], 0, m) end
for _, r in ipairs(data.refs) do redis.call('HSET', KEYS[8], r[1], r[2]) end
for _, e in ipairs(data.expiry) do redis.call('ZADD', KEYS[9], e[1], e[2]) end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[3])
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[5]) then redis.call('SET', KEYS[3], ARGV[5]) end
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[6])
return 1
`;

/** A stored write: revision, 1 when created (0 when replaced), the stored record. */
export type StoredReply = [rev: number, created: 0 | 1, record: string];
/** Refused: `holder` (a record key, or a bare id of the claim's scope kind) holds the claim with this key. */
export type ConflictReply = [conflict: -1, holder: string, claimKey: string];
/** Refused: the store holds another catalog (`epoch`, '' when none: it lost its data). */
export type EpochReply = [epochMismatch: -2, epoch: string];
/**
 * Refused: for a PUT, the record it refers to (kind index, id) does not exist; for a DELETE, that
 * record still refers to the one being deleted.
 */
export type ReferenceReply = [reference: -3, kindIndex: number, id: string];
export type PutReply = StoredReply | ConflictReply | EpochReply | ReferenceReply;
/** What a delete or an expiry changed, in order: kind index, id, revision, … */
export type RemovedChanges = Array<number | string>;
export type DeleteReply = [old: string, changes: RemovedChanges] | EpochReply | ReferenceReply | null;
export type ExpireReply = [changes: RemovedChanges, more: 0 | 1] | EpochReply;

export function isConflict(reply: PutReply): reply is ConflictReply {
  return reply[0] === -1;
}

export function isEpochMismatch(reply: PutReply | DeleteReply | ExpireReply): reply is EpochReply {
  return reply !== null && reply[0] === -2;
}

export function isReferenceRefusal(reply: PutReply | DeleteReply): reply is ReferenceReply {
  return reply !== null && reply[0] === -3;
}
