/**
 * The embedded catalog's append-only change log: one JSON line per write, fsync'd before the write
 * is acknowledged. A line counts only when it is whole and ends in a newline.
 *
 * What can go wrong on disk and what this file does about it (issue 10, item 13):
 * - A crash or a full disk mid-append leaves a torn last line. Appending after it would glue the
 *   next line onto the fragment and hide every later write from the next start, so `open` cuts
 *   the torn tail (logged with byte counts) and fsyncs before anything is appended.
 * - A write the disk refuses (ENOSPC, EFBIG, EIO, a failed fsync) is cut back the same way before
 *   the error reaches the caller, so the file always holds exactly the acknowledged lines. If even
 *   that cut fails, the next append retries it first.
 * - Logs written by an older version may hold a fragment with later lines glued to it; those
 *   lines are recovered, and the caller is told to rewrite the log (`repaired`).
 * Writes are positional (never O_APPEND, which Linux lets override the offset), at the end of the
 * known-good bytes.
 */
import { constants, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';
import { RESOURCE_KINDS, type CatalogRecord, type ResourceKind } from './types.js';

export interface LogLine {
  rev: number;
  kind: ResourceKind;
  id: string;
  record: CatalogRecord | null;
}

const NEWLINE = 0x0a;
/** Every line starts like this (JSON.stringify of a LogLine), which is how a glued line is found. */
const LINE_START = '{"rev":';

export interface OpenedLog {
  log: ChangeLog;
  lines: LogLine[];
  /** Lines had to be recovered from the middle of the file: rewrite it (compact) soon. */
  repaired: boolean;
}

export class ChangeLog {
  /** Bytes of whole, acknowledged lines; the next line is written here. */
  private size: number;
  /** A failed append left bytes after `size` that could not be cut yet. */
  private dirty = false;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    size: number,
  ) {
    this.size = size;
  }

  /** Reads every whole line, cuts a torn tail (fsync'd) and opens the file for appending. */
  static async open(file: string, logger: Logger): Promise<OpenedLog> {
    const existing = readIfExists(file);
    const scanned = scan(existing ?? Buffer.alloc(0), file, logger);
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    const log = new ChangeLog(file, handle, scanned.goodBytes);
    // A new file's directory entry must be durable before its first line is acknowledged.
    if (!existing) await syncDirectory(dirname(file));
    if (scanned.tornBytes > 0) {
      await log.cutTo(scanned.goodBytes);
      logger.warn(
        { file, cut_bytes: scanned.tornBytes, kept_bytes: scanned.goodBytes, kept_lines: scanned.lines.length },
        'catalog log: cut a torn tail (an append that never completed, so never acknowledged)',
      );
    }
    return { log, lines: scanned.lines, repaired: scanned.repaired };
  }

  /**
   * Writes and fsyncs lines (one write step: a record and the records deleted with it); on any
   * failure they are cut again and the error thrown. A crash mid-write keeps the whole lines
   * before the torn one: dependents are written before what they belong to, so what survives is
   * a consistent catalog.
   */
  async append(...lines: LogLine[]): Promise<void> {
    if (this.dirty) await this.cutTo(this.size);
    const bytes = Buffer.from(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    try {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, this.size + written);
        written += bytesWritten;
      }
      await this.handle.datasync();
    } catch (err) {
      // After a failed write or fsync the page cache cannot be trusted to hold a whole line.
      await this.cutTo(this.size).catch(() => {});
      throw err;
    }
    this.size += bytes.length;
  }

  /** Empties the log once its lines are folded into a durable snapshot. */
  async clear(): Promise<void> {
    await this.cutTo(0);
    this.size = 0;
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  private async cutTo(size: number): Promise<void> {
    this.dirty = true;
    await this.handle.truncate(size);
    await this.handle.datasync();
    this.dirty = false;
  }
}

interface Scan {
  lines: LogLine[];
  /** Bytes up to and including the last whole line. */
  goodBytes: number;
  tornBytes: number;
  repaired: boolean;
}

function scan(data: Buffer, file: string, logger: Logger): Scan {
  const lines: LogLine[] = [];
  let repaired = false;
  let start = 0;
  for (let end = data.indexOf(NEWLINE); end >= 0; start = end + 1, end = data.indexOf(NEWLINE, start)) {
    const row = data.toString('utf8', start, end);
    if (row === '') continue;
    const parsed = parseLine(row) ?? recoverGlued(row);
    if (parsed) {
      lines.push(parsed.line);
      if (parsed.skippedBytes > 0) {
        repaired = true;
        logger.error({ file, byte: start, skipped_bytes: parsed.skippedBytes, rev: parsed.line.rev }, 'repaired the catalog log: a torn fragment had a later line glued to it');
      }
      continue;
    }
    // Not a torn tail (a newline follows): outside damage. Later lines are acknowledged writes,
    // so they are kept; the damaged line is dropped when the log is rewritten.
    repaired = true;
    logger.error({ file, byte: start, skipped_bytes: end - start }, 'repaired the catalog log: skipped an unreadable line');
  }
  return { lines, goodBytes: start, tornBytes: data.length - start, repaired };
}

/**
 * The whole lines of `data` from byte `from` on, each with the byte after it, for a reader that
 * follows the log without writing it (embedded-follower.ts). An unreadable line is `undefined`.
 */
export function wholeLines(data: Buffer, from = 0): Array<{ line: LogLine | undefined; end: number }> {
  const out: Array<{ line: LogLine | undefined; end: number }> = [];
  for (let start = from, end = data.indexOf(NEWLINE, start); end >= 0; start = end + 1, end = data.indexOf(NEWLINE, start)) {
    if (end === start) continue;
    out.push({ line: parseLine(data.toString('utf8', start, end))?.line, end: end + 1 });
  }
  return out;
}

type Parsed = { line: LogLine; skippedBytes: number };

function parseLine(row: string): Parsed | undefined {
  try {
    const value = JSON.parse(row) as unknown;
    return isLogLine(value) ? { line: value, skippedBytes: 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** A fragment followed by a whole line: the whole line is the first suffix that parses. */
function recoverGlued(row: string): Parsed | undefined {
  for (let at = row.indexOf(LINE_START, 1); at > 0; at = row.indexOf(LINE_START, at + 1)) {
    const parsed = parseLine(row.slice(at));
    if (parsed) return { line: parsed.line, skippedBytes: Buffer.byteLength(row.slice(0, at)) };
  }
  return undefined;
}

function isLogLine(value: unknown): value is LogLine {
  if (typeof value !== 'object' || value === null) return false;
  const line = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(line.rev) &&
    (line.rev as number) > 0 &&
    RESOURCE_KINDS.includes(line.kind as ResourceKind) &&
    typeof line.id === 'string' &&
    (line.record === null || (typeof line.record === 'object' && line.record !== undefined))
  );
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Makes a rename or a new file in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
