/**
 * What both remote transports (Streamable HTTP, legacy SSE) share: the connection pool of one
 * remote server, the headers the gateway sends it, bounded reads of its answers, and what its
 * failures tell a client.
 *
 * Requests to a remote server are built from scratch: nothing of the client's request reaches it
 * but the JSON-RPC message (the MCP authorization spec forbids token passthrough). The
 * gateway's own credentials for it are the server's `headers`, `$env://` references resolved at
 * each request.
 */
import { Agent } from 'undici';
import type { Logger } from '../../../core/logger.js';
import { GatewayError } from '../../../core/errors.js';
import type { Failure } from './failure.js';
import { isObject } from './jsonrpc.js';
import { resolveReferences } from './secrets.js';

/** One remote MCP server as its backends reach it. */
export interface RemoteTarget {
  readonly url: URL;
  /** The server's `headers`, references unresolved. */
  readonly headers: Readonly<Record<string, string>>;
  /** Connecting and waiting for an answer's headers, ms (the server's `timeout`). */
  readonly timeoutMs: number;
  readonly dispatcher: Agent;
  readonly logger: Logger;
}

/** Headers the gateway sets itself; a server's `headers` may not name them. */
export const RESERVED_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'content-type',
  'accept',
  'transfer-encoding',
  'upgrade',
  'te',
  'keep-alive',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
  // MCP 2026-07-28: set from each request's body; a second value makes the server refuse it.
  'mcp-method',
  'mcp-name',
]);

/** The pool of one remote server: TLS verified unless the server says otherwise. */
export function remoteAgent(timeoutMs: number, verifyTls: boolean): Agent {
  return new Agent({
    connect: { timeout: timeoutMs, rejectUnauthorized: verifyTls },
    headersTimeout: timeoutMs,
    // Streams stay open as long as the session; request_timeout bounds what waits on them.
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
  });
}

/** The headers of a request to the server: its configured ones (references resolved) and `own`. */
export function requestHeaders(target: RemoteTarget, own: Record<string, string>): Record<string, string> {
  return { ...resolveReferences('headers', target.headers), 'user-agent': 'tollgate', ...own };
}

/** Why a request to the remote server failed, in words a client can read (never a header value). */
export function remoteFailure(err: unknown, timeoutMs: number): Failure {
  if (err instanceof GatewayError) {
    const data = (err.body as { error?: { data?: Record<string, unknown> } } | undefined)?.error?.data ?? {};
    return { message: err.message, data: { reason: String(data.reason ?? 'upstream_failed'), ...data } };
  }
  const code = errorCode(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return { message: `the remote MCP server did not answer within its timeout (${timeoutMs / 1000} s)`, data: { reason: 'upstream_timeout', timeout: timeoutMs / 1000 } };
  }
  if (code && TLS_CODES.has(code)) {
    return { message: `the remote MCP server's certificate could not be verified: ${code}`, data: { reason: 'upstream_tls', errno: code } };
  }
  if (code) return { message: `the remote MCP server could not be reached: ${code}`, data: { reason: 'upstream_unreachable', errno: code } };
  return { message: 'the remote MCP server could not be reached', data: { reason: 'upstream_unreachable' } };
}

export function statusFailure(status: number): Failure {
  return { message: `the remote MCP server answered HTTP ${status}`, data: { reason: 'upstream_status', upstream_status: status } };
}

export const INVALID_ANSWER: Failure = { message: 'the remote MCP server answered something that is not JSON-RPC', data: { reason: 'upstream_invalid' } };

export const STREAM_CUT: Failure = {
  message: 'the remote MCP server closed the stream before answering',
  data: { reason: 'upstream_stream_cut' },
};

export function tooLarge(limit: number): Failure {
  return { message: `the remote MCP server sent a message larger than max_message_bytes (${limit} bytes)`, data: { reason: 'upstream_too_large', limit } };
}

/** The media type of a request or answer (its Content-Type without parameters, lower case); '' without one. */
export function mediaTypeOf(contentType: string | string[] | undefined): string {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  return (value ?? '').split(';', 1)[0].trim().toLowerCase();
}

/** The whole body as text, or undefined when it is larger than `max` bytes (the rest is dropped). */
export async function readBounded(body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown }, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The JSON-RPC messages of an answer's JSON body: one object, or the objects of an array (a
 * 2025-03-26 batch reply); undefined when it is not that.
 */
export function messagesOf(text: string): Array<Record<string, unknown>> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (list.length === 0 || !list.every((m) => isObject(m) && m.jsonrpc === '2.0')) return undefined;
  return list as Array<Record<string, unknown>>;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
]);

function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}
