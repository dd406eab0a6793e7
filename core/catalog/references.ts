/**
 * References between records (a route's upstream_id): what a write refers to must exist, what a
 * delete removes must be referred to by nothing, both checked in the write's atomic step.
 * Checked apart from the write (the Admin API read its snapshot, then wrote), a DELETE of an
 * upstream and a PUT of a route referring to it could both pass, through one gateway or two, and
 * leave a route pointing at nothing.
 *
 * The embedded catalog looks in its snapshot inside its one-at-a-time write step. The Redis
 * catalog keeps an index next to the records (redis-scripts.ts): one sorted set whose members
 * name a target and a record referring to it, `<target key>\n<referrer kind index>\n<referrer id>`
 * (a target key is JSON and never holds a raw newline), so the records referring to a target are
 * one range lookup away; and a hash from each referrer to the members it holds, to release them.
 */
import { RESOURCE_KINDS, type CatalogSnapshot, type RecordRef, type Reference, type ReferencesOf, type ResourceKind } from './types.js';

/** A record's name in the indexes (the same as its entry in the claims hash). */
export function recordKey(kind: ResourceKind, id: string): string {
  return JSON.stringify([kind, id]);
}

/** 1-based, the way the Redis scripts address the kinds' hashes. */
export function kindIndex(kind: ResourceKind): number {
  return RESOURCE_KINDS.indexOf(kind) + 1;
}

/** The index member saying that `referrer` refers to `target`. */
export function referenceMember(target: RecordRef, referrer: RecordRef): string {
  return `${recordKey(target.kind, target.id)}\n${kindIndex(referrer.kind)}\n${referrer.id}`;
}

/** The first of `refs` that must exist and `snapshot` does not hold. */
export function findMissing(snapshot: CatalogSnapshot, refs: readonly Reference[]): RecordRef | undefined {
  return refs.find((ref) => !ref.optional && !snapshot.get(ref.kind, ref.id));
}

/** A record in `snapshot` that refers to `kind/id`, if any; records of the kinds in `besides` do not count. */
export function findReferrer(
  snapshot: CatalogSnapshot,
  kind: ResourceKind,
  id: string,
  referencesOf: ReferencesOf,
  besides: readonly ResourceKind[] = [],
): RecordRef | undefined {
  for (const userKind of RESOURCE_KINDS) {
    if (besides.includes(userKind)) continue;
    for (const [userId, record] of snapshot.list(userKind)) {
      if (refersTo(referencesOf, userKind, userId, record.value, kind, id)) return { kind: userKind, id: userId };
    }
  }
  return undefined;
}

/** The records of the kinds in `dependentKinds` that refer to `kind/id`: they go when it goes. */
export function findDependents(
  snapshot: CatalogSnapshot,
  kind: ResourceKind,
  id: string,
  referencesOf: ReferencesOf,
  dependentKinds: readonly ResourceKind[],
): RecordRef[] {
  const found: RecordRef[] = [];
  for (const userKind of dependentKinds) {
    for (const [userId, record] of snapshot.list(userKind)) {
      if (refersTo(referencesOf, userKind, userId, record.value, kind, id)) found.push({ kind: userKind, id: userId });
    }
  }
  return found;
}

function refersTo(
  referencesOf: ReferencesOf,
  userKind: ResourceKind,
  userId: string,
  value: Readonly<Record<string, unknown>>,
  kind: ResourceKind,
  id: string,
): boolean {
  return referencesOf(userKind, value, userId).some((ref) => ref.kind === kind && ref.id === id);
}
