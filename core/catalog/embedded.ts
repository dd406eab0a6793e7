/**
 * The embedded catalog: zero setup, one node. State is kept in memory and persisted as an
 * append-only change log (one fsync'd JSON line per write) that is compacted into a snapshot file
 * with write → fsync → rename. A torn last line (power loss mid-write) is ignored on load; every
 * line carries its revision, so replaying a log over a newer snapshot is harmless.
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import { ChangeEmitter, Snapshot, nowSeconds, stamp } from './snapshot.js';
import {
  RESOURCE_KINDS,
  formatGeneratedId,
  type Catalog,
  type CatalogEvent,
  type CatalogHealth,
  type CatalogRecord,
  type ChangeListener,
  type PutResult,
  type ResourceKind,
} from './types.js';

interface LogLine {
  rev: number;
  kind: ResourceKind;
  id: string;
  record: CatalogRecord | null;
}

interface SnapshotFile {
  revision: number;
  resources: Partial<Record<ResourceKind, Record<string, CatalogRecord>>>;
}

export interface EmbeddedCatalogOptions {
  file: string;
  logger: Logger;
  /** Log lines after which the log is folded into the snapshot file. */
  compactEvery?: number;
}

export class EmbeddedCatalog implements Catalog {
  readonly backend = 'embedded' as const;
  private current = Snapshot.empty();
  private readonly emitter: ChangeEmitter;
  private log?: FileHandle;
  private logLines = 0;
  private idCounter = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly logFile: string;
  private closed = false;
  private readonly eventListeners = new Set<(event: CatalogEvent) => void>();

  constructor(private readonly options: EmbeddedCatalogOptions) {
    this.logFile = `${options.file}.log`;
    this.emitter = new ChangeEmitter((err) => options.logger.error({ err }, 'catalog change listener failed'));
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.options.file), { recursive: true });
    const loaded = this.load();
    this.current = loaded.snapshot;
    this.logLines = loaded.lines;
    this.idCounter = Math.max(this.current.revision, highestNumericId(this.current));
    this.log = await open(this.logFile, 'a');
    this.emitter.emit(this.current, 'all');
  }

  snapshot(): Snapshot {
    return this.current;
  }

  put(kind: ResourceKind, id: string, value: Record<string, unknown>): Promise<PutResult> {
    return this.serialized(async () => {
      const previous = this.current.get(kind, id);
      const revision = this.current.revision + 1;
      const now = nowSeconds();
      const createTime = (previous?.value.create_time as number | undefined) ?? now;
      const record: CatalogRecord = {
        value: stamp(value, createTime, now),
        createdIndex: previous?.createdIndex ?? revision,
        modifiedIndex: revision,
      };
      await this.append({ rev: revision, kind, id, record });
      this.apply(kind, id, record, revision);
      await this.compactIfDue();
      return { record, created: previous === undefined };
    });
  }

  delete(kind: ResourceKind, id: string): Promise<CatalogRecord | undefined> {
    return this.serialized(async () => {
      const previous = this.current.get(kind, id);
      if (!previous) return undefined;
      const revision = this.current.revision + 1;
      await this.append({ rev: revision, kind, id, record: null });
      this.apply(kind, id, undefined, revision);
      await this.compactIfDue();
      return previous;
    });
  }

  async nextId(): Promise<string> {
    this.idCounter = Math.max(this.idCounter + 1, this.current.revision + 1);
    return formatGeneratedId(this.idCounter);
  }

  onChange(listener: ChangeListener): () => void {
    return this.emitter.add(listener);
  }

  /** One node: the event is delivered right here. */
  async broadcast(event: CatalogEvent): Promise<void> {
    for (const listener of this.eventListeners) listener(event);
  }

  onBroadcast(listener: (event: CatalogEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  health(): CatalogHealth {
    return { loaded: this.log !== undefined, connected: !this.closed, revision: this.current.revision };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => {});
    await this.log?.close();
    this.log = undefined;
  }

  private apply(kind: ResourceKind, id: string, record: CatalogRecord | undefined, revision: number): void {
    this.current = this.current.with({ kind, id, record }, revision);
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

  private async append(line: LogLine): Promise<void> {
    const log = this.log!;
    await log.appendFile(`${JSON.stringify(line)}\n`);
    await log.datasync();
    this.logLines += 1;
  }

  /** Folds the log into the snapshot file once it is long enough (after the change is applied). */
  private async compactIfDue(): Promise<void> {
    if (this.logLines < (this.options.compactEvery ?? 1000)) return;
    const body: SnapshotFile = { revision: this.current.revision, resources: this.current.toJSON() };
    const tmp = `${this.options.file}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(JSON.stringify(body));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.options.file);
    await syncDirectory(dirname(this.options.file));
    await this.log!.truncate(0);
    this.logLines = 0;
  }

  private load(): { snapshot: Snapshot; lines: number } {
    let snapshot = Snapshot.empty();
    if (existsSync(this.options.file)) {
      const parsed = JSON.parse(readFileSync(this.options.file, 'utf8')) as SnapshotFile;
      const entries: Partial<Record<ResourceKind, Array<[string, CatalogRecord]>>> = {};
      for (const kind of RESOURCE_KINDS) entries[kind] = Object.entries(parsed.resources[kind] ?? {});
      snapshot = Snapshot.fromEntries(parsed.revision, entries);
    }
    const lines = existsSync(this.logFile) ? readLog(this.logFile, this.options.logger) : [];
    for (const line of lines) {
      if (line.rev > snapshot.revision) {
        snapshot = snapshot.with({ kind: line.kind, id: line.id, record: line.record ?? undefined }, line.rev);
      }
    }
    return { snapshot, lines: lines.length };
  }
}

function readLog(file: string, logger?: Logger): LogLine[] {
  const text = readFileSync(file, 'utf8');
  const out: LogLine[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!row) continue;
    try {
      out.push(JSON.parse(row) as LogLine);
    } catch {
      // Only the last line can be torn by a crash mid-append; anything else is corruption.
      if (i < rows.length - 2) logger?.error({ file, line: i + 1 }, 'catalog log line is corrupt; later lines ignored');
      break;
    }
  }
  return out;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function highestNumericId(snapshot: Snapshot): number {
  let max = 0;
  for (const kind of RESOURCE_KINDS) {
    for (const id of snapshot.list(kind).keys()) {
      if (/^\d{1,20}$/.test(id)) max = Math.max(max, Number(id));
    }
  }
  return max;
}

