/**
 * How traffic-split picks among weighted upstreams. Requests: lua-resty-balancer's `roundrobin`,
 * which APISIX uses — interleaved weighted round robin (LVS): over every run of sum(weight)/gcd
 * picks, each entry gets weight/gcd of them, the heavier ones interleaved with the lighter. APISIX
 * starts the cycle at a random entry; here it starts at the first, so a test can count.
 * Sessions: a hash of the session id over the same weights, so every request of a session that
 * carries no pick of its own lands on the same entry, on every worker.
 */
import { hash32 } from '../../core/upstream/balancer.js';

export class InterleavedRoundRobin<T> {
  private readonly entries: ReadonlyArray<readonly [T, number]>;
  private readonly gcd: number;
  private readonly max: number;
  private last = -1;
  private current: number;

  /** `entries` in order, each distinct, with a weight ≥ 0. */
  constructor(entries: ReadonlyArray<readonly [T, number]>) {
    this.entries = entries;
    this.max = Math.max(...entries.map(([, w]) => w));
    this.gcd = entries.reduce((g, [, w]) => gcd(g, w), 0);
    this.current = this.max;
  }

  next(): T {
    const { entries } = this;
    if (entries.length === 1) return entries[0][0];
    for (;;) {
      for (let i = this.last + 1; i < entries.length; i++) {
        if (entries[i][1] >= this.current) {
          this.last = i;
          return entries[i][0];
        }
      }
      this.last = -1;
      this.current -= this.gcd;
      if (this.current <= 0) this.current = this.max;
    }
  }
}

/** The entry `key` hashes to, each entry owning a share of the hash space as large as its weight. */
export function weightedHashPick<T>(entries: ReadonlyArray<readonly [T, number]>, key: string): T {
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  if (total === 0) return entries[0][0];
  let point = hash32(key) % total;
  for (const [entry, weight] of entries) {
    if (point < weight) return entry;
    point -= weight;
  }
  return entries[entries.length - 1][0];
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
