/**
 * Records written with a ttl (`PUT ...?ttl=60`) and when the earliest of them is due: both
 * backends keep one of these beside their snapshot and sweep (delete what is due, through their
 * ordinary change path) when its timer fires. A sweep that leaves something due (the store was
 * unreachable, or its clock is behind ours) is tried again after `retryMs`.
 */
import type { CatalogRecord, CatalogSnapshot, ResourceKind } from './types.js';
import { RESOURCE_KINDS } from './types.js';

/** setTimeout's longest delay; a later expiry is re-armed when the timer fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class ExpiryWatch {
  private readonly expiries = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private armedFor?: number;
  private sweeping = false;
  private closed = false;

  constructor(
    private readonly sweep: () => Promise<void>,
    private readonly retryMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** After a change: the record's expiry, or none. */
  track(kind: ResourceKind, id: string, record: CatalogRecord | undefined): void {
    const key = `${kind}\u0000${id}`;
    const before = this.expiries.get(key);
    if (record?.expiresAt !== undefined) this.expiries.set(key, record.expiresAt);
    else this.expiries.delete(key);
    if (before !== record?.expiresAt) this.arm();
  }

  /** After a full load. */
  reset(snapshot: CatalogSnapshot): void {
    this.expiries.clear();
    for (const kind of RESOURCE_KINDS) {
      for (const [id, record] of snapshot.list(kind)) if (record.expiresAt !== undefined) this.expiries.set(`${kind}\u0000${id}`, record.expiresAt);
    }
    this.arm();
  }

  /** The records due by `now` (ms since the epoch). */
  due(now: number): Array<{ kind: ResourceKind; id: string }> {
    const out: Array<{ kind: ResourceKind; id: string }> = [];
    for (const [key, at] of this.expiries) {
      if (at > now) continue;
      const cut = key.indexOf('\u0000');
      out.push({ kind: key.slice(0, cut) as ResourceKind, id: key.slice(cut + 1) });
    }
    return out;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private earliest(): number | undefined {
    let min: number | undefined;
    for (const at of this.expiries.values()) if (min === undefined || at < min) min = at;
    return min;
  }

  private arm(retry = false): void {
    if (this.closed || this.sweeping) return;
    const next = this.earliest();
    if (next === this.armedFor && !retry) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = next;
    if (next === undefined) return;
    const delay = retry ? this.retryMs : Math.min(Math.max(next - Date.now(), 0), MAX_DELAY_MS);
    this.timer = setTimeout(() => void this.fire(), delay);
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.armedFor = undefined;
    this.sweeping = true;
    try {
      await this.sweep();
    } catch (err) {
      this.onError(err);
    } finally {
      this.sweeping = false;
    }
    const next = this.earliest();
    this.arm(next !== undefined && next <= Date.now());
  }
}
