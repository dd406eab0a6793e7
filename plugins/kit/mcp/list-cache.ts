/**
 * A route's short-lived cache of the list results a remote MCP 2026-07-28 server marks cacheable
 * (2026-07-28 server/utilities/caching): `tools/list`, `resources/list`, `prompts/list`.
 *
 * It holds the server's answer as the server gave it, before any message filter (mcp-acl) ran:
 * the filters apply to every answer, cached or not, so one consumer's view never reaches another.
 * A `public` result is shared by every caller of the route; a `private` one is kept per consumer
 * (the spec's "same authorization context") and never for an anonymous caller, who has none the
 * gateway can tell apart. Freshness is the server's `ttlMs`, bounded by the route's
 * `list_cache_max_ttl`; a list_changed of the server (or a new definition of it) makes an entry
 * stale at once through the server's list generation. At most `list_cache_max_entries` entries
 * and `list_cache_max_bytes` of them together (a server's list may be up to max_message_bytes,
 * so the entry count alone would let a route hold that many times as much); the least recently
 * used goes first.
 */
import { canonicalJson } from '../canonical-json.js';
import { CAPABILITIES_META, isObject } from './jsonrpc.js';
import type { ListMethod } from './server.js';

/** The list methods whose results are cached. */
export const CACHED_LISTS: ReadonlySet<string> = new Set<ListMethod>(['tools/list', 'resources/list', 'prompts/list']);

export interface CacheLimits {
  /** ms; 0: nothing is cached. */
  readonly maxTtlMs: number;
  readonly maxEntries: number;
  /** The JSON sizes of all entries together. */
  readonly maxBytes: number;
}

/** What a cached answer is looked up by, besides the scope. */
export interface CacheQuery {
  readonly method: string;
  readonly params: Record<string, unknown>;
  readonly consumer: string | undefined;
  /** The server's list generation now (server.ts `listGeneration`). */
  readonly generation: string;
}

interface Entry {
  readonly result: Record<string, unknown>;
  readonly expires: number;
  readonly generation: string;
  /** Bytes of the server's JSON answer it came from. */
  readonly bytes: number;
}

export interface CacheHit {
  readonly result: Record<string, unknown>;
  /** ms the answer stays fresh: the `ttlMs` the client is told. */
  readonly remainingMs: number;
}

export class ListCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly limits: CacheLimits) {}

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held, all entries together. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** A fresh answer for the query: the public one, else the consumer's private one. */
  get(query: CacheQuery, now = Date.now()): CacheHit | undefined {
    if (this.limits.maxTtlMs <= 0) return undefined;
    for (const key of [keyOf(query, 'public'), keyOf(query, 'private')]) {
      if (key === undefined) continue;
      const entry = this.entries.get(key);
      if (!entry) continue;
      if (entry.expires <= now || entry.generation !== query.generation) {
        this.drop(key);
        continue;
      }
      // Most recently used last: eviction takes from the front.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { result: entry.result, remainingMs: entry.expires - now };
    }
    return undefined;
  }

  /**
   * Keeps `result` when the server said it may be kept, for as long as it and the route allow;
   * true when kept. `bytes`: the size of the server's JSON answer it came from.
   */
  offer(query: CacheQuery, result: Record<string, unknown>, bytes: number, now = Date.now()): boolean {
    if (this.limits.maxTtlMs <= 0 || !CACHED_LISTS.has(query.method)) return false;
    if (result.resultType !== 'complete') return false;
    const scope = result.cacheScope;
    if (scope !== 'public' && scope !== 'private') return false;
    const ttl = typeof result.ttlMs === 'number' && Number.isFinite(result.ttlMs) ? Math.min(result.ttlMs, this.limits.maxTtlMs) : 0;
    if (ttl <= 0) return false;
    const key = keyOf(query, scope);
    if (key === undefined) return false;
    this.drop(key);
    if (bytes > this.limits.maxBytes) return false;
    this.entries.set(key, { result, expires: now + ttl, generation: query.generation, bytes });
    this.bytes += bytes;
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) this.drop(this.entries.keys().next().value!);
    return true;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}

/**
 * Whether a request may be answered from (or fill) the cache at all: a list method, and not a
 * multi round-trip retry, whose answer depends on inputs that are no part of the key (spec, "Cache Key").
 */
export function cacheableRequest(method: string, params: Record<string, unknown>): boolean {
  return CACHED_LISTS.has(method) && params.requestState === undefined && params.inputResponses === undefined;
}

/**
 * The request parameters that may change a list: the cursor, and the capabilities the client
 * declared (a server may offer a client that can sample other tools). Everything else in `_meta`
 * (client name, progress token, trace context) does not.
 */
function keyOf(query: CacheQuery, scope: 'public' | 'private'): string | undefined {
  if (scope === 'private' && query.consumer === undefined) return undefined;
  const meta = isObject(query.params._meta) ? query.params._meta : {};
  const { _meta: _ignored, ...rest } = query.params;
  return canonicalJson([query.method, rest, meta[CAPABILITIES_META] ?? {}, scope, scope === 'private' ? query.consumer : '']);
}
