/**
 * Unique claims (a consumer's API key, say): how a claim is named in an index, and how to find a
 * record already holding one in a snapshot. Both backends use this inside their write step; the
 * Admin API uses it for an early answer. Issue 10, item 10: checked apart from the write, parallel
 * PUTs each saw no holder and several consumers ended up with one key.
 */
import type { CatalogSnapshot, ClaimsOf, ResourceKind, UniqueClaim } from './types.js';

/** The claim's name in an index: unambiguous for any label and value. */
export function claimKey(kind: ResourceKind, claim: UniqueClaim): string {
  return JSON.stringify([kind, claim.label, claim.value]);
}

/** The first of `claims` that a record of `kind` other than `id` holds in `snapshot`. */
export function findClaimHolder(
  snapshot: CatalogSnapshot,
  kind: ResourceKind,
  id: string,
  claims: readonly UniqueClaim[],
  claimsOf: ClaimsOf,
): { claim: UniqueClaim; holder: string } | undefined {
  if (claims.length === 0) return undefined;
  const wanted = new Map(claims.map((claim) => [claimKey(kind, claim), claim]));
  for (const [other, record] of snapshot.list(kind)) {
    if (other === id) continue;
    for (const held of claimsOf(kind, record.value)) {
      const claim = wanted.get(claimKey(kind, held));
      if (claim) return { claim, holder: other };
    }
  }
  return undefined;
}
