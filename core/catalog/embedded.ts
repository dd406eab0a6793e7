/**
 * The embedded catalog: zero setup, one node. State is kept in memory and persisted as an
 * append-only change log (change-log.ts: one fsync'd JSON line per write, torn tails cut) that is
 * compacted into a snapshot file with write → fsync → rename. Every line carries its revision, so
 * replaying a log over a newer snapshot is harmless. A write is acknowledged only once its line is
 * on disk; one the disk refuses fails with CatalogUnavailableError (the Admin API answers 503) and
 * changes nothing. A record written with a ttl carries when it expires; a timer deletes it then
 * (or at the next start, if the gateway was down), through the same log.
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import type { PeerLink } from '../workers/worker-link.js';
import { ChangeLog, syncDirectory, type LogLine } from './change-log.js';
import { findClaimHolder } from './claims.js';
import { ExpiryWatch } from './expiry.js';
import { findDependents, findMissing, findReferrer } from './references.js';
import { CatalogEventListeners, ChangeEmitter, Snapshot, highestNumericId, nowSeconds, stamp } from './snapshot.js';
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
} from './types.js';

interface SnapshotFile {
  revision: number;
  resources: Partial<Record<ResourceKind, Record<string, CatalogRecord>>>;
}

export interface EmbeddedCatalogOptions {
  file: string;
  logger: Logger;
  /** Log lines after which the log is folded into the snapshot file. */
  compactEvery?: number;
  /** Values at most one record may hold (consumers' credentials); checked inside the write step. */
  claims?: ClaimsOf;
  /** References between records (a route's upstream_id); checked inside the write step. */
  references?: ReferencesOf;
  /** Records deleted with the record they refer to (a consumer's credentials). */
  cascades?: Cascades;
  /**
   * The other workers of this node (gateway.workers above 1), which follow this writer's files
   * (embedded-follower.ts): told each revision it acknowledges, and each catalog event.
   */
  peers?: PeerLink;
}

export class EmbeddedCatalog implements Catalog {
  readonly backend = 'embedded' as const;
  private current = Snapshot.empty();
  private readonly emitter: ChangeEmitter;
  private log?: ChangeLog;
  private logLines = 0;
  /** Why the last write failed on disk; cleared by the next write that succeeds. */
  private lastError?: string;
  private syncErrors = 0;
  private idCounter = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly logFile: string;
  private closed = false;
  private readonly eventListeners = new CatalogEventListeners();
  private readonly expiry: ExpiryWatch;
  private readonly stopPeers?: () => void;

