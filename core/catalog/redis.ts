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
 *   {prefix}:referrers, {prefix}:refs  the index of references between records (references.ts)
 *   {prefix}:expiry     records written with a ttl, by when they expire (redis-scripts.ts)
 *   {prefix}:epoch      names the catalog the store holds; {prefix}:restored marks a fresh restore
 * A write checks its claims and references, bumps the revision, stores the record and publishes
 * the change in one Lua script (redis-scripts.ts), so followers never see a change without its
 * revision, two gateways cannot both give one credential away, and a route cannot come to refer
 * to an upstream deleted at the same time. Each instance applies changes in revision
 * order; a gap (a lost message), a reconnect or a newer revision seen by the poller triggers a
 * full reload. While Redis is away the last good snapshot keeps serving and writes fail fast.
 * A Redis that comes back without our catalog is not followed: see redis-reset.ts. Records
 * written with a ttl are deleted by the first gateway whose timer finds them due (EXPIRE_SCRIPT),
 * as an ordinary change every gateway follows.
 */
import type { Logger } from '../logger.js';
import { createRedis, reconnectDelay, type GatewayRedis, type RedisConnectionOptions } from '../redis.js';
import { claimKey, findClaimHolder } from './claims.js';
import { ExpiryWatch } from './expiry.js';
import { findReferrer, kindIndex, recordKey, referenceMember } from './references.js';
import { lostCatalog, newEpoch, restoreMarkerMs, restorePayload, type StoreState } from './redis-reset.js';
import {
  DELETE_SCRIPT,
  ENSURE_EPOCH_SCRIPT,
  EXPIRE_SCRIPT,
  PUT_SCRIPT,
  RESTORE_SCRIPT,
  isConflict,
  isEpochMismatch,
  isReferenceRefusal,
  type DeleteReply,
  type ExpireReply,
  type PutReply,
  type RemovedChanges,
} from './redis-scripts.js';
import { CatalogEventListeners, ChangeEmitter, Snapshot, nowSeconds } from './snapshot.js';
import {
  CatalogConflictError,
  CatalogInUseError,
  CatalogReferenceError,
  CatalogUnavailableError,
  RESOURCE_KINDS,
  UNTIMED_KINDS,
  formatGeneratedId,
  type Catalog,
  type CatalogEvent,
  type CatalogHealth,
  type CatalogRecord,
  type Cascades,
  type ChangeListener,
  type ClaimsOf,
  type DeleteOptions,
  type PutOptions,
  type PutResult,
  type RecordRef,
  type ReferencesOf,
  type ResourceKind,
  type StoreReset,
  type UniqueClaim,
} from './types.js';

interface StoredRecord {
  createdIndex: number;
  modifiedIndex: number;
  create_time: number;
  update_time: number;
  expire_at?: number;
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
  /** References between records (a route's upstream_id); checked inside the write script. */
  references?: ReferencesOf;
  /** Records deleted with the record they refer to (a consumer's credentials). */
  cascades?: Cascades;
  /** Write the snapshot back into a store that lost the catalog (default true; redis-reset.ts). */
  restoreOnReset?: boolean;
}

const CATALOG_EVENTS: readonly CatalogEvent[] = ['plugins-reload'];
/** The names the write scripts use for kinds (their indexes are positions here, 1-based). */
const KIND_NAMES = JSON.stringify(RESOURCE_KINDS);
/** The write scripts' own KEYS, after the written kind's hash and before every kind's hash. */
const WRITE_KEY_NAMES = ['revision', 'changes', 'unique', 'claims', 'epoch', 'referrers', 'refs', 'expiry'] as const;
const WRITE_KEYS = 1 + WRITE_KEY_NAMES.length + RESOURCE_KINDS.length;
/** Expired records one EXPIRE_SCRIPT call deletes at most (the next call takes the rest). */
const EXPIRE_BATCH = 100;

type RedisWithScripts = GatewayRedis & {
  catalogPut(...keysThenArgs: Array<string | number>): Promise<PutReply>;
  catalogDelete(...keysThenArgs: string[]): Promise<DeleteReply>;
  catalogExpire(...keysThenArgs: Array<string | number>): Promise<ExpireReply>;
  catalogEnsureEpoch(revision: string, epoch: string, seenRevision: number, newEpoch: string): Promise<string | null>;
  catalogRestore(...keysThenArgs: Array<string | number>): Promise<0 | 1>;
};

