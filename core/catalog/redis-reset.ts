/**
 * When a Redis store has lost the catalog a gateway serves, and how the gateway puts it back
 * (issue 10, item 14). A Redis restarted without persistence comes back empty at revision 0;
 * following it would swap every gateway's good catalog for an empty one and answer 404 everywhere.
 *
 * The store names its catalog with an epoch (a random id written once, redis-scripts.ts). A
 * gateway that sees the store below its own revision decides:
 * - no epoch, or another one: the store lost our catalog (restarted empty, and perhaps a fresh
 *   gateway has begun another one on top): a reset. Keep serving the snapshot and, unless
 *   `catalog.restore_on_reset` is off, write it back — one gateway wins (RESTORE_SCRIPT is a
 *   compare-and-set on the state seen), the others follow the restored catalog;
 * - our epoch, marked as just restored: a gateway with an older snapshot won the restore race;
 *   restoring ours over it (again a compare-and-set) converges on the newest snapshot;
 * - our epoch otherwise: an older copy of our own catalog (a backup restored on purpose, a
 *   promoted replica). The operator chose it: follow, loudly.
 * Deleting everything through the Admin API moves the revision forward, so it is never a reset.
 */
import { randomUUID } from 'node:crypto';
import { claimKey } from './claims.js';
import { recordKey, referenceMember } from './references.js';
import { highestNumericId, type Snapshot } from './snapshot.js';
import { RESOURCE_KINDS, type CatalogRecord, type ClaimsOf, type ReferencesOf } from './types.js';

/** What the store holds, as one reload read it. */
export interface StoreState {
  revision: number;
  epoch?: string;
  /** The revision a restore wrote, while the restore marker lives. */
  restoredRevision?: number;
}

/** Whether `store` lost the catalog this gateway serves (at `revision`, named `epoch`). */
export function lostCatalog(store: StoreState, ours: { revision: number; epoch?: string }): boolean {
  if (store.revision >= ours.revision) return false;
  return store.epoch === undefined || store.epoch !== ours.epoch || store.restoredRevision === store.revision;
}

export function newEpoch(): string {
  return randomUUID();
}

/**
 * How long a restore stays marked as one: long enough for every gateway to look a few times
 * (ten polls, at least 10 s), short enough that a backup taken later does not carry the mark.
 */
export function restoreMarkerMs(pollIntervalSeconds: number): number {
  return Math.max(10_000, Math.round(pollIntervalSeconds * 10_000));
}

/** RESTORE_SCRIPT's payload: every record as stored, and the claim, reference and expiry indexes rebuilt from them. */
export function restorePayload(snapshot: Snapshot, claimsOf?: ClaimsOf, referencesOf?: ReferencesOf): { payload: string; idsFloor: number } {
  const records: Array<[number, string, string]> = [];
  const unique: Array<[string, string]> = [];
  const claims: Array<[string, string]> = [];
  const referrers: string[] = [];
  const refs: Array<[string, string]> = [];
  const expiry: Array<[number, string]> = [];
  RESOURCE_KINDS.forEach((kind, index) => {
    for (const [id, record] of snapshot.list(kind)) {
      const key = recordKey(kind, id);
      records.push([index + 1, id, storedJson(record)]);
      const claimKeys = (claimsOf?.(kind, record.value) ?? []).map((claim) => claimKey(kind, claim));
      for (const claim of claimKeys) unique.push([claim, key]);
      if (claimKeys.length > 0) claims.push([key, JSON.stringify(claimKeys)]);
      const members = (referencesOf?.(kind, record.value, id) ?? []).map((target) => referenceMember(target, { kind, id }));
      referrers.push(...members);
      if (members.length > 0) refs.push([key, JSON.stringify(members)]);
      if (record.expiresAt !== undefined) expiry.push([record.expiresAt, key]);
    }
  });
  const payload = JSON.stringify({ records, unique, claims, referrers, refs, expiry });
  return { payload, idsFloor: Math.max(snapshot.revision, highestNumericId(snapshot)) };
}

/** A record in the layout PUT_SCRIPT writes (its fixed prefix is read back with a pattern). */
function storedJson(record: CatalogRecord): string {
  const { create_time: createTime, update_time: updateTime, ...value } = record.value;
  const expiry = record.expiresAt === undefined ? '' : `,"expire_at":${record.expiresAt}`;
  return (
    `{"createdIndex":${record.createdIndex},"modifiedIndex":${record.modifiedIndex},` +
    `"create_time":${seconds(createTime)},"update_time":${seconds(updateTime)}${expiry},"value":${JSON.stringify(value)}}`
  );
}

function seconds(value: unknown): number {
  return Number.isSafeInteger(value) ? (value as number) : 0;
}
