/**
 * Children start through one gateway-wide queue (issue 10, item 17). A burst of connects used to
 * spawn every child at once: 200 node processes on two cores each took seconds of CPU to load,
 * and an `init_timeout` that counted that wait failed most of them. Now at most
 * `mcp.start_concurrency` children are starting at a time (spawned and not yet through
 * `initialize`), a child is spawned only when it gets its turn, and its `init_timeout` runs from
 * its own spawn. Up to `mcp.start_queue` sessions wait for a turn; one more gets 503 +
 * Retry-After. A turn also needs a free process slot (`mcp.max_children`, stopping children
 * included), so a session admitted by reclaiming an idle one waits here for that child to go.
 */
import { RETRY_AFTER_SECONDS, mcpHttpError } from './jsonrpc.js';
import { MCP_ERRORS } from './errors.js';

/** A granted turn: `release()` when the child's start is over (answered, failed, or timed out). */
export interface StartTurn {
  release(): void;
}

interface Waiter {
  grant(): void;
}

export class StartQueue {
  private starting = 0;
  private processes = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly depth: number,
    private readonly maxProcesses: number,
  ) {}

  /** Children spawned and not yet gone (running or stopping). */
  get liveProcesses(): number {
    return this.processes;
  }

  /** Sessions waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a turn (a start slot and a process slot, both taken) once there is one; rejects
   * with 503 when `depth` sessions already wait, or with `signal`'s reason when it aborts first.
   */
  admit(signal: AbortSignal): Promise<StartTurn> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.waiting.length === 0 && this.canStart()) return Promise.resolve(this.take());
    if (this.waiting.length >= this.depth) {
      return Promise.reject(
        mcpHttpError(MCP_ERRORS.GW_MCP_START_QUEUE_FULL, `${this.depth} MCP servers are already waiting to start (mcp.start_queue)`, {
          retryAfter: RETRY_AFTER_SECONDS,
        }),
      );
    }
    return new Promise<StartTurn>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take());
        },
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** A child's process is gone (exited and reaped, or never spawned): its slot is free. */
  processGone(): void {
    this.processes = Math.max(0, this.processes - 1);
    this.pump();
  }

  private canStart(): boolean {
    return this.starting < this.concurrency && this.processes < this.maxProcesses;
  }

  private take(): StartTurn {
    this.starting += 1;
    this.processes += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.starting -= 1;
        this.pump();
      },
    };
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.canStart()) this.waiting.shift()!.grant();
  }
}