const WRITE_REFUSED_AFTER_RESET =
  'catalog store was reset: redis no longer holds the catalog this gateway serves; writes are refused until it does ' +
  '(catalog.restore_on_reset, see docs/deployment.md)';

export class RedisCatalog implements Catalog {
  readonly backend = 'redis' as const;
  private current = Snapshot.empty();
  private readonly emitter: ChangeEmitter;
  private readonly client: RedisWithScripts;
  private readonly subscriber: GatewayRedis;
  private readonly tag: string;
  private loaded = false;
  private lastError?: string;
  private pollTimer?: NodeJS.Timeout;
  private reloading?: Promise<void>;
  private reloadAgain = false;
  private resyncTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly eventListeners = new CatalogEventListeners();
  private readonly eventCounts = new Map<CatalogEvent, number>();
  private syncErrors = 0;
  /** The catalog this gateway follows (the store's epoch); undefined until a store names one. */
  private epoch?: string;
  /** Set while the store has lost our catalog and the snapshot serves instead; `epoch` is the store's. */
  private reset?: StoreReset & { epoch?: string };
  private readonly resets = { detected: 0, restored: 0 };
  private readonly expiry: ExpiryWatch;

  constructor(private readonly options: RedisCatalogOptions) {
    this.tag = `{${options.keyPrefix}}`;
    this.emitter = new ChangeEmitter((err) => options.logger.error({ err }, 'catalog change listener failed'));
    this.client = createRedis(options.redis) as RedisWithScripts;
    this.client.defineCommand('catalogPut', { numberOfKeys: WRITE_KEYS, lua: PUT_SCRIPT });
    this.client.defineCommand('catalogDelete', { numberOfKeys: WRITE_KEYS, lua: DELETE_SCRIPT });
    this.client.defineCommand('catalogExpire', { numberOfKeys: WRITE_KEYS, lua: EXPIRE_SCRIPT });
    this.client.defineCommand('catalogEnsureEpoch', { numberOfKeys: 2, lua: ENSURE_EPOCH_SCRIPT });
    this.client.defineCommand('catalogRestore', { numberOfKeys: RESTORE_KEY_NAMES.length + RESOURCE_KINDS.length, lua: RESTORE_SCRIPT });
    this.expiry = new ExpiryWatch(() => this.expire(), options.pollInterval * 1000, (err) => this.noteError(err as Error));
    this.subscriber = createRedis(options.redis);
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.key('events')) void this.checkEvents();
      else this.onMessage(message);
    });
    // A (re)connection may have missed changes: subscribe, then resync. The two connections come
    // back independently (after a Redis restart in either order), so the one that is ready last
    // starts the resync: waiting for the subscriber alone left a gateway out of step whenever the
    // command connection came back after it, until the next poll.
    this.subscriber.on('ready', () => {
      this.subscriber
        .subscribe(this.key('changes'), this.key('events'))
        .then(() => this.resync())
        .catch((err: Error) => this.noteError(err));
    });
    this.client.on('ready', () => this.resync());
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

  async put(kind: ResourceKind, id: string, value: Record<string, unknown>, options: PutOptions = {}): Promise<PutResult> {
    this.refuseWhileReset();
    const { create_time: _c, update_time: _u, ...rest } = value;
    const claimsOf = this.options.claims;
    const claims = claimsOf?.(kind, rest) ?? [];
    // Holders written before the claim index existed are only in the snapshot.
    const known = claimsOf && findClaimHolder(this.current, kind, id, claims, claimsOf);
    if (known) throw new CatalogConflictError(kind, known.claim, known.holder);
    const keys = claims.map((claim) => claimKey(kind, claim));
    const scopes = JSON.stringify(claims.map((claim) => kindIndex(claim.scope ?? kind)));
    const refs = this.options.references?.(kind, rest, id) ?? [];
    // Only what must exist is checked; every reference is indexed, so a delete sees it.
    const targets = JSON.stringify(refs.filter((ref) => !ref.optional).map((ref) => [kindIndex(ref.kind), ref.id]));
    const members = JSON.stringify(refs.map((ref) => referenceMember(ref, { kind, id })));
    const ttl = options.ttl === undefined ? '' : String(Math.ceil(options.ttl * 1000));
    const reply = await this.guard(() =>
      this.client.catalogPut(
        ...this.writeKeys(kind),
        this.epoch ?? '',
        kind,
        id,
        JSON.stringify(rest),
        nowSeconds(),
        JSON.stringify(keys),
        recordKey(kind, id),
        targets,
        members,
        scopes,
        KIND_NAMES,
        ttl,
        wholeSeconds(options.times?.create_time),
        wholeSeconds(options.times?.update_time),
      ),
    );
    if (isEpochMismatch(reply)) this.storeMovedOn();
    if (isReferenceRefusal(reply)) throw new CatalogReferenceError({ kind: RESOURCE_KINDS[reply[1] - 1], id: reply[2] });
    if (isConflict(reply)) {
      const [, holder, key] = reply;
      const claim = claims[keys.indexOf(key)];
      throw new CatalogConflictError(kind, claim, holderRef(holder, claim, kind));
    }
    const [rev, created, json] = reply;
    const record = toRecord(json, kind);
    this.applyChange(rev, kind, id, record);
    return { record, created: created === 1 };
  }

  async delete(kind: ResourceKind, id: string, options: DeleteOptions = {}): Promise<CatalogRecord | undefined> {
    this.refuseWhileReset();
    const references = this.options.references;
    const dependentKinds = this.options.cascades?.[kind] ?? [];
    // Referrers written before the reference index existed are only in the snapshot.
    const known = !options.force && references && findReferrer(this.current, kind, id, references, dependentKinds);
    if (known) throw new CatalogInUseError({ kind, id }, known);
    const result = await this.guard(() =>
      this.client.catalogDelete(
        ...this.writeKeys(kind),
        this.epoch ?? '',
        kind,
        id,
        recordKey(kind, id),
        options.force ? '1' : '0',
        JSON.stringify(dependentKinds.map(kindIndex)),
        KIND_NAMES,
      ),
    );
    if (isEpochMismatch(result)) this.storeMovedOn();
    if (isReferenceRefusal(result)) throw new CatalogInUseError({ kind, id }, { kind: RESOURCE_KINDS[result[1] - 1], id: result[2] });
    if (!result) return undefined;
    const [old, changes] = result;
    this.applyRemovals(changes);
    return toRecord(old, kind);
  }

  /** Deletes the records whose ttl ran out (any gateway may; the script makes it happen once). */
  private async expire(): Promise<void> {
    if (this.reset || !this.loaded) return;
    const cascades = JSON.stringify(RESOURCE_KINDS.map((kind) => (this.options.cascades?.[kind] ?? []).map(kindIndex)));
    for (;;) {
      const reply = await this.guard(() => this.client.catalogExpire(...this.writeKeys('routes'), this.epoch ?? '', KIND_NAMES, cascades, EXPIRE_BATCH));
      if (isEpochMismatch(reply)) this.storeMovedOn();
      const [changes, more] = reply;
      this.applyRemovals(changes);
      if (more !== 1) return;
    }
  }

  /** Applies what a delete or an expiry removed, in revision order. */
  private applyRemovals(changes: RemovedChanges): void {
    for (let i = 0; i < changes.length; i += 3) {
      this.applyChange(Number(changes[i + 2]), RESOURCE_KINDS[Number(changes[i]) - 1], String(changes[i + 1]), undefined);
    }
  }

  async nextId(): Promise<string> {
    this.refuseWhileReset();
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
    return this.eventListeners.add(listener);
  }

  /**
   * Delivers each event whose counter grew since we last looked (the first look only records; a
   * counter that fell went with a store reset, and is only recorded).
   */
  private async checkEvents(): Promise<void> {
    if (this.client.status !== 'ready') return;
    for (const event of CATALOG_EVENTS) {
      const count = Number((await this.client.get(this.key(`event:${event}`)).catch(() => null)) ?? 0);
      const seen = this.eventCounts.get(event);
      this.eventCounts.set(event, count);
      if (seen !== undefined && count > seen) this.eventListeners.emit(event);
    }
  }

  health(): CatalogHealth {
    const connected = this.client.status === 'ready' && this.subscriber.status === 'ready' && this.lastError === undefined;
    const storeReset = this.reset && { since: this.reset.since, storeRevision: this.reset.storeRevision, snapshotRevision: this.reset.snapshotRevision, restore: this.reset.restore };
    return {
      loaded: this.loaded,
      connected,
      revision: this.current.revision,
      lastError: this.lastError,
      syncErrors: this.syncErrors,
      storeReset,
      resets: { ...this.resets },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.expiry.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.resyncTimer);
    await Promise.all(
      [this.client, this.subscriber].map((r) => r.quit().catch(() => r.disconnect())),
    );
  }

  private key(name: string): string {
    return `${this.tag}:${name}`;
  }

  /** The KEYS of a write script. */
  private writeKeys(kind: ResourceKind): string[] {
    return [this.key(kind), ...WRITE_KEY_NAMES.map((name) => this.key(name)), ...RESOURCE_KINDS.map((k) => this.key(k))];
  }

  private refuseWhileReset(): void {
    if (this.reset) throw new CatalogUnavailableError(WRITE_REFUSED_AFTER_RESET);
  }

  /** A write found the store holding another catalog (or none) before a reload noticed. */
  private storeMovedOn(): never {
    void this.reload().catch((err: Error) => this.noteError(err));
    throw new CatalogUnavailableError(WRITE_REFUSED_AFTER_RESET);
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
      record = body ? toRecord(body, kind) : undefined;
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
    // After a reset the next revision may belong to another catalog: only a reload can tell.
    if (rev !== this.current.revision + 1 || !this.loaded || this.reset) {
      void this.reload();
      return;
    }
    this.current = this.current.with({ kind, id, record }, rev);
    this.expiry.track(kind, id, record);
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
      const [revision, epoch] = await this.client.mget(this.key('revision'), this.key('epoch'));
      // While the store has lost our catalog, compare with what it held then, not with our snapshot.
      const seen = this.reset ?? { storeRevision: this.current.revision, epoch: this.epoch };
      if (this.lastError !== undefined || Number(revision ?? 0) !== seen.storeRevision || (epoch ?? undefined) !== seen.epoch) await this.reload();
      await this.checkEvents();
    } catch (err) {
      this.noteError(err as Error);
    }
  }

  /**
   * Reloads once both connections are ready (before that, the one still missing calls again when
   * it is). A reload that fails is retried with the reconnection backoff until one succeeds or a
   * connection drops (its return starts over): left to the poll, one failed reload (a command
   * timeout while Redis is still warming up) would leave the gateway degraded and missing the
   * changes made meanwhile for a whole `catalog.poll_interval`.
   */
  private resync(attempt = 1): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    if (this.closed || this.client.status !== 'ready' || this.subscriber.status !== 'ready') return;
    this.reload().catch((err: Error) => {
      this.noteError(err);
      if (this.closed) return;
      this.resyncTimer = setTimeout(() => this.resync(attempt + 1), reconnectDelay(attempt));
      this.resyncTimer.unref();
    });
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
    const multi = this.client.multi().get(this.key('revision')).get(this.key('epoch')).get(this.key('restored'));
    for (const kind of RESOURCE_KINDS) multi.hgetall(this.key(kind));
    const replies = (await multi.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed) throw failed[0];
    const [revision, epoch, restored] = replies.slice(0, 3).map(([, value]) => (value ?? undefined) as string | undefined);
    const store: StoreState = { revision: Number(revision ?? 0), epoch, restoredRevision: restored === undefined ? undefined : Number(restored) };
    if (this.loaded && lostCatalog(store, { revision: this.current.revision, epoch: this.epoch })) {
      await this.onStoreReset(store);
      return;
    }
    const entries: Partial<Record<ResourceKind, Array<[string, CatalogRecord]>>> = {};
    RESOURCE_KINDS.forEach((kind, i) => {
      const hash = (replies[i + 3][1] ?? {}) as Record<string, string>;
      const list: Array<[string, CatalogRecord]> = [];
      for (const [id, json] of Object.entries(hash)) {
        try {
          list.push([id, toRecord(json, kind)]);
        } catch {
          // A corrupt value written behind the gateway's back is skipped, never half-applied.
          this.options.logger.error({ kind, id }, 'catalog record is not valid JSON; skipped');
        }
      }
      entries[kind] = list;
    });
    const followedEpoch = store.epoch ?? (await this.ensureEpoch(store.revision));
    if (store.revision < this.current.revision) {
      this.options.logger.error(
        { was: this.current.revision, now: store.revision },
        'catalog revision went backwards within the same catalog (a backup restored on purpose, a promoted replica?); following it',
      );
    }
    if (this.reset) this.options.logger.warn({ revision: store.revision }, 'the catalog store holds the catalog again; following it');
    else if (this.epoch !== undefined && followedEpoch !== undefined && followedEpoch !== this.epoch) {
      this.options.logger.warn({ was: this.epoch, now: followedEpoch, revision: store.revision }, 'the catalog store holds another catalog (a newer one); following it');
    }
    this.reset = undefined;
    this.epoch = followedEpoch;
    this.current = Snapshot.fromEntries(store.revision, entries);
    this.loaded = true;
    this.expiry.reset(this.current);
    if (this.lastError !== undefined) this.options.logger.info({ revision: store.revision }, 'catalog resynchronised with redis');
    this.lastError = undefined;
    this.emitter.emit(this.current, 'all');
  }

  /** The store lost our catalog: keep the snapshot, say so, and (unless turned off) put it back. */
  private async onStoreReset(store: StoreState): Promise<void> {
    this.lastError = undefined;
    const restore = this.options.restoreOnReset !== false;
    if (!this.reset) {
      this.resets.detected += 1;
      this.options.logger.error(
        { snapshot_revision: this.current.revision, store_revision: store.revision, epoch: this.epoch, store_epoch: store.epoch ?? null, restore },
        restore
          ? 'catalog store was reset (redis lost the catalog): serving the last snapshot and restoring redis from it'
          : 'catalog store was reset (redis lost the catalog): serving the last snapshot; restore_on_reset is off, redis is left as it is',
      );
    }
    this.reset = {
      since: this.reset?.since ?? new Date().toISOString(),
      storeRevision: store.revision,
      snapshotRevision: this.current.revision,
      restore,
      epoch: store.epoch,
    };
    if (!restore || !(await this.restore(store))) return;
    // Won: the store holds our snapshot. Lost: another gateway restored first (or a write
    // landed); the next poll sees the store change and reloads.
    this.resets.restored += 1;
    this.reset = undefined;
    this.options.logger.warn(
      { revision: this.current.revision, epoch: this.epoch, replaced_revision: store.revision, replaced_epoch: store.epoch ?? null },
      "restored the catalog store from this gateway's snapshot, replacing what it held",
    );
  }

  /** Compare-and-set of the whole catalog: written only if the store still holds `seen`. */
  private async restore(seen: StoreState): Promise<boolean> {
    const { payload, idsFloor } = restorePayload(this.current, this.options.claims, this.options.references);
    const epoch = this.epoch ?? newEpoch();
    const keys = [...RESTORE_KEY_NAMES, ...RESOURCE_KINDS].map((name) => this.key(name));
    const marker = restoreMarkerMs(this.options.pollInterval);
    const won = await this.client.catalogRestore(...keys, seen.epoch ?? '', seen.revision, epoch, this.current.revision, idsFloor, marker, payload);
    if (won === 1) this.epoch = epoch;
    return won === 1;
  }

  /** The store's epoch, naming it first if it has none (a new store, or one older than epochs). */
  private async ensureEpoch(revision: number): Promise<string | undefined> {
    return (await this.client.catalogEnsureEpoch(this.key('revision'), this.key('epoch'), revision, newEpoch())) ?? undefined;
  }

  private noteError(err: Error): void {
    if (this.closed) return;
    // Counted once following has begun; before the first load the gateway is simply not ready yet.
    if (this.loaded) this.syncErrors += 1;
    if (this.lastError === undefined) this.options.logger.warn({ err: err.message }, 'catalog store unavailable; serving last snapshot');
    this.lastError = err.message;
  }
}

