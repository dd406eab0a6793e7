/**
 * Values shared by everyone who asks for the same key, released when the last one lets go: the
 * gateway's one reference count. Upstream connection pools, the upstreams route versions share,
 * limiter and breaker state, log files, authorization servers and MCP session managers are all
 * held this way. Route versions are created before the previous one is disposed, so a value keyed
 * by what it is (a pool's origin and settings, a limiter's namespace) survives an unrelated edit.
 */
export interface Held<T> {
  readonly value: T;
  /** Lets go; the last release disposes the value. Releasing twice counts once. */
  release(): void;
}

export interface RefCountedMapOptions {
  /**
   * Keep a value this long after its last release before disposing it; a holder that comes back
   * meanwhile gets it again (a log file a route edit brings straight back stays open).
   */
  lingerMs?: number;
}

interface Entry<T> {
  value: T;
  users: number;
  lingering?: NodeJS.Timeout;
}

export class RefCountedMap<T> {
  private readonly entries = new Map<string, Entry<T>>();

  /** `onRelease` disposes a value its last user let go of (and, on `clear`, every value). */
  constructor(
    private readonly onRelease?: (value: T) => void,
    private readonly options: RefCountedMapOptions = {},
  ) {}

  /** The value for `key`, created by `create` when nobody holds one, and counted as held once more. */
  acquire(key: string, create: () => T): Held<T> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { value: create(), users: 0 };
      this.entries.set(key, entry);
    }
    clearTimeout(entry.lingering);
    entry.lingering = undefined;
    entry.users += 1;
    const held = entry;
    let released = false;
    return {
      value: held.value,
      release: () => {
        if (released) return;
        released = true;
        held.users -= 1;
        if (held.users > 0 || this.entries.get(key) !== held) return;
        if (!this.options.lingerMs) {
          this.drop(key, held);
          return;
        }
        held.lingering = setTimeout(() => {
          if (held.users === 0 && this.entries.get(key) === held) this.drop(key, held);
        }, this.options.lingerMs);
        held.lingering.unref();
      },
    };
  }

  private drop(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    this.onRelease?.(entry.value);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every value held now. */
  values(): T[] {
    return [...this.entries.values()].map((entry) => entry.value);
  }

  /**
   * Forgets every value and disposes each, with `dispose` when given instead of the usual release
   * (the gateway is stopping); holders' releases then count for nothing.
   */
  clear(dispose: ((value: T) => void) | undefined = this.onRelease): void {
    const values = this.values();
    for (const entry of this.entries.values()) clearTimeout(entry.lingering);
    this.entries.clear();
    for (const value of values) dispose?.(value);
  }
}
