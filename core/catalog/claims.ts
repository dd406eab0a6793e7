/**
 * Unique claims (a consumer's API key, say): how a claim is named in an index, and how to find a
 * record already holding one in a snapshot. Both backends use this inside their write step; the
 * Admin API uses it for an early answer. Issue 10, item 10: checked apart from the write, parallel
 * PUTs each saw no holder and several consumers ended up with one key.
 */
import { RESOURCE_KINDS, type CatalogSnapshot, type ClaimsOf, type RecordRef, type ResourceKind, type UniqueClaim } from './types.js';

/** The claim's name in an index: unambiguous for any scope, label and value. */
export function claimKey(kind: ResourceKind, claim: UniqueClaim): string {
  return JSON.stringify([claim.scope ?? kind, claim.label, claim.value]);
}

/**
 * The first of `claims` (made by record `kind/id`) that another record holds in `snapshot`: a
 * record of any kind claiming in the same scope.
 */
export function findClaimHolder(
  snapshot: CatalogSnapshot,
  kind: ResourceKind,
  id: string,
  claims: readonly UniqueClaim[],
  claimsOf: ClaimsOf,
): { claim: UniqueClaim; holder: RecordRef } | undefined {
  if (claims.length === 0) return undefined;
  const wanted = new Map(claims.map((claim) => [claimKey(kind, claim), claim]));
  for (const otherKind of RESOURCE_KINDS) {
    for (const [other, record] of snapshot.list(otherKind)) {
      if (otherKind === kind && other === id) continue;
      for (const held of claimsOf(otherKind, record.value)) {
        const claim = wanted.get(claimKey(otherKind, held));
        if (claim) return { claim, holder: { kind: otherKind, id: other } };
      }
    }
  }
  return undefined;
}
