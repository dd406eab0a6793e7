/**
 * APISIX's batch processor, for log sinks that send entries somewhere (http-logger): entries are
 * grouped into batches of `batchMaxSize`, a batch goes out when it is full, when no entry arrived
 * for `inactiveTimeoutMs`, or when its first entry is `bufferDurationMs` old. A failed send is
 * retried up to `maxRetryCount` times, waiting `retryDelayMs`, doubling each time (capped at 60 s);
 * then the batch is dropped and counted.
 *
 * A batch goes out as soon as it is sealed, while fewer than `maxConcurrentBatches` are being
 * sent (APISIX sends every batch at once, without a bound). Sending one batch at a time made
 * every entry wait for the sends before it: with `batch_max_size: 1` and a collector answering
 * in 20 ms, 200 requests took 4 s to reach it, and a collector answering in 1 s delivered one
 * entry a second. The bound keeps a dead collector to a few connection attempts at a time, not
 * one per request. Batches sent at once may reach the collector in any order.
 *
 * The request path only ever calls `push`, which never waits and never throws: while the sink is
 * down or slow, entries wait up to `maxPendingEntries` in all (current batch, batches waiting,
 * those being sent); past that new entries are dropped and counted (design.md: "log sink down:
 * requests are unaffected; logs are buffered up to a bound then dropped and counted").
 */

export interface BatchOptions {
  batchMaxSize: number;
  inactiveTimeoutMs: number;
  bufferDurationMs: number;
  maxRetryCount: number;
  retryDelayMs: number;
  maxPendingEntries: number;
  /** Batches being sent at the same time, at most; a sealed batch waits only for this bound. */
  maxConcurrentBatches: number;
}

export type DropReason = 'buffer_full' | 'send_failed' | 'shutdown';

export interface BatchEvents {
  sent?(entries: number): void;
  /** One failed attempt; `final` when the batch is dropped after it. */
  failed?(err: unknown, attempt: number, final: boolean): void;
  dropped?(entries: number, reason: DropReason): void;
}

/** Sends one batch; rejects on failure. `signal` aborts when the processor is closed. */
export type SendBatch<T> = (entries: T[], signal: AbortSignal) => Promise<void>;

const MAX_BACKOFF_MS = 60_000;

export class BatchProcessor<T> {
  private current: T[] = [];
  private readonly ready: T[][] = [];
  /** Entries in the batches being sent. */
  private inFlight = 0;
  /** Batches being sent (retry delays included). */
  private sending = 0;
  private inactiveTimer?: NodeJS.Timeout;
  private durationTimer?: NodeJS.Timeout;
  /** Wakes each batch waiting out a retry delay. */
  private readonly backoffs = new Set<() => void>();
  private readonly controller = new AbortController();
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly options: BatchOptions,
    private readonly send: SendBatch<T>,
    private readonly events: BatchEvents = {},
  ) {}

  /** Entries waiting or being sent. */
  get pending(): number {
    let total = this.current.length + this.inFlight;
    for (const batch of this.ready) total += batch.length;
    return total;
  }

  /** Adds an entry; false when it was dropped (buffer full, or closed). Never throws, never waits. */
  push(entry: T): boolean {
    if (this.closed) {
      this.events.dropped?.(1, 'shutdown');
      return false;
    }
    if (this.pending >= this.options.maxPendingEntries) {
      this.events.dropped?.(1, 'buffer_full');
      return false;
    }
    if (this.current.length === 0) {
      this.durationTimer = unref(setTimeout(() => this.seal(), this.options.bufferDurationMs));
    }
    this.current.push(entry);
    if (this.current.length >= this.options.batchMaxSize) {
      this.seal();
    } else if (this.inactiveTimer) {
      this.inactiveTimer.refresh();
    } else {
      this.inactiveTimer = unref(setTimeout(() => this.seal(), this.options.inactiveTimeoutMs));
    }
    return true;
  }

  /** Sends what is buffered now, without waiting for the batch to fill. */
  flush(): void {
    this.seal();
  }

  /** Resolves when nothing is waiting or being sent. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Sends what is left, giving it up to `deadlineMs` (retries included), then aborts a send in
   * progress and drops the rest (counted). Later pushes are dropped.
   */
  async close(deadlineMs: number): Promise<void> {
    if (this.closed) return this.idle();
    this.seal();
    // A batch waiting out a retry delay is tried again now rather than after the delay.
    this.wakeBackoffs();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
    clearTimeout(timer);
    this.closed = true;
    const left = this.ready.splice(0).reduce((sum, batch) => sum + batch.length, 0);
    if (left > 0) this.events.dropped?.(left, 'shutdown');
    this.controller.abort(new Error('log sink closed'));
    this.wakeBackoffs();
    await this.idle();
  }

  private seal(): void {
    clearTimeout(this.inactiveTimer);
    clearTimeout(this.durationTimer);
    this.inactiveTimer = undefined;
    this.durationTimer = undefined;
    if (this.current.length === 0) return;
    this.ready.push(this.current);
    this.current = [];
    this.pump();
  }

  private pump(): void {
    while (this.ready.length > 0 && this.sending < this.options.maxConcurrentBatches) {
      const batch = this.ready.shift()!;
      this.sending += 1;
      this.inFlight += batch.length;
      const done = () => {
        this.sending -= 1;
        this.inFlight -= batch.length;
        this.pump();
        if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      };
      // deliver never rejects unless an event callback throws; either way this batch is over.
      this.deliver(batch).then(done, done);
    }
  }

  private async deliver(batch: T[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.controller.signal.aborted) {
        this.events.dropped?.(batch.length, 'shutdown');
        return;
      }
      try {
        await this.send(batch, this.controller.signal);
        this.events.sent?.(batch.length);
        return;
      } catch (err) {
        const final = attempt >= this.options.maxRetryCount || this.controller.signal.aborted;
        this.events.failed?.(err, attempt, final);
        if (final) {
          this.events.dropped?.(batch.length, this.controller.signal.aborted ? 'shutdown' : 'send_failed');
          return;
        }
        await this.wait(Math.min(this.options.retryDelayMs * 2 ** attempt, MAX_BACKOFF_MS));
      }
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.backoffs.delete(wake);
        resolve();
      };
      const timer = unref(setTimeout(wake, ms));
      this.backoffs.add(wake);
    });
  }

  private wakeBackoffs(): void {
    for (const wake of [...this.backoffs]) wake();
  }
}

/** Timers that must not keep a process alive on their own (the gateway's shutdown flushes instead). */
function unref(timer: NodeJS.Timeout): NodeJS.Timeout {
  timer.unref();
  return timer;
}
