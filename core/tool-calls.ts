/**
 * MCP tool calls as events, for audit logs. mcp-bridge publishes one record per `tools/call` when
 * its answer is known (over Streamable HTTP that is within the request; over legacy SSE the POST
 * was answered 202 long before, so a request's log phase could not see the outcome). Log sink
 * plugins subscribe for the routes they are configured on. No plugin imports another: both sides
 * meet here.
 */
import type { ToolCallOutcome } from './metrics.js';

export interface ToolCallRecord {
  /** When the call reached the gateway (ms since the epoch). */
  readonly time: number;
  readonly routeId: string;
  /** The consumer that owns the session (undefined on routes without auth). */
  readonly consumer?: string;
  readonly sessionId: string;
  /** The gateway request that carried the call. */
  readonly requestId?: string;
  readonly transport: 'streamable-http' | 'sse';
  readonly tool?: string;
  /** JSON-RPC id of the call. */
  readonly id: string | number;
  /** Size of `params.arguments` as JSON, bytes (0 without arguments). */
  readonly argumentsBytes: number;
  /** `params.arguments` as the client sent them; only log them where the route opts in. */
  readonly arguments?: unknown;
  readonly outcome: ToolCallOutcome;
  /** JSON-RPC error code of the answer, when it was an error. */
  readonly errorCode?: number;
  /** Milliseconds from the call reaching the server process to its answer. */
  readonly latencyMs: number;
}

export type ToolCallListener = (record: ToolCallRecord) => void;

/** Every route's listeners, and those of global rules (`*`). */
export const ALL_ROUTES = '*';

export class ToolCallFeed {
  private readonly listeners = new Map<string, Set<ToolCallListener>>();

  /** Listens to tool calls on `routeId` (or every route with `ALL_ROUTES`); returns the unsubscribe function. */
  subscribe(routeId: string, listener: ToolCallListener): () => void {
    let set = this.listeners.get(routeId);
    if (!set) {
      set = new Set();
      this.listeners.set(routeId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(routeId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(routeId);
    };
  }

  /** Whether anyone listens to `routeId`: publishers skip building a record nobody reads. */
  wants(routeId: string): boolean {
    return this.listeners.has(routeId) || this.listeners.has(ALL_ROUTES);
  }

  /** Delivers `record`; a listener that throws does not keep it from the others. */
  publish(record: ToolCallRecord, onError?: (err: unknown) => void): void {
    for (const key of [record.routeId, ALL_ROUTES]) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const listener of set) {
        try {
          listener(record);
        } catch (err) {
          onError?.(err);
        }
      }
    }
  }
}
