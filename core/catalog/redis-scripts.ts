/**
 * The Redis catalog's writes, each one Lua script so that it is one atomic step for every
 * gateway sharing the store: check the catalog's epoch and the record's unique claims, bump the
 * revision, store the record, keep the claim index and publish the change.
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
 * The record is built by concatenation so that Lua never decodes user JSON (cjson would turn
 * `[]` into `{}` and round large numbers). Its fixed prefix lets the script read the old
 * createdIndex and create_time back with a pattern. cjson decodes only arrays of claim keys and the
 * restore payload, in which every record stays a string.
 */

const EPOCH_GUARD = `
local epoch = redis.call('GET', KEYS[6])
if ARGV[1] ~= '' and epoch ~= ARGV[1] then return {-2, epoch or ''} end
`;

/**
 * KEYS: hash, revision, changes, unique, claims, epoch.
 * ARGV: expected epoch ('' when unknown), kind, id, value JSON, now, claim keys (JSON array), claims field.
 */
export const PUT_SCRIPT = `${EPOCH_GUARD}
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
redis.call('PUBLISH', KEYS[3], rev .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. record)
if old then return {rev, 0, record} end
return {rev, 1, record}
`;

/** KEYS: as PUT. ARGV: expected epoch, kind, id, claims field. */
export const DELETE_SCRIPT = `${EPOCH_GUARD}
local old = redis.call('HGET', KEYS[1], ARGV[3])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[3])
local held = redis.call('HGET', KEYS[5], ARGV[4])
if held then
  for _, claim in ipairs(cjson.decode(held)) do
    if redis.call('HGET', KEYS[4], claim) == ARGV[3] then redis.call('HDEL', KEYS[4], claim) end
  end
  redis.call('HDEL', KEYS[5], ARGV[4])
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
 * and the others follow. Replaces every kind and the claim index; keeps the ids counter above
 * every restored id; marks the revision as restored for a while (see redis-reset.ts).
 * KEYS: revision, epoch, ids, restored, unique, claims, then one hash per kind in RESOURCE_KINDS
 * order. ARGV: epoch seen ('' for none), revision seen, epoch, revision, ids floor, marker
 * lifetime (ms), payload JSON {records: [[kind index (1-based), id, record]], unique: [[claim
 * key, id]], claims: [[claims field, claim keys JSON]]}. Returns 1 when written, 0 when not.
 */
export const RESTORE_SCRIPT = `
local epoch = redis.call('GET', KEYS[2]) or ''
if epoch ~= ARGV[1] or tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[2]) then return 0 end
local data = cjson.decode(ARGV[7])
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
for _, r in ipairs(data.records) do redis.call('HSET', KEYS[6 + r[1]], r[2], r[3]) end
for _, u in ipairs(data.unique) do redis.call('HSET', KEYS[5], u[1], u[2]) end
for _, c in ipairs(data.claims) do redis.call('HSET', KEYS[6], c[1], c[2]) end
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
export type PutReply = StoredReply | ConflictReply | EpochReply;
export type DeleteReply = [rev: number, old: string] | EpochReply | null;

export function isConflict(reply: PutReply): reply is ConflictReply {
  return reply[0] === -1;
}

export function isEpochMismatch(reply: PutReply | DeleteReply): reply is EpochReply {
  return reply !== null && reply[0] === -2;
}
