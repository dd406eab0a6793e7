/**
 * The embedded catalog as the other workers of a node see it (gateway.workers above 1): one
 * worker writes the files (embedded.ts, the one serving the Admin API); every other worker follows
 * them read-only. The writer announces each revision it acknowledges over IPC (through the
 * primary, retained for workers that start later), and the follower then reads the change log's
 * new whole lines from where it stopped; a timer checks the files too, in case an announcement
 * was missed. Lines are applied in revision order. Whenever the files no longer continue what the
 * follower applied — the writer folded its log into a new snapshot file (compaction), a line is
 * out of sequence — it reads the snapshot and the log again, as the writer does when it starts.
 *
 * Compaction writes the snapshot (rename) before it empties the log, so a reload that sees the
 * same snapshot file before and after reading the log holds a consistent pair.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { Logger } from '../logger.js';
import type { PeerLink } from '../workers/worker-link.js';
import { wholeLines } from './change-log.js';
import { readSnapshotFile, replay } from './embedded.js';
import { CatalogEventListeners, ChangeEmitter, Snapshot } from './snapshot.js';
import {
  CatalogUnavailableError,
  type Catalog,
  type CatalogChange,
  type CatalogEvent,
  type CatalogHealth,
  type CatalogRecord,
  type ChangeListener,
  type PutResult,
  type ResourceKind,
} from './types.js';

export interface EmbeddedFollowerOptions {
  /** The writer's snapshot file (its change log is `<file>.log`). */
  file: string;
  logger: Logger;
  peers: PeerLink;
  /** Milliseconds between checks of the files, a safety net under the writer's announcements. */
  pollMs: number;
}

const READ_ONLY =
  'this worker follows the embedded catalog; writes go through the Admin API, served by worker 1 (gateway.workers, docs/deployment.md)';
/** Reloads that keep seeing the snapshot file replaced under them give up until the next check. */
const RELOAD_ATTEMPTS = 5;
const CATALOG_EVENTS: readonly CatalogEvent[] = ['plugins-reload'];

