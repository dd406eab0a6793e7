/**
 * What the bridge tells the gateway's observability (core/metrics.ts, core/tool-calls.ts): session
 * openings and endings by reason, server processes that crash, and every tools/call with its
 * outcome and latency, for the metrics and for audit loggers. Labels are closed sets: a session's
 * free-text end reason maps to one of a few names here.
 */
import type { SessionEndReason, ToolCallOutcome } from '../../../core/metrics.js';

/** Why a session ended that a cap reclaimed (see SessionManager.open). */
export const RECLAIMED = 'idle at a cap: reclaimed for a new session';

/** Why a session ended that an operator ended (DELETE /apisix/admin/mcp_servers/{id}/sessions/{session}). */
export const ENDED_BY_ADMIN = 'ended through the Admin API';

/** End reasons (metric labels) that say the server failed, not that a client or the gateway ended the session. */
export const SERVER_FAILURES: ReadonlySet<SessionEndReason> = new Set(['server_exited', 'spawn_failed', 'init_failed', 'init_timeout', 'message_too_large', 'upstream_failed']);

/** Why a session ends that its remote server failed (remote backends end with it). */
export const REMOTE_FAILED = 'the remote MCP server failed';

const END_REASONS: ReadonlyArray<[string, SessionEndReason]> = [
  ['the client ended the session', 'client_closed'],
  ['the SSE client disconnected', 'client_disconnected'],
  ['the stream could not be opened', 'client_disconnected'],
  ['idle timeout', 'idle'],
  [RECLAIMED, 'reclaimed'],
  ['the client left before its server started', 'client_disconnected'],
  ['the start queue was full', 'start_queue_full'],
  ['the route was changed or deleted', 'route_changed'],
  ['the MCP server exited', 'server_exited'],
  ['the MCP server could not be started', 'spawn_failed'],
  ['the MCP server did not answer initialize in time', 'init_timeout'],
  ['the MCP server did not answer in time', 'init_timeout'],
  ['the MCP server refused to initialize', 'init_failed'],
  ['the MCP server sent a message larger than max_message_bytes', 'message_too_large'],
  [ENDED_BY_ADMIN, 'admin_ended'],
  [REMOTE_FAILED, 'upstream_failed'],
];

/** The label for a session's end reason (the text its `close()` was given). */
export function endReasonOf(reason: string): SessionEndReason {
  for (const [text, label] of END_REASONS) if (reason === text) return label;
  return 'other';
}

/** Every reason text the bridge closes sessions with, for the test that holds this table to them. */
export const KNOWN_END_REASONS = END_REASONS.map(([text]) => text);

/**
 * What became of a call, from the status its HTTP exchange counts as (499 cancelled, 504 timed
 * out, other 5xx the session ended) and the answer itself.
 */
export function toolCallOutcome(status: number, rpcError: number | undefined, toolError: boolean): ToolCallOutcome {
  if (status === 499) return 'cancelled';
  if (status === 504) return 'timeout';
  if (status >= 500) return 'failed';
  if (rpcError !== undefined) return 'error';
  return toolError ? 'tool_error' : 'ok';
}

/** The tool call being tracked on a pending request. */
export interface ToolCallInfo {
  /** ms since the epoch, when the call reached the gateway. */
  readonly time: number;
  readonly name?: string;
  readonly arguments: unknown;
  readonly argumentsBytes: number;
  readonly requestId?: string;
}

/** Reads what a tools/call message says about the call (its name and arguments). */
export function toolCallInfo(message: Record<string, unknown>, requestId: string | undefined): ToolCallInfo {
  const params = message.params as { name?: unknown; arguments?: unknown } | undefined;
  const args = params?.arguments;
  return {
    time: Date.now(),
    name: typeof params?.name === 'string' ? params.name : undefined,
    arguments: args,
    argumentsBytes: args === undefined ? 0 : Buffer.byteLength(JSON.stringify(args)),
    requestId,
  };
}
