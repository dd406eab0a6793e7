/**
 * Which era of MCP a remote Streamable HTTP server speaks (2026-07-28 basic/versioning,
 * "Backward Compatibility"): the gateway sends it a modern `server/discover`. A result naming
 * 2026-07-28 among its `supportedVersions` is a modern server; an UnsupportedProtocolVersionError
 * naming it too; any other answer (a 4xx without a modern error, an error, a result without the
 * version) is a legacy one. A server that cannot be reached, times out or answers 5xx says
 * nothing about its era: undefined, asked again next time.
 *
 * The request carries the record's own headers, as every request to the server does, and the
 * gateway's identity (`clientInfo` tollgate, no client capabilities).
 */
import { request } from 'undici';
import { CAPABILITIES_META, CLIENT_INFO_META, MODERN_PROTOCOL_VERSION, UNSUPPORTED_PROTOCOL_VERSION, VERSION_META } from './jsonrpc.js';
import { mediaTypeOf, messagesOf, readBounded, requestHeaders, type RemoteTarget } from './remote-http.js';
import { SseParser } from './sse-parser.js';

export type Era = 'modern' | 'legacy';

/** A discover answer is small; a bigger one is not one. */
const MAX_ANSWER_BYTES = 1048576;
const PROBE_ID = 'tollgate-discover';

/** The modern request envelope the gateway sends as itself. */
export function gatewayMeta(): Record<string, unknown> {
  return { [VERSION_META]: MODERN_PROTOCOL_VERSION, [CLIENT_INFO_META]: { name: 'tollgate', version: '1' }, [CAPABILITIES_META]: {} };
}

/**
 * The headers of a 2026-07-28 request to the server: the record's own, the modern ones naming
 * `method`, and `own` (Mcp-Name, the client's Mcp-Param-*).
 */
export function modernRequestHeaders(target: RemoteTarget, method: string, own: Record<string, string> = {}): Record<string, string> {
  return requestHeaders(target, {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_PROTOCOL_VERSION,
    'mcp-method': encodeHeader(method),
    ...own,
  });
}

/** Non-ASCII header values travel as `=?base64?…?=` (2026-07-28, "Header encoding"). */
export function encodeHeader(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

export async function discoverEra(target: RemoteTarget, timeoutMs: number): Promise<Era | undefined> {
  let answer: Record<string, unknown> | undefined;
  let status: number;
  try {
    const res = await request(target.url, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: PROBE_ID, method: 'server/discover', params: { _meta: gatewayMeta() } }),
      headers: modernRequestHeaders(target, 'server/discover'),
      dispatcher: target.dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = res.statusCode;
    if (status >= 500) {
      await res.body.dump().catch(() => undefined);
      return undefined;
    }
    const type = mediaTypeOf(res.headers['content-type']);
    const text = await readBounded(res.body, MAX_ANSWER_BYTES);
    if (text !== undefined) answer = type === 'text/event-stream' ? responseInEvents(text) : messagesOf(text)?.[0];
  } catch {
    return undefined;
  }
  const result = answer?.result as { supportedVersions?: unknown } | undefined;
  if (status < 300 && Array.isArray(result?.supportedVersions)) return result.supportedVersions.includes(MODERN_PROTOCOL_VERSION) ? 'modern' : 'legacy';
  const error = answer?.error as { code?: unknown; data?: { supported?: unknown } } | undefined;
  if (error?.code === UNSUPPORTED_PROTOCOL_VERSION && offersModern(error)) return 'modern';
  return 'legacy';
}

/** Whether an UnsupportedProtocolVersionError names 2026-07-28 among the versions the server takes. */
export function offersModern(error: { data?: { supported?: unknown } }): boolean {
  return Array.isArray(error.data?.supported) && error.data.supported.includes(MODERN_PROTOCOL_VERSION);
}

/** The JSON-RPC response among an SSE body's events (a server may stream even a discover answer). */
function responseInEvents(text: string): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  const parser = new SseParser(MAX_ANSWER_BYTES, (event) => {
    const message = messagesOf(event.data)?.[0];
    if (message && message.id === PROBE_ID && message.method === undefined) found ??= message;
  });
  try {
    parser.push(text);
    parser.push('\n\n');
  } catch {
    return undefined;
  }
  return found;
}
