/**
 * A backend answers one session's messages (docs/architecture.md, "MCP, the shape it grows into"):
 * a stdio child (stdio-backend.ts) or a remote MCP server reached over Streamable HTTP or legacy
 * SSE (remote-backend.ts). A backend knows its process or its connections and nothing of the
 * client's side: the fronts (streamable-http.ts, legacy-sse.ts) do the HTTP framing, the session
 * (session.ts) decides which of the client's streams each message goes to.
 *
 * Messages cross this boundary as JSON text, one message per string, unchanged: ids, progress
 * tokens and server→client requests pass through as they are, since a backend serves one session.
 */
import type { Failure } from './failure.js';
import type { JsonRpcId } from './jsonrpc.js';

export interface BackendEvents {
  /**
   * One message from the server (a response, a notification, a request to the client), not yet
   * validated. `relatedTo` is the id of the client request whose reply carried it, when the
   * transport says so (a remote server's POST stream); stdio carries no such link.
   */
  message(text: string, relatedTo?: JsonRpcId): void;
  /** The backend can carry no more messages; said once, also when the gateway stopped it. */
  ended(end: BackendEnd): void;
}

export interface BackendEnd {
  /** Why, in the words sessions close with (telemetry.ts maps them to metric labels). */
  readonly reason: string;
  /** What the client reads about it (exit code, errno, the remote's answer). */
  readonly failure?: Failure;
  /** The HTTP status a request waiting on this backend counts as (502 unreachable, 504 too slow). */
  readonly status: number;
  /** True when the gateway asked it to stop. */
  readonly requested: boolean;
  /** Set when the server failed on its own (not asked to stop): what the crash counters count. */
  readonly crash?: 'exited' | 'spawn_failed';
  /** A process's exit status, when a process ended. */
  readonly exit?: { readonly code: number | null; readonly signal: string | null };
}

/** What the Admin API shows of a session's backend. */
export type BackendInfo =
  | { readonly kind: 'stdio'; readonly pid?: number }
  | { readonly kind: 'remote'; readonly transport: 'streamable-http' | 'sse'; readonly upstream_session: boolean }
  | { readonly kind: 'federation'; readonly servers: ReadonlyArray<{ readonly server_id: string; readonly state: string; readonly backend?: BackendInfo }> };

export interface Backend {
  /** Resolves once messages can be sent (the process runs); rejects with why it cannot start. */
  readonly started: Promise<void>;
  /** Sends one client message (JSON text, no trailing newline). Dropped once the backend ended. */
  send(text: string): void;
  /** Bytes sent that the server has not taken yet (a stdio server that stopped reading stdin). */
  readonly backlog: number;
  /** Backpressure from a slow client: stop reading the server's output until `resume`. */
  pause(): void;
  resume(): void;
  /**
   * Ends it (the process stopped, the remote session deleted); resolves when it is gone. `reason`
   * is why its session ended (one of the end reasons telemetry.ts knows), for a backend made of
   * other sessions (a federation) to end them with.
   */
  stop(reason?: string): Promise<void>;
  describe(): BackendInfo;
}