export class EmbeddedFollower implements Catalog {
  readonly backend = 'embedded' as const;
  private current = Snapshot.empty();
  /** Bytes of the change log applied so far (always the end of a whole line). */
  private offset = 0;
  /** The snapshot file the log continues (inode, size, mtime): a new one means a compaction. */
  private snapshotIdentity = '';
  private loaded = false;
  private closed = false;
  private lastError?: string;
  private syncErrors = 0;
  private timer?: NodeJS.Timeout;
  private readonly logFile: string;
  private readonly emitter: ChangeEmitter;
  private readonly eventListeners = new CatalogEventListeners();
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly options: EmbeddedFollowerOptions) {
    this.logFile = `${options.file}.log`;
    this.emitter = new ChangeEmitter((err) => options.logger.error({ err }, 'catalog change listener failed'));
  }

  async start(): Promise<void> {
    const { peers } = this.options;
    this.unsubscribe.push(
      peers.subscribe('catalog', (body) => this.follow((body as { revision?: number } | undefined)?.revision)),
      peers.subscribe('catalog-event', (body) => {
        const event = (body as { event?: CatalogEvent } | undefined)?.event;
        if (event && CATALOG_EVENTS.includes(event)) this.eventListeners.emit(event);
      }),
    );
    // A worker may start before the writer has created the files: it follows them once they exist.
    this.follow();
    this.loaded = true;
    this.emitter.emit(this.current, 'all');
    this.timer = setInterval(() => this.follow(), this.options.pollMs);
    this.timer.unref();
  }

  snapshot(): Snapshot {
    return this.current;
  }

  put(_kind: ResourceKind, _id: string, _value: Record<string, unknown>): Promise<PutResult> {
    return Promise.reject(new CatalogUnavailableError(READ_ONLY));
  }

  delete(_kind: ResourceKind, _id: string): Promise<CatalogRecord | undefined> {
    return Promise.reject(new CatalogUnavailableError(READ_ONLY));
  }

  nextId(): Promise<string> {
    return Promise.reject(new CatalogUnavailableError(READ_ONLY));
  }

  onChange(listener: ChangeListener): () => void {
    return this.emitter.add(listener);
  }

  async broadcast(event: CatalogEvent): Promise<void> {
    this.options.peers.publish('catalog-event', { event });
    this.eventListeners.emit(event);
  }

  onBroadcast(listener: (event: CatalogEvent) => void): () => void {
    return this.eventListeners.add(listener);
  }

  health(): CatalogHealth {
    return {
      loaded: this.loaded,
      connected: !this.closed && this.lastError === undefined,
      revision: this.current.revision,
      lastError: this.lastError,
      syncErrors: this.syncErrors,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const stop of this.unsubscribe) stop();
  }

  /** Catches up with the files; `announced` is a revision the writer acknowledged. */
  private follow(announced?: number): void {
    if (this.closed || (announced !== undefined && announced <= this.current.revision)) return;
    try {
      if (!this.readNewLines()) this.reload();
      if (this.lastError !== undefined) this.options.logger.info({ revision: this.current.revision }, 'catalog files readable again');
      this.lastError = undefined;
    } catch (err) {
      if (this.lastError === undefined) this.options.logger.error({ err }, 'cannot read the catalog files; serving the last snapshot');
      this.lastError = (err as Error).message;
      this.syncErrors += 1;
    }
  }

  /** Applies the log's new lines; false when they do not continue what was applied. */
  private readNewLines(): boolean {
    if (identity(this.options.file) !== this.snapshotIdentity) return false;
    const data = readFrom(this.logFile, this.offset);
    if (data === undefined) return false;
    let next = this.current;
    let offset = this.offset;
    const changes: CatalogChange[] = [];
    for (const { line, end } of wholeLines(data)) {
      // An unreadable line was damaged outside the gateway: the writer skips it too when it loads.
      if (line && line.rev > next.revision) {
        if (line.rev !== next.revision + 1) return false;
        const change = { kind: line.kind, id: line.id, record: line.record ?? undefined };
        next = next.with(change, line.rev);
        changes.push(change);
      }
      offset = this.offset + end;
    }
    // Compacted while the log was read: what was read may belong to the next log.
    if (identity(this.options.file) !== this.snapshotIdentity) return false;
    this.offset = offset;
    if (changes.length === 0) return true;
    this.current = next;
    this.emitter.emit(this.current, changes);
    return true;
  }

  /** Reads the snapshot file and the whole log, as the writer does when it starts. */
  private reload(): void {
    for (let attempt = 1; ; attempt++) {
      const before = identity(this.options.file);
      const snapshot = readSnapshotFile(this.options.file);
      const data = readFrom(this.logFile, 0) ?? Buffer.alloc(0);
      if (identity(this.options.file) !== before) {
        if (attempt < RELOAD_ATTEMPTS) continue;
        throw new Error('the catalog snapshot file kept changing while it was read');
      }
      const lines = wholeLines(data);
      const next = replay(snapshot, lines.flatMap(({ line }) => (line ? [line] : [])));
      this.snapshotIdentity = before;
      this.offset = lines.at(-1)?.end ?? 0;
      const changed = next.revision !== this.current.revision || this.loaded === false;
      this.current = next;
      if (changed && this.loaded) this.emitter.emit(this.current, 'all');
      return;
    }
  }
}

/** Names one version of a file: a rename (compaction) changes the inode, a rewrite the size or time. */
function identity(file: string): string {
  try {
    const stat = statSync(file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw err;
  }
}

/** The file's bytes from `offset` on; undefined when it is shorter than that (emptied by a compaction). */
function readFrom(file: string, offset: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return offset === 0 ? Buffer.alloc(0) : undefined;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < offset) return undefined;
    const data = Buffer.alloc(size - offset);
    let read = 0;
    while (read < data.length) {
      const n = readSync(fd, data, read, data.length - read, offset + read);
      if (n === 0) break;
      read += n;
    }
    return data.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
