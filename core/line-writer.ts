/**
 * Buffered, asynchronous writing of log lines to a file descriptor, for the access log and
 * file-logger. Lines gather in memory and go out in chunks of `chunkBytes` (or at least every
 * `flushMs`), one write in flight at a time, so a busy gateway makes a few dozen writes a second
 * rather than one per request, and never waits for the disk. Past `maxBufferedBytes` waiting,
 * lines are dropped and counted (design.md: "log sink down: … buffered up to a bound then dropped
 * and counted").
 *
 * Measured on this project's machine (docs/benchmarks.md, Observability): an access line through
 * pino's serializer and sonic-boom cost about 11 µs of CPU, JSON.stringify into this writer 4–5 µs
 * (most of it building and serializing the entry).
 */
import { close as closeFd, mkdirSync, openSync, write as writeFd } from 'node:fs';
import { dirname } from 'node:path';

export interface LineWriterOptions {
  /** Gather this many bytes before writing (64 KiB). */
  chunkBytes?: number;
  /** Write what is gathered at least this often, milliseconds (1000). */
  flushMs?: number;
  /** Bytes that may wait (gathered or being written) before lines are dropped (16 MiB). */
  maxBufferedBytes?: number;
  /** Close the descriptor on `close()` (not for stdout). */
  ownsFd?: boolean;
  /**
   * Largest single write, in whole lines (a longer line is written alone). For stdout: a pipe
   * write of at most 4096 bytes (PIPE_BUF) is atomic, so lines never interleave with what the
   * gateway's own log writes to the same descriptor.
   */
  maxWriteBytes?: number;
  /** Lines dropped: the buffer was full, or a write failed. */
  onDrop?(lines: number): void;
  /** A write failed (other than "try again"); its lines are dropped. */
  onError?(err: NodeJS.ErrnoException): void;
}

const RETRY_AGAIN_MS = 10;

/** Writers of files opened by path, which reopenLogFiles() reopens. */
const openFiles = new Set<LineWriter>();

/**
 * A writer appending to the file at `path` (its directory is created), which can be reopened at
 * the same path: after logrotate has moved the file away, the next lines go to a new file instead
 * of following the old one. Throws when the file cannot be opened.
 */
export function openLogFile(path: string, options: Omit<LineWriterOptions, 'ownsFd'> = {}): LineWriter {
  return new LineWriter(openAppend(path), { ...options, ownsFd: true }, path);
}

/**
 * Reopens every file opened through openLogFile, in this process (what SIGHUP and SIGUSR1 ask for,
 * as with nginx). Lines already gathered go to the new file; a file that cannot be reopened keeps
 * its old descriptor and is reported.
 */
export function reopenLogFiles(): { reopened: string[]; failed: Array<{ path: string; error: string }> } {
  const reopened: string[] = [];
  const failed: Array<{ path: string; error: string }> = [];
  for (const writer of openFiles) {
    try {
      writer.reopen();
      reopened.push(writer.path!);
    } catch (err) {
      failed.push({ path: writer.path!, error: (err as Error).message });
    }
  }
  return { reopened, failed };
}

function openAppend(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, 'a');
}

export class LineWriter {
  private readonly chunkBytes: number;
  private readonly maxBufferedBytes: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private inFlightBytes = 0;
  private writing = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];
  /** A reopened file's descriptor, taken up once the write in flight is done. */
  private nextFd?: number;

  constructor(
    private fd: number,
    private readonly options: LineWriterOptions = {},
    /** Set for a file opened by path (openLogFile): the writer can reopen it. */
    readonly path?: string,
  ) {
    this.chunkBytes = options.chunkBytes ?? 64 * 1024;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 1000);
    this.timer.unref();
    if (path !== undefined) openFiles.add(this);
  }

  /** Opens `path` again; the old descriptor is closed once no write uses it. Throws when it cannot. */
  reopen(): void {
    if (this.path === undefined || this.closed) return;
    const fd = openAppend(this.path);
    if (this.nextFd !== undefined) closeFd(this.nextFd, ignore);
    this.nextFd = fd;
    if (!this.writing) this.takeNextFd();
  }

  /** Queues one line (with its newline). Never throws, never waits. */
  write(line: string): void {
    if (this.closed || this.pendingBytes + this.inFlightBytes + line.length > this.maxBufferedBytes) {
      this.options.onDrop?.(1);
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.chunkBytes) this.flush();
  }

  /** Starts writing what is gathered (unless a write is already in flight; it follows then). */
  flush(): void {
    if (this.writing) return;
    this.takeNextFd();
    if (this.pending.length === 0) return;
    let taken = this.pending;
    let bytes = this.pendingBytes;
    const limit = this.options.maxWriteBytes;
    if (limit !== undefined && bytes > limit) {
      let count = 0;
      bytes = 0;
      while (count < this.pending.length && (count === 0 || bytes + this.pending[count].length <= limit)) bytes += this.pending[count++].length;
      taken = this.pending.slice(0, count);
      this.pending = this.pending.slice(count);
    } else {
      this.pending = [];
    }
    this.pendingBytes -= bytes;
    this.inFlightBytes = bytes;
    this.writing = true;
    this.writeChunk(Buffer.from(taken.length === 1 ? taken[0] : taken.join('')), 0, taken.length);
  }

  /** Writes everything gathered, then closes the descriptor if it is ours. Later lines are dropped. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    while (this.writing || this.pending.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      this.flush();
    }
    if (this.closed) return;
    this.closed = true;
    openFiles.delete(this);
    this.takeNextFd();
    if (this.options.ownsFd) await new Promise<void>((resolve) => closeFd(this.fd, () => resolve()));
  }

  private takeNextFd(): void {
    if (this.nextFd === undefined) return;
    const old = this.fd;
    this.fd = this.nextFd;
    this.nextFd = undefined;
    if (this.options.ownsFd) closeFd(old, ignore);
  }

  private writeChunk(chunk: Buffer, offset: number, lines: number): void {
    writeFd(this.fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (err) {
        // A non-blocking pipe (stdout to a slow reader) that is full: try again shortly.
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeChunk(chunk, offset, lines), RETRY_AGAIN_MS).unref();
          return;
        }
        this.options.onError?.(err);
        this.options.onDrop?.(lines);
      } else if (offset + written < chunk.length) {
        this.writeChunk(chunk, offset + written, lines);
        return;
      }
      this.writing = false;
      this.inFlightBytes = 0;
      this.takeNextFd();
      // What a size-limited write left behind goes next, not at the next tick of the timer.
      if (this.pendingBytes >= this.chunkBytes || (this.options.maxWriteBytes !== undefined && this.pendingBytes > this.options.maxWriteBytes)) this.flush();
      for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }
}

function ignore(): void {}
