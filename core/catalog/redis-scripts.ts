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
 * Claim index: `{prefix}:unique` maps a claim key (claims.ts) to the id holding it;
 * `{prefix}:claims` maps a record (`JSON [kind, id]`) to the claim keys it holds, so a replace
 * or a delete releases them. A holder whose record no longer exists (deleted behind the
 * gateway's back) holds nothing. Records older than the index are not in it; the gateway checks
 * its snapshot for those before calling the script.
 *
 * Reference index (references.ts): `{prefix}:referrers` is a sorted set (all scores 0, ordered
 * by member) of `<target key>\n<referrer kind index>\n<referrer id>`; `{prefix}:refs` maps a
 * record (`JSON [kind, id]`) to the members it added (a JSON array), so a replace or a delete
 * takes them back. A PUT checks that every record it refers to exists (HEXISTS on that kind's
 * hash, so records of any age count); a DELETE looks up one member under its own key and refuses
 * while that referrer exists (a referrer deleted behind the gateway's back is dropped from the
 * index on the way). Referrers older than the index are not in it; the gateway checks its
 * snapshot for those before calling the script, as for claims.
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

/** KEYS after a write's own: referrers, refs, then one hash per kind in RESOURCE_KINDS order. */
const KIND_HASHES_FROM = 8;

/**
 * KEYS: hash, revision, changes, unique, claims, epoch, referrers, refs, the kinds' hashes.
 * ARGV: expected epoch ('' when unknown), kind, id, value JSON, now, claim keys (JSON array),
 * record key (its field in claims and refs), references (JSON array of [target kind index,
 * target id]), their index members (JSON array, same order).
 */
export const PUT_SCRIPT = `${EPOCH_GUARD}
local refs = cjson.decode(ARGV[8])
for _, ref in ipairs(refs) do
  if redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + ref[1]], ref[2]) == 0 then return {-3, ref[1], ref[2]} end
end
local wanted = cjson.decode(ARGV[6])
for _, claim in ipairs(wanted) do
  local holder = redis.call('HGET', KEYS[4], claim)
  if holder and holder ~= ARGV[3] and redis.call('HEXISTS', KEYS[1], holder) == 1 then
    return {-1, holder, claim}
  end
end
local old = redis.call('HGET', KEYS[1], ARGV[3])
local rev = redis.call('INCR', KEYS[2])
local created = rev
local ctime = ARGV[5]
if old then
  created = string.match(old, '^{"createdIndex":(%d+),') or rev
  ctime = string.match(old, ',"create_time":(%d+),') or ARGV[5]
end
local record = '{"createdIndex":' .. created .. ',"modifiedIndex":' .. rev .. ',"create_time":' .. ctime ..
  ',"update_time":' .. ARGV[5] .. ',"value":' .. ARGV[4] .. '}'
redis.call('HSET', KEYS[1], ARGV[3], record)
local held = redis.call('HGET', KEYS[5], ARGV[7])
if held then
  for _, claim in ipairs(cjson.decode(held)) do
    if redis.call('HGET', KEYS[4], claim) == ARGV[3] then redis.call('HDEL', KEYS[4], claim) end
  end
end
for _, claim in ipairs(wanted) do redis.call('HSET', KEYS[4], claim, ARGV[3]) end
if #wanted > 0 then redis.call('HSET', KEYS[5], ARGV[7], ARGV[6]) else redis.call('HDEL', KEYS[5], ARGV[7]) end
local added = redis.call('HGET', KEYS[8], ARGV[7])
if added then
  for _, member in ipairs(cjson.decode(added)) do redis.call('ZREM', KEYS[7], member) end
end
local members = cjson.decode(ARGV[9])
for _, member in ipairs(members) do redis.call('ZADD', KEYS[7], 0, member) end
if #members > 0 then redis.call('HSET', KEYS[8], ARGV[7], ARGV[9]) else redis.call('HDEL', KEYS[8], ARGV[7]) end
redis.call('PUBLISH', KEYS[3], rev .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. record)
if old then return {rev, 0, record} end
return {rev, 1, record}
`;

/** KEYS: as PUT. ARGV: expected epoch, kind, id, record key, '1' to delete even if referred to. */
export const DELETE_SCRIPT = `${EPOCH_GUARD}
local old = redis.call('HGET', KEYS[1], ARGV[3])
if not old then return false end
if ARGV[5] ~= '1' then
  local from = '[' .. ARGV[4] .. '\\n'
  local to = from .. string.char(255)
  while true do
    local found = redis.call('ZRANGEBYLEX', KEYS[7], from, to, 'LIMIT', 0, 1)[1]
    if not found then break end
    local kind, id = string.match(found, '\\n(%d+)\\n(.*)$')
    if redis.call('HEXISTS', KEYS[${KIND_HASHES_FROM} + tonumber(kind)], id) == 1 then return {-3, tonumber(kind), id} end
    redis.call('ZREM', KEYS[7], found)
  end
end
redis.call('HDEL', KEYS[1], ARGV[3])
local held = redis.call('HGET', KEYS[5], ARGV[4])
if held then
  for _, claim in ipairs(cjson.decode(held)) do
    if redis.call('HGET', KEYS[4], claim) == ARGV[3] then redis.call('HDEL', KEYS[4], claim) end
  end
  redis.call('HDEL', KEYS[5], ARGV[4])
end
local added = redis.call('HGET', KEYS[8], ARGV[4])
if added then
  for _, member in ipairs(cjson.decode(added)) do redis.call('ZREM', KEYS[7], member) end
  redis.call('HDEL', KEYS[8], ARGV[4])
end
local rev = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], rev .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|')
return {rev, old}
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
 * KEYS: revision, epoch, ids, restored, unique, claims, referrers, refs, then one hash per kind
 * in RESOURCE_KINDS order. ARGV: epoch seen ('' for none), revision seen, epoch, revision, ids
 * floor, marker lifetime (ms), payload JSON {records: [[kind index (1-based), id, record]],
 * unique: [[claim key, id]], claims: [[claims field, claim keys JSON]], referrers: [member],
 * refs: [[record key, members JSON]]}. Returns 1 when written, 0 when not.
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
redis.call('SET', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[3])
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[5]) then redis.call('SET', KEYS[3], ARGV[5]) end
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[6])
return 1
`;

/** A stored write: revision, 1 when created (0 when replaced), the stored record. */
export type StoredReply = [rev: number, created: 0 | 1, record: string];
/** Refused: `holder` holds the claim with this key. */
export type ConflictReply = [conflict: -1, holder: string, claimKey: string];
/** Refused: the store holds another catalog (`epoch`, '' when none: it lost its data). */
export type EpochReply = [epochMismatch: -2, epoch: string];
/**
 * Refused: for a PUT, the record it refers to (kind index, id) does not exist; for a DELETE, that
 * record still refers to the one being deleted.
 */
export type ReferenceReply = [reference: -3, kindIndex: number, id: string];
export type PutReply = StoredReply | ConflictReply | EpochReply | ReferenceReply;
export type DeleteReply = [rev: number, old: string] | EpochReply | ReferenceReply | null;

export function isConflict(reply: PutReply): reply is ConflictReply {
  return reply[0] === -1;
}

export function isEpochMismatch(reply: PutReply | DeleteReply): reply is EpochReply {
  return reply !== null && reply[0] === -2;
}

export function isReferenceRefusal(reply: PutReply | DeleteReply): reply is ReferenceReply {
  return reply !== null && reply[0] === -3;
}
