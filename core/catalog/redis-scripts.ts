/**
 * The Redis catalog's writes, each one Lua script so that it is one atomic step for every
 * gateway sharing the store: check the record's unique claims, bump the revision, store the
 * record, keep the claim index and publish the change.
 *
 * Claim index: `{prefix}:unique` maps a claim key (claims.ts) to the id holding it;
 * `{prefix}:claims` maps a record (`JSON [kind, id]`) to the claim keys it holds, so a replace
 * or a delete releases them. A holder whose record no longer exists (deleted behind the
 * gateway's back) holds nothing. Records older than the index are not in it; the gateway checks
 * its snapshot for those before calling the script.
 *
 * The record is built by concatenation so that Lua never decodes user JSON (cjson would turn
 * `[]` into `{}` and round large numbers). Its fixed prefix lets the script read the old
 * createdIndex and create_time back with a pattern. cjson only ever decodes arrays of claim keys.
 */

/** KEYS: hash, revision, changes, unique, claims. ARGV: kind, id, value JSON, now, claim keys (JSON array), claims field. */
export const PUT_SCRIPT = `
local wanted = cjson.decode(ARGV[5])
for _, claim in ipairs(wanted) do
  local holder = redis.call('HGET', KEYS[4], claim)
  if holder and holder ~= ARGV[2] and redis.call('HEXISTS', KEYS[1], holder) == 1 then
    return {-1, holder, claim}
  end
end
local old = redis.call('HGET', KEYS[1], ARGV[2])
local rev = redis.call('INCR', KEYS[2])
local created = rev
local ctime = ARGV[4]
if old then
  created = string.match(old, '^{"createdIndex":(%d+),') or rev
  ctime = string.match(old, ',"create_time":(%d+),') or ARGV[4]
end
local record = '{"createdIndex":' .. created .. ',"modifiedIndex":' .. rev .. ',"create_time":' .. ctime ..
  ',"update_time":' .. ARGV[4] .. ',"value":' .. ARGV[3] .. '}'
redis.call('HSET', KEYS[1], ARGV[2], record)
local held = redis.call('HGET', KEYS[5], ARGV[6])
if held then
  for _, claim in ipairs(cjson.decode(held)) do
    if redis.call('HGET', KEYS[4], claim) == ARGV[2] then redis.call('HDEL', KEYS[4], claim) end
  end
end
for _, claim in ipairs(wanted) do redis.call('HSET', KEYS[4], claim, ARGV[2]) end
if #wanted > 0 then redis.call('HSET', KEYS[5], ARGV[6], ARGV[5]) else redis.call('HDEL', KEYS[5], ARGV[6]) end
redis.call('PUBLISH', KEYS[3], rev .. '|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. record)
if old then return {rev, 0, record} end
return {rev, 1, record}
`;

/** KEYS: hash, revision, changes, unique, claims. ARGV: kind, id, claims field. */
export const DELETE_SCRIPT = `
local old = redis.call('HGET', KEYS[1], ARGV[2])
if not old then return false end
redis.call('HDEL', KEYS[1], ARGV[2])
local held = redis.call('HGET', KEYS[5], ARGV[3])
if held then
  for _, claim in ipairs(cjson.decode(held)) do
    if redis.call('HGET', KEYS[4], claim) == ARGV[2] then redis.call('HDEL', KEYS[4], claim) end
  end
  redis.call('HDEL', KEYS[5], ARGV[3])
end
local rev = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], rev .. '|' .. ARGV[1] .. '|' .. ARGV[2] .. '|')
return {rev, old}
`;

/** A stored write: revision, 1 when created (0 when replaced), the stored record. */
export type StoredReply = [rev: number, created: 0 | 1, record: string];
/** Refused: `holder` holds the claim with this key. */
export type ConflictReply = [conflict: -1, holder: string, claimKey: string];
export type PutReply = StoredReply | ConflictReply;

export function isConflict(reply: PutReply): reply is ConflictReply {
  return reply[0] === -1;
}
export type DeleteReply = [rev: number, old: string] | null;
