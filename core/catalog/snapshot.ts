/**
 * Copy-on-write snapshots shared by both backends: a change copies only the map of the kind it
 * touches, so readers holding an older snapshot keep a consistent view.
 */
import {
  RESOURCE_KINDS,
  type CatalogChange,
  type CatalogEvent,
  type CatalogRecord,
  type CatalogSnapshot,
  type ChangeListener,
  type ResourceKind,
} from './types.js';

type Maps = Record<ResourceKind, ReadonlyMap<string, CatalogRecord>>;

export class Snapshot implements CatalogSnapshot {
  constructor(
    readonly revision: number,
    private readonly maps: Maps,
  ) {}

  static empty(): Snapshot {
    return Snapshot.fromEntries(0, {});
  }

  static fromEntries(revision: number, entries: Partial<Record<ResourceKind, Iterable<[string, CatalogRecord]>>>): Snapshot {
    const maps = {} as Record<ResourceKind, Map<string, CatalogRecord>>;
    for (const kind of RESOURCE_KINDS) maps[kind] = new Map(entries[kind] ?? []);
    return new Snapshot(revision, maps);
  }

  get(kind: ResourceKind, id: string): CatalogRecord | undefined {
    return this.maps[kind].get(id);
  }

  list(kind: ResourceKind): ReadonlyMap<string, CatalogRecord> {
    return this.maps[kind];
  }

  /** A new snapshot with `change` applied at `revision`. */
  with(change: CatalogChange, revision: number): Snapshot {
    const next = new Map(this.maps[change.kind]);
    if (change.record) next.set(change.id, change.record);
    else next.delete(change.id);
    return new Snapshot(revision, { ...this.maps, [change.kind]: next });
  }

  toJSON(): Record<string, Record<string, CatalogRecord>> {
    const out: Record<string, Record<string, CatalogRecord>> = {};
    for (const kind of RESOURCE_KINDS) out[kind] = Object.fromEntries(this.maps[kind]);
    return out;
  }
}

/** Listener bookkeeping; a throwing listener is reported, not allowed to stop the others. */
export class ChangeEmitter {
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly onListenerError: (err: unknown) => void) {}

  add(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(snapshot: CatalogSnapshot, changes: readonly CatalogChange[] | 'all'): void {
    for (const listener of this.listeners) {
      try {
        listener(snapshot, changes);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/** Who hears catalog events (`broadcast`, `onBroadcast`): every backend delivers one here when it hears it. */
export class CatalogEventListeners {
  private readonly listeners = new Set<(event: CatalogEvent) => void>();

  add(listener: (event: CatalogEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: CatalogEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** Adds the server-side timestamps to a stored value. */
export function stamp(
  value: Record<string, unknown>,
  createTime: number,
  updateTime: number,
): Record<string, unknown> {
  return { ...value, create_time: createTime, update_time: updateTime };
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** The highest all-digit id in the snapshot: generated ids must stay above it. */
export function highestNumericId(snapshot: CatalogSnapshot): number {
  let max = 0;
  for (const kind of RESOURCE_KINDS) {
    for (const id of snapshot.list(kind).keys()) {
      if (/^\d{1,20}$/.test(id)) max = Math.max(max, Number(id));
    }
  }
  return max;
}
