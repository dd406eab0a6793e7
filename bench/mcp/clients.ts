/**
 * The MCP clients the mcp suites drive, each reduced to what a scenario needs: open, call `echo`,
 * close. Opening includes everything a real client does before its first call.
 *
 * - 2025-era sessions: the v1 SDK client over Streamable HTTP (initialize,
 *   notifications/initialized, and the GET stream it keeps open while connected);
 * - MCP 2026-07-28: the v2 SDK client pinned to that revision (no session: `server/discover`
 *   once, then each call a POST carrying its version and capabilities in `_meta`);
 * - raw 2025-era sessions: initialize and the initialized notification as bare POSTs on a shared
 *   undici pool, and calls as bare POSTs. A thousand SDK clients would spend this process's CPU
 *   on the client library (and keep a thousand GET streams open); raw ones leave the CPU to
 *   the gateway and its children, which is what a scenario with many sessions measures.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Pool } from 'undici';

export const MODERN_PROTOCOL = '2026-07-28';
export const LEGACY_PROTOCOL = '2025-11-25';

export interface EchoClient {
  /** Calls `echo`; rejects unless the tool answered with a result. */
  call(text: string): Promise<void>;
  close(): Promise<void>;
}

/** A 2025-era session of the v1 SDK client over Streamable HTTP. */
export async function legacyClient(url: string): Promise<EchoClient> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return {
    async call(text) {
      await client.callTool({ name: 'echo', arguments: { text } });
    },
    async close() {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/** The v2 SDK client that speaks only MCP 2026-07-28 (as test/mcp/modern.test.ts pins it). */
export async function modernClient(url: string): Promise<EchoClient> {
  const client = new ModernClient({ name: 'bench', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN_PROTOCOL } } });
  await client.connect(new ModernTransport(new URL(url)));
  return {
    async call(text) {
      await client.callTool({ name: 'echo', arguments: { text } });
    },
    close: () => client.close(),
  };
}

const RAW_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/**
 * A 2025-era session opened with bare POSTs over `pool` (whose origin is the gateway's), on the
 * endpoint `path`. Calls check the answer's id and that it is a result, not an error.
 */
export async function rawClient(pool: Pool, path: string): Promise<EchoClient> {
  const initialize = await pool.request({
    path,
    method: 'POST',
    headers: RAW_HEADERS,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY_PROTOCOL, capabilities: {}, clientInfo: { name: 'bench-raw', version: '1' } } }),
  });
  const answer = await initialize.body.text();
  const sessionId = initialize.headers['mcp-session-id'];
  if (initialize.statusCode !== 200 || typeof sessionId !== 'string') throw new Error(`initialize: ${initialize.statusCode} ${answer}`);
  const headers = { ...RAW_HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY_PROTOCOL };
  const initialized = await pool.request({ path, method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.body.dump();
  let nextId = 1;
  return {
    async call(text) {
      const id = nextId++;
      const res = await pool.request({
        path,
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } }),
      });
      const body = await res.body.text();
      // One JSON body, or (when the answer was slow) an SSE stream whose data line holds it.
      const json = body.startsWith('{') ? body : /^data: (.*)$/m.exec(body)?.[1];
      const message = json === undefined ? undefined : (JSON.parse(json) as { id?: unknown; result?: unknown });
      if (res.statusCode !== 200 || message?.id !== id || message.result === undefined) throw new Error(`tools/call: ${res.statusCode} ${body.slice(0, 300)}`);
    },
    async close() {
      const res = await pool.request({ path, method: 'DELETE', headers });
      await res.body.dump();
    },
  };
}
