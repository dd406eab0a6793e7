/**
 * JSON-RPC batches: MCP 2025-03-26 made receiving them a MUST ("basic/index", Batching);
 * 2025-06-18 removed them (PR #416). So a batch is accepted on a session that negotiated
 * 2025-03-26, on either transport, and refused with -32600 on any other. `initialize` is never
 * part of one (2025-03-26 "basic/lifecycle").
 */
import type { McpRequestInfo } from '../../../core/context.js';
import { INVALID_REQUEST, mcpHttpError } from './jsonrpc.js';
import type { BatchMessage, Session } from './session.js';
import { MCP_ERRORS } from './errors.js';

/** The protocol revision whose sessions may send batches. */
export const BATCH_PROTOCOL_VERSION = '2025-03-26';

/** The messages of a batch for `session`, or a 400 saying why it may not have one. */
export function batchFor(mcp: McpRequestInfo, session: Session): BatchMessage[] {
  const messages = mcp.batch ?? [];
  if (messages.some((m) => m.method === 'initialize')) throw batchError('initialize must not be part of a JSON-RPC batch');
  const version = session.protocolVersion;
  if (version !== BATCH_PROTOCOL_VERSION) {
    throw batchError(
      version === undefined
        ? 'JSON-RPC batches need a session initialized with protocol version 2025-03-26'
        : `JSON-RPC batches are not part of protocol version ${version} (only 2025-03-26 has them); send one message per request`,
    );
  }
  return messages.map((m) => ({ kind: m.kind as BatchMessage['kind'], message: m.message as Record<string, unknown>, id: m.id, method: m.method, verdict: m }));
}

function batchError(message: string) {
  return mcpHttpError(MCP_ERRORS.GW_MCP_BATCH_NOT_ALLOWED, `Invalid Request: ${message}`, { rpcCode: INVALID_REQUEST });
}
