/**
 * A client request the child has not answered yet. On Streamable HTTP its POST waits in JSON mode
 * (nothing sent) until the first message for it arrives: the response alone is answered as one
 * JSON body, the cheapest reply; anything before it (progress, logging, a sampling request)
 * turns the reply into an SSE stream. On legacy SSE everything goes to the session's one stream.
 */
import type { BatchReply } from './batch-reply.js';
import type { Failure } from './failure.js';
import type { JsonRpcId } from './jsonrpc.js';
import type { Verdict } from './message-filters.js';
import type { Stream } from './streams.js';
import type { ToolCallInfo } from './telemetry.js';

export type Outcome =
  /** The response, as one JSON body; `status` is what the backend outcome counts as (200, 502, 504). */
  | { kind: 'json'; line: string; status: number }
  /** The reply became an SSE stream; the handler attaches the HTTP response to it. */
  | { kind: 'sse'; stream: Stream }
  /**
   * initialize only: the session could not start (HTTP 502/504, no session id handed out).
   * `reason` is the session's end reason (a closed set, for metrics); `failure` what the client reads.
   */
  | { kind: 'failed'; status: 502 | 504; reason: string; failure?: Failure }
  /** The client went away before anything was sent. */
  | { kind: 'gone' };

export interface PendingOptions {
  timeoutMs: number;
  /** Legacy SSE: replies go to the session stream; nobody waits on `outcome`. */
  legacy: boolean;
  /** initialize: a timeout or crash is an HTTP error, not a JSON-RPC error. */
  httpErrors: boolean;
  /**
   * Called once with the backend outcome when the request settles: the status it counts as, and
   * the JSON-RPC error code when the answer was an error.
   */
  report?: (status: number, latencyMs: number, rpcError?: number) => void;
  /** The gateway request that carried this message (for audit records). */
  requestId?: string;
  /** The gateway's own request: what the server sends before its answer (logging) is dropped, so the answer is always JSON. */
  quiet?: boolean;
}

export class PendingRequest {
  readonly startedAt = performance.now();
  readonly outcome: Promise<Outcome>;
  stream?: Stream;
  timer?: NodeJS.Timeout;
  /** Deadline no progress notification can push back (mcp.max_request_duration). */
  hardDeadline = 0;
  /** What the backend outcome counts as once settled: 200, or 502/504 for a failed backend. */
  status = 200;
  /** Set for tools/call: what the metrics and audit records say about the call. */
  toolCall?: ToolCallInfo;
  /** A tools/resources/prompts list asked without a cursor: its answer is the server's latest list. */
  firstListPage = false;
  /** Set when the request came in a JSON-RPC batch: the batch's one reply carries its answer. */
  group?: BatchReply;
  /** Set when a plugin refused the request: the answer to its stand-in, as the client must read it (message-filters.ts). */
  restore?: (line: string) => string;
  /** Set on a list request that message filters apply to: its result keeps only what they keep. */
  listFilter?: Verdict;
  private settleOutcome?: (outcome: Outcome) => void;
  private settled = false;

  constructor(
    readonly id: JsonRpcId,
    readonly method: string,
    readonly progressToken: string | number | undefined,
    readonly options: PendingOptions,
  ) {
    this.outcome = options.legacy
      ? Promise.resolve<Outcome>({ kind: 'gone' })
      : new Promise<Outcome>((resolve) => (this.settleOutcome = resolve));
  }

  /** Still waiting in JSON mode: nothing has been decided about the HTTP reply. */
  get waiting(): boolean {
    if (this.group) return this.group.waiting;
    return !this.options.legacy && !this.settled;
  }

  settle(outcome: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.settleOutcome?.(outcome);
  }

  report(status: number, rpcError?: number): void {
    const report = this.options.report;
    if (!report) return;
    this.options.report = undefined;
    report(status, performance.now() - this.startedAt, rpcError);
  }
}
