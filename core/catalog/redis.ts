/**
 * The Redis catalog, for many gateway instances. Layout (all keys share one hash tag, so a Redis
 * Cluster keeps them in one slot):
 *   {prefix}:<kind>     hash  id → record JSON
 *   {prefix}:revision   counter bumped by every write
 *   {prefix}:ids        counter for generated ids
 *   {prefix}:changes    pub/sub channel: "<revision>|<kind>|<id>|<record JSON or empty>"
 *   {prefix}:events     pub/sub channel of catalog events (a plugin reload), each also counted
 *   {prefix}:event:<e>  how many times event <e> happened, for followers that missed a message
 *   {prefix}:unique, {prefix}:claims   the index of unique claims (redis-scripts.ts)
 * A write checks its claims, bumps the revision, stores the record and publishes the change in one
 * Lua script (redis-scripts.ts), so followers never see a change without its revision and two
 * gateways cannot both give one credential away. Each instance applies changes in revision
 * order; a gap (a lost message), a reconnect or a newer revision seen by the poller triggers a
 * full reload. While Redis is away the last good snapshot keeps serving and writes fail fast.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { createRedis, type RedisConnectionOptions } from '../redis.js';
import { claimKey, findClaimHolder } from './claims.js';
import { DELETE_SCRIPT, PUT_SCRIPT, isConflict, type DeleteReply, type PutReply } from './redis-scripts.js';
import { ChangeEmitter, Snapshot, nowSeconds } from './snapshot.js';
import {
  CatalogConflictError,
  CatalogUnavailableError,
  RESOURCE_KINDS,
  formatGeneratedId,
  type Catalog,
  type CatalogEvent,
  type CatalogHealth,
  type CatalogRecord,
  type ChangeListener,
  type ClaimsOf,
  type PutResult,
  type ResourceKind,
} from './types.js';

interface StoredRecord {
  createdIndex: number;
  modifiedIndex: number;
  create_time: number;
  update_time: number;
  value: Record<string, unknown>;
}

export interface RedisCatalogOptions {
  redis: RedisConnectionOptions;
  keyPrefix: string;
  logger: Logger;
  /** Seconds between revision polls (a safety net for lost pub/sub messages). */
  pollInterval: number;
  /** Values at most one record may hold (consumers' credentials); checked inside the write script. */
  claims?: ClaimsOf;
}

const CATALOG_EVENTS: readonly CatalogEvent[] = ['plugins-reload'];

type RedisWithScripts = Redis & {
  catalogPut(...keysThenArgs: Array<string | number>): Promise<PutReply>;
  catalogDelete(...keysThenArgs: string[]): Promise<DeleteReply>;
};

export class RedisCatalog implements Catalog {
  readonly backend = 'redis' as const;
  private current = Snapshot.empty();
  private readonly emitter: ChangeEmitter;
  private readonly client: RedisWithScripts;
  private readonly subscriber: Redis;
  private readonly tag: string;
  private loaded = false;
  private lastError?: string;
  private pollTimer?: NodeJS.Timeout;
  private reloading?: Promise<void>;
  private reloadAgain = false;
  private closed = false;
  private readonly eventListeners = new Set<(event: CatalogEvent) => void>();
  private readonly eventCounts = new Map<CatalogEvent, number>();
  private syncErrors = 0;

