/**
 * JSON-RPC shapes the bridge writes itself, and its HTTP errors. Errors on MCP endpoints carry a
 * JSON-RPC error body (the transport spec allows one without an id) so MCP clients can show them;
 * `data` holds the gateway's code and request id for the operator.
 */
import type { ErrorCode, GatewayError } from '../../../core/errors.js';
import { MCP_ERRORS } from './errors.js';
import type { ListMethod } from './server.js';

export type JsonRpcId = string | number;

/** Protocol revisions whose clients this bridge serves (MCP-Protocol-Version header), newest first. */
export const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;
export const SUPPORTED_PROTOCOL_VERSIONS: ReadonlySet<string> = new Set(PROTOCOL_VERSIONS);
/** The stateless revision, served on `{base_uri}/mcp` by the modern front (modern.ts). */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';
/** Where a 2026-07-28 request's `_meta` carries the client's revision, identity and capabilities. */
export const VERSION_META = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_INFO_META = 'io.modelcontextprotocol/clientInfo';
export const CAPABILITIES_META = 'io.modelcontextprotocol/clientCapabilities';
/** Where a 2026-07-28 result's `_meta` names the server. */
export const SERVER_INFO_META = 'io.modelcontextprotocol/serverInfo';

/** The list a server's list_changed notification makes stale. */
export const LIST_CHANGED: Readonly<Record<string, ListMethod>> = {
  'notifications/tools/list_changed': 'tools/list',
  'notifications/resources/list_changed': 'resources/list',
  'notifications/prompts/list_changed': 'prompts/list',
};

/** Revisions from which a POST stream starts with a priming event (SEP-1699). */
export function wantsPrimingEvent(version: string | undefined): boolean {
  return version !== undefined && version >= '2025-11-25';
}

// Codes the MCP TypeScript SDK uses, so SDK clients map them to the errors they know.
export const CONNECTION_CLOSED = -32000;
export const REQUEST_TIMEOUT = -32001;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** MCP 2026-07-28 (basic/versioning): the request's protocol version is not served here. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
/** 2026-07-28: the request needs a client capability its `_meta` did not declare (HTTP 400). */
export const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;
/** 2025-11-25's code for an unknown resource; 2026-07-28 (SEP-2164) uses INVALID_PARAMS instead. */
export const RESOURCE_NOT_FOUND_2025 = -32002;

export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } });
}

export function cancelledMessage(requestId: JsonRpcId, reason: string): Record<string, unknown> {
  return { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } };
}

export function cancelledNotification(requestId: JsonRpcId, reason: string): string {
  return JSON.stringify(cancelledMessage(requestId, reason));
}

/**
 * An HTTP error from an MCP endpoint, with a JSON-RPC error body. Unlike other 5xx answers of the
 * gateway, the message reaches the client: the bridge writes it for clients (which cap, how the
 * server ended, which timeout), and a bare "Bad Gateway" left MCP users guessing (issue 10,
 * item 19c). `data` carries the gateway's code and status, and the facts behind the message.
 */
export function mcpHttpError(
  code: ErrorCode,
  message: string,
  options: { rpcCode?: number; retryAfter?: number; headers?: Record<string, string>; cause?: unknown; data?: Readonly<Record<string, unknown>>; status?: number } = {},
): GatewayError {
  const status = options.status ?? code.status;
  const data = { code: code.code, status, ...options.data };
  return code.error({
    status,
    message,
    headers: options.headers,
    retryAfter: options.retryAfter,
    cause: options.cause,
    body: { jsonrpc: '2.0', id: null, error: { code: options.rpcCode ?? CONNECTION_CLOSED, message, data } },
  });
}

/** Whether the bridge raised `error` itself (its JSON-RPC body is already written; renderError leaves it alone). */
export function isOwnError(error: GatewayError): boolean {
  return Object.hasOwn(MCP_ERRORS, error.code);
}

export const RETRY_AFTER_SECONDS = 5;

/** Every version `{base_uri}/mcp` serves, newest first: what a -32022 error lists by default. */
export const SERVED_PROTOCOL_VERSIONS: readonly string[] = [MODERN_PROTOCOL_VERSION, ...PROTOCOL_VERSIONS];

/**
 * 400 with the spec's UnsupportedProtocolVersionError (MCP 2026-07-28, basic/versioning and
 * transports/streamable-http "Protocol Version Header"): the request's id, and in `data` the
 * versions the client may retry with (`supported`) and the one asked for.
 */
export function unsupportedVersionError(id: JsonRpcId | null, requested: string, supported: readonly string[] = SERVED_PROTOCOL_VERSIONS): GatewayError {
  return MCP_ERRORS.GW_MCP_UNSUPPORTED_VERSION.error({
    message: `unsupported MCP protocol version ${JSON.stringify(requested)}`,
    body: {
      jsonrpc: '2.0',
      id,
      error: { code: UNSUPPORTED_PROTOCOL_VERSION, message: 'Unsupported protocol version', data: { supported: [...supported], requested } },
    },
  });
}

/** A JSON object (not null, not an array): what a message, its params or its result must be. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