/** RESTORE_SCRIPT's own KEYS, before every kind's hash. */
const RESTORE_KEY_NAMES = ['revision', 'epoch', 'ids', 'restored', 'unique', 'claims', 'referrers', 'refs', 'expiry'] as const;

function toRecord(json: string, kind: ResourceKind): CatalogRecord {
  const stored = JSON.parse(json) as StoredRecord;
  const record = {
    value: UNTIMED_KINDS.has(kind) ? stored.value : { ...stored.value, create_time: stored.create_time, update_time: stored.update_time },
    createdIndex: stored.createdIndex,
    modifiedIndex: stored.modifiedIndex,
  };
  return stored.expire_at === undefined ? record : { ...record, expiresAt: stored.expire_at };
}

/** The record a claim index holder names: a record key, or (older versions) an id of the claim's scope kind. */
function holderRef(holder: string, claim: UniqueClaim, kind: ResourceKind): RecordRef {
  if (holder.startsWith('[')) {
    const [holderKind, id] = JSON.parse(holder) as [ResourceKind, string];
    return { kind: holderKind, id };
  }
  return { kind: claim.scope ?? kind, id: holder };
}

/** A timestamp as the put script writes it into the record's JSON: whole seconds, '' for none. */
function wholeSeconds(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '' : String(Math.trunc(value));
}