  constructor(private readonly options: EmbeddedCatalogOptions) {
    this.logFile = `${options.file}.log`;
    this.emitter = new ChangeEmitter((err) => options.logger.error({ err }, 'catalog change listener failed'));
    this.expiry = new ExpiryWatch(() => this.expire(), 1000, (err) => options.logger.error({ err }, 'catalog expiry failed; retrying'));
    this.stopPeers = options.peers?.subscribe('catalog-event', (body) => {
      const event = (body as { event?: CatalogEvent } | undefined)?.event;
      if (event === 'plugins-reload') this.eventListeners.emit(event);
    });
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.options.file), { recursive: true });
    const opened = await ChangeLog.open(this.logFile, this.options.logger);
    this.log = opened.log;
    this.current = replay(readSnapshotFile(this.options.file), opened.lines);
    this.logLines = opened.lines.length;
    this.idCounter = Math.max(this.current.revision, highestNumericId(this.current));
    // A repaired log still holds the damage; folding it into the snapshot leaves a clean file.
    if (opened.repaired) await this.compact().catch((err: Error) => this.options.logger.error({ err }, 'catalog compaction failed; the change log keeps every write'));
    this.emitter.emit(this.current, 'all');
    this.expiry.reset(this.current);
    this.announce();
  }

  snapshot(): Snapshot {
    return this.current;
  }

  put(kind: ResourceKind, id: string, value: Record<string, unknown>, options: PutOptions = {}): Promise<PutResult> {
    return this.serialized(async () => {
      // Writes run one at a time, so nothing can take a claim, or delete what this record refers
      // to, between these checks and the append.
      const missing = this.options.references && findMissing(this.current, this.options.references(kind, value, id));
      if (missing) throw new CatalogReferenceError(missing);
      const claimsOf = this.options.claims;
      const taken = claimsOf && findClaimHolder(this.current, kind, id, claimsOf(kind, value), claimsOf);
      if (taken) throw new CatalogConflictError(kind, taken.claim, taken.holder);
      const previous = this.current.get(kind, id);
      const revision = this.current.revision + 1;
      const now = nowSeconds();
      const createTime = options.times?.create_time ?? (previous?.value.create_time as number | undefined) ?? now;
      const record: CatalogRecord = {
        value: UNTIMED_KINDS.has(kind) ? value : stamp(value, createTime, options.times?.update_time ?? now),
        createdIndex: previous?.createdIndex ?? revision,
        modifiedIndex: revision,
        ...(options.ttl === undefined ? {} : { expiresAt: Date.now() + Math.ceil(options.ttl * 1000) }),
      };
      await this.append({ rev: revision, kind, id, record });
      this.apply(kind, id, record, revision);
      this.announce();
      await this.compactIfDue();
      return { record, created: previous === undefined };
    });
  }

  delete(kind: ResourceKind, id: string, options: DeleteOptions = {}): Promise<CatalogRecord | undefined> {
    return this.serialized(async () => {
      const previous = this.current.get(kind, id);
      if (!previous) return undefined;
      const references = this.options.references;
      const user = !options.force && references && findReferrer(this.current, kind, id, references, this.options.cascades?.[kind]);
      if (user) throw new CatalogInUseError({ kind, id }, user);
      await this.remove([{ kind, id }]);
      return previous;
    });
  }

  /** Deletes the records whose ttl ran out, as a forced delete would. */
  private expire(): Promise<void> {
    return this.serialized(async () => {
      const now = Date.now();
      const due = this.expiry.due(now).filter((ref) => (this.current.get(ref.kind, ref.id)?.expiresAt ?? Infinity) <= now);
      if (due.length > 0) await this.remove(due);
    });
  }

  /**
   * Deletes records and their dependents in one append: dependents first, so a crash between
   * lines leaves them gone and their owner still there.
   */
  private async remove(targets: readonly RecordRef[]): Promise<void> {
    const references = this.options.references;
    const gone = new Map<string, RecordRef>();
    const add = (ref: RecordRef) => {
      if (this.current.get(ref.kind, ref.id)) gone.set(`${ref.kind}\u0000${ref.id}`, ref);
    };
    for (const target of targets) {
      const dependentKinds = this.options.cascades?.[target.kind] ?? [];
      if (references) findDependents(this.current, target.kind, target.id, references, dependentKinds).forEach(add);
      add(target);
    }
    const lines = [...gone.values()].map((ref, i): LogLine => ({ rev: this.current.revision + 1 + i, kind: ref.kind, id: ref.id, record: null }));
    await this.append(...lines);
    for (const line of lines) this.apply(line.kind, line.id, undefined, line.rev);
    this.announce();
    await this.compactIfDue();
  }

  async nextId(): Promise<string> {
    this.idCounter = Math.max(this.idCounter + 1, this.current.revision + 1);
    return formatGeneratedId(this.idCounter);
  }

  onChange(listener: ChangeListener): () => void {
    return this.emitter.add(listener);
  }

  /** One node: the event is delivered right here, and to the other workers if there are any. */
  async broadcast(event: CatalogEvent): Promise<void> {
    this.options.peers?.publish('catalog-event', { event });
    this.eventListeners.emit(event);
  }

  onBroadcast(listener: (event: CatalogEvent) => void): () => void {
    return this.eventListeners.add(listener);
  }

  health(): CatalogHealth {
    return {
      loaded: this.log !== undefined,
      connected: !this.closed && this.lastError === undefined,
      revision: this.current.revision,
      lastError: this.lastError,
      syncErrors: this.syncErrors,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.expiry.close();
    this.stopPeers?.();
    await this.queue.catch(() => {});
    await this.log?.close();
    this.log = undefined;
  }

  /** Followers read the files up to what is acknowledged; retained, so a worker started later learns it too. */
  private announce(): void {
    this.options.peers?.publish('catalog', { revision: this.current.revision }, true);
  }

  private apply(kind: ResourceKind, id: string, record: CatalogRecord | undefined, revision: number): void {
    this.current = this.current.with({ kind, id, record }, revision);
    this.expiry.track(kind, id, record);
    this.emitter.emit(this.current, [{ kind, id, record }]);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed || !this.log) throw new Error('catalog is closed');
      return work();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async append(...lines: LogLine[]): Promise<void> {
    try {
      await this.log!.append(...lines);
    } catch (err) {
      this.syncErrors += 1;
      const message = `cannot write ${this.logFile}: ${(err as Error).message}`;
      if (this.lastError === undefined) this.options.logger.error({ err }, 'catalog write refused by the disk; serving the last snapshot');
      this.lastError = message;
      throw new CatalogUnavailableError(`catalog store unavailable: ${message}`);
    }
    if (this.lastError !== undefined) this.options.logger.info({ file: this.logFile }, 'catalog writes reach the disk again');
    this.lastError = undefined;
    this.logLines += lines.length;
  }

  /**
   * Folds the log into the snapshot file once it is long enough (after the change is applied and
   * acknowledged). A failure here loses nothing, as the log still holds every line, so it is
   * logged and tried again after the next write instead of failing this one.
   */
  private async compactIfDue(): Promise<void> {
    if (this.logLines < (this.options.compactEvery ?? 1000)) return;
    await this.compact().catch((err: Error) => this.options.logger.error({ err }, 'catalog compaction failed; the change log keeps every write'));
  }

  private async compact(): Promise<void> {
    const body: SnapshotFile = { revision: this.current.revision, resources: this.current.toJSON() };
    const tmp = `${this.options.file}.tmp`;
    try {
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(JSON.stringify(body));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.options.file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
    await syncDirectory(dirname(this.options.file));
    await this.log!.clear();
    this.logLines = 0;
  }

}

/** The snapshot file, or an empty catalog when there is none yet. */
export function readSnapshotFile(file: string): Snapshot {
  if (!existsSync(file)) return Snapshot.empty();
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as SnapshotFile;
  const entries: Partial<Record<ResourceKind, Array<[string, CatalogRecord]>>> = {};
  for (const kind of RESOURCE_KINDS) entries[kind] = Object.entries(parsed.resources[kind] ?? {});
  return Snapshot.fromEntries(parsed.revision, entries);
}

export function replay(snapshot: Snapshot, lines: readonly LogLine[]): Snapshot {
  let out = snapshot;
  for (const line of lines) {
    if (line.rev > out.revision) out = out.with({ kind: line.kind, id: line.id, record: line.record ?? undefined }, line.rev);
  }
  return out;
}