  constructor(private readonly options: RedisCatalogOptions) {
    this.tag = `{${options.keyPrefix}}`;
    this.emitter = new ChangeEmitter((err) => options.logger.error({ err }, 'catalog change listener failed'));
    this.client = createRedis(options.redis) as RedisWithScripts;
    this.client.defineCommand('catalogPut', { numberOfKeys: 5, lua: PUT_SCRIPT });
    this.client.defineCommand('catalogDelete', { numberOfKeys: 5, lua: DELETE_SCRIPT });
    this.subscriber = createRedis(options.redis);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.key('events')) void this.checkEvents();
      else this.onMessage(message);
    });
    // Every (re)connection of the subscriber may have missed messages: subscribe, then reload.
    this.subscriber.on('ready', () => {
      this.subscriber
        .subscribe(this.key('changes'), this.key('events'))
        .then(() => this.reload())
        .catch((err: Error) => this.noteError(err));
    });
    this.client.on('close', () => {
      if (this.closed) return;
      this.lastError ??= 'connection to redis closed';
      if (this.loaded) this.syncErrors += 1;
    });
  }

  /** Resolves once the first snapshot is loaded; keeps retrying while Redis is unreachable. */
  async start(): Promise<void> {
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollInterval * 1000);
    this.pollTimer.unref();
    while (!this.closed && !this.loaded) {
      try {
        await this.reload();
      } catch (err) {
        this.noteError(err as Error);
      }
      if (!this.loaded) await new Promise((r) => setTimeout(r, 200));
    }
    await this.checkEvents();
  }

  snapshot(): Snapshot {
    return this.current;
  }

  async put(kind: ResourceKind, id: string, value: Record<string, unknown>): Promise<PutResult> {
    const { create_time: _c, update_time: _u, ...rest } = value;
    const claimsOf = this.options.claims;
    const claims = claimsOf?.(kind, rest) ?? [];
    // Holders written before the claim index existed are only in the snapshot.
    const known = claimsOf && findClaimHolder(this.current, kind, id, claims, claimsOf);
    if (known) throw new CatalogConflictError(kind, known.claim, known.holder);
    const keys = claims.map((claim) => claimKey(kind, claim));
    const reply = await this.guard(() =>
      this.client.catalogPut(...this.writeKeys(kind), kind, id, JSON.stringify(rest), nowSeconds(), JSON.stringify(keys), claimsField(kind, id)),
    );
    if (isConflict(reply)) {
      const [, holder, key] = reply;
      throw new CatalogConflictError(kind, claims[keys.indexOf(key)], holder);
    }
    const [rev, created, json] = reply;
    const record = toRecord(json);
    this.applyChange(rev, kind, id, record);
    return { record, created: created === 1 };
  }

  async delete(kind: ResourceKind, id: string): Promise<CatalogRecord | undefined> {
    const result = await this.guard(() => this.client.catalogDelete(...this.writeKeys(kind), kind, id, claimsField(kind, id)));
    if (!result) return undefined;
    const [rev, old] = result;
    this.applyChange(rev, kind, id, undefined);
    return toRecord(old);
  }

  async nextId(): Promise<string> {
    return formatGeneratedId(await this.guard(() => this.client.incr(this.key('ids'))));
  }

  onChange(listener: ChangeListener): () => void {
    return this.emitter.add(listener);
  }

  async broadcast(event: CatalogEvent): Promise<void> {
    await this.guard(async () => {
      await this.client.incr(this.key(`event:${event}`));
      await this.client.publish(this.key('events'), event);
    });
    await this.checkEvents();
  }

  onBroadcast(listener: (event: CatalogEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Delivers each event whose counter moved since we last looked (the first look only records). */
  private async checkEvents(): Promise<void> {
    if (this.client.status !== 'ready') return;
    for (const event of CATALOG_EVENTS) {
      const count = Number((await this.client.get(this.key(`event:${event}`)).catch(() => null)) ?? 0);
      const seen = this.eventCounts.get(event);
      this.eventCounts.set(event, count);
      if (seen !== undefined && count !== seen) for (const listener of this.eventListeners) listener(event);
    }
  }

  health(): CatalogHealth {
    const connected = this.client.status === 'ready' && this.subscriber.status === 'ready' && this.lastError === undefined;
    return { loaded: this.loaded, connected, revision: this.current.revision, lastError: this.lastError, syncErrors: this.syncErrors };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    await Promise.all(
      [this.client, this.subscriber].map((r) => r.quit().catch(() => r.disconnect())),
    );
  }

  private key(name: string): string {
    return `${this.tag}:${name}`;
  }

  /** The KEYS of a write script. */
  private writeKeys(kind: ResourceKind): string[] {
    return [this.key(kind), this.key('revision'), this.key('changes'), this.key('unique'), this.key('claims')];
  }

  private async guard<T>(command: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') throw new CatalogUnavailableError(`catalog store unavailable (redis ${this.client.status})`);
    try {
      return await command();
    } catch (err) {
      this.noteError(err as Error);
      throw new CatalogUnavailableError(`catalog store unavailable: ${(err as Error).message}`);
    }
  }

  private onMessage(message: string): void {
    const first = message.indexOf('|');
    const second = message.indexOf('|', first + 1);
    const third = message.indexOf('|', second + 1);
    if (first < 0 || second < 0 || third < 0) return;
    const rev = Number(message.slice(0, first));
    const kind = message.slice(first + 1, second) as ResourceKind;
    const id = message.slice(second + 1, third);
    const body = message.slice(third + 1);
    if (!RESOURCE_KINDS.includes(kind)) return;
    let record: CatalogRecord | undefined;
    try {
      record = body ? toRecord(body) : undefined;
    } catch (err) {
      this.options.logger.error({ err, kind, id }, 'catalog change carries a corrupt record; reloading');
      void this.reload();
      return;
    }
    this.applyChange(rev, kind, id, record);
  }

  /** Applies changes strictly in revision order; anything else means we missed one. */
  private applyChange(rev: number, kind: ResourceKind, id: string, record: CatalogRecord | undefined): void {
    if (rev <= this.current.revision) return;
    if (rev !== this.current.revision + 1 || !this.loaded) {
      void this.reload();
      return;
    }
    this.current = this.current.with({ kind, id, record }, rev);
    this.emitter.emit(this.current, [{ kind, id, record }]);
  }

  private async poll(): Promise<void> {
    if (this.closed || this.client.status !== 'ready') {
      if (!this.closed) {
        this.lastError ??= `redis ${this.client.status}`;
        if (this.loaded) this.syncErrors += 1;
      }
      return;
    }
    try {
      const revision = Number((await this.client.get(this.key('revision'))) ?? 0);
      if (this.lastError !== undefined || revision !== this.current.revision) await this.reload();
      await this.checkEvents();
    } catch (err) {
      this.noteError(err as Error);
    }
  }

  /** One full, consistent read (MULTI) of every kind; coalesces concurrent calls. */
  private reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          await this.reloadOnce();
        } while (this.reloadAgain && !this.closed);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    if (this.client.status !== 'ready') throw new CatalogUnavailableError(`redis ${this.client.status}`);
    const multi = this.client.multi().get(this.key('revision'));
    for (const kind of RESOURCE_KINDS) multi.hgetall(this.key(kind));
    const replies = (await multi.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed) throw failed[0];
    const revision = Number(replies[0][1] ?? 0);
    const entries: Partial<Record<ResourceKind, Array<[string, CatalogRecord]>>> = {};
    RESOURCE_KINDS.forEach((kind, i) => {
      const hash = (replies[i + 1][1] ?? {}) as Record<string, string>;
      const list: Array<[string, CatalogRecord]> = [];
      for (const [id, json] of Object.entries(hash)) {
        try {
          list.push([id, toRecord(json)]);
        } catch {
          // A corrupt value written behind the gateway's back is skipped, never half-applied.
          this.options.logger.error({ kind, id }, 'catalog record is not valid JSON; skipped');
        }
      }
      entries[kind] = list;
    });
    if (revision < this.current.revision) {
      // Redis came back without our data (a restart without persistence, a failover to a stale
      // replica). Redis is the source of truth, so we follow it, but loudly.
      this.options.logger.error({ was: this.current.revision, now: revision }, 'catalog revision went backwards: redis lost data?');
    }
    this.current = Snapshot.fromEntries(revision, entries);
    this.loaded = true;
    if (this.lastError !== undefined) this.options.logger.info({ revision }, 'catalog resynchronised with redis');
    this.lastError = undefined;
    this.emitter.emit(this.current, 'all');
  }

  private noteError(err: Error): void {
    if (this.closed) return;
    // Counted once following has begun; before the first load the gateway is simply not ready yet.
    if (this.loaded) this.syncErrors += 1;
    if (this.lastError === undefined) this.options.logger.warn({ err: err.message }, 'catalog store unavailable; serving last snapshot');
    this.lastError = err.message;
  }
}

/** A record's entry in the claims hash. */
function claimsField(kind: ResourceKind, id: string): string {
  return JSON.stringify([kind, id]);
}

function toRecord(json: string): CatalogRecord {
  const stored = JSON.parse(json) as StoredRecord;
  return {
    value: { ...stored.value, create_time: stored.create_time, update_time: stored.update_time },
    createdIndex: stored.createdIndex,
    modifiedIndex: stored.modifiedIndex,
  };
}
