/**
 * Requests of a protocol revision the gateway does not serve (issue 10, item 19e), for instance
 * a revision newer than 2026-07-28, stateless like it: no initialize, no Mcp-Session-Id, its
 * version in the MCP-Protocol-Version header and in `_meta`. The spec's answer is 400 with
 * UnsupportedProtocolVersionError (-32022), the request's id, and `data: {supported, requested}`
 * (2026-07-28 basic/versioning, transports/streamable-http "Protocol Version Header"). A request in
 * the stateless envelope is told the stateless versions (2026-07-28, which the modern front serves,
 * modern.test.ts, and which server/discover lists); a session's request every version served. A
 * client reads the list and continues with a version it shares, which the real v2 SDK client is
 * checked to do here.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, bridgeRoute, endRawSession, post, rawSession, read, startBridgeGateway, textOf } from './support.js';

const SERVED = ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];
/** What a stateless request may retry with: the 2025 revisions are reached through initialize. */
const STATELESS = ['2026-07-28'];
/** A stateless revision after 2026-07-28, which this gateway cannot know. */
const FUTURE = '2027-01-01';
const META_KEY = 'io.modelcontextprotocol/protocolVersion';

describe('mcp-bridge protocol versions', function () {
  this.timeout(20_000);
  let gateway: TestGateway;
  let base: string;

  before(async () => {
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] } });
    // The modern front's pooled servers end like idle sessions: soon, so that they end with their test.
    base = await bridgeRoute(gateway, 'versions', [FAULT_SERVER], { session_idle_timeout: 1 });
  });

  after(async () => {
    await gateway?.stop();
  });

  const discover = (id: number | string, version = FUTURE) => ({
    jsonrpc: '2.0',
    id,
    method: 'server/discover',
    params: { _meta: { [META_KEY]: version, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } } },
  });

  const expectUnsupported = (res: { status: number; json: any; text: string }, id: number | string | null, requested: string, supported = SERVED) => {
    expect(res.status, res.text).to.equal(400);
    expect(res.json).to.deep.equal({
      jsonrpc: '2.0',
      id,
      error: { code: -32022, message: 'Unsupported protocol version', data: { supported, requested } },
    });
  };

  it('answers a stateless request of an unknown revision (header, no session) with -32022, its id and the stateless versions, which server/discover lists', async () => {
    const res = await post(`${base}/mcp`, discover(7), { 'mcp-protocol-version': FUTURE, 'mcp-method': 'server/discover' });
    expectUnsupported(res, 7, FUTURE, STATELESS);
    const modernMeta = { [META_KEY]: '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const discovered = await post(`${base}/mcp`, { ...discover(8), params: { _meta: modernMeta } }, { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' });
    expect(discovered.json.result.supportedVersions).to.include.members(res.json.error.data.supported);
  });

  it('reads the version from _meta when the header is missing', async () => {
    const call = { jsonrpc: '2.0', id: 'call-1', method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: { [META_KEY]: FUTURE } } };
    expectUnsupported(await post(`${base}/mcp`, call), 'call-1', FUTURE, STATELESS);
  });

  it('answers a request of an unknown revision outside the stateless envelope (header only, no session) with every version served', async () => {
    const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, { 'mcp-protocol-version': FUTURE });
    expectUnsupported(res, 5, FUTURE);
  });

  it('answers an unsupported header on an existing session the same way, and on GET with id null', async () => {
    const session = await rawSession(base);
    try {
      const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2099-01-01' };
      expectUnsupported(await post(`${base}/mcp`, { jsonrpc: '2.0', id: 3, method: 'ping' }, headers), 3, '2099-01-01');
      const get = await read(await fetch(`${base}/mcp`, { headers: { ...headers, accept: 'text/event-stream' } }));
      expectUnsupported(get, null, '2099-01-01');
      // The session itself is fine with a version it negotiated.
      const ok = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 4, method: 'ping' }, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
      expect(ok.status).to.equal(200);
    } finally {
      await endRawSession(base, session);
    }
  });

  it('a dual-era SDK client (v2, auto negotiation) connects and calls', async () => {
    const client = new ModernClient({ name: 'dual-era', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    const transport = new ModernTransport(new URL(`${base}/mcp`));
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'after the fallback' } });
      expect(textOf(result)).to.equal('after the fallback');
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });

  it('a client pinned to 2026-07-28 connects and calls without a session', async () => {
    const client = new ModernClient({ name: 'modern-only', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const transport = new ModernTransport(new URL(`${base}/mcp`));
    await client.connect(transport);
    try {
      expect(transport.sessionId).to.equal(undefined);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'stateless' } }))).to.equal('stateless');
    } finally {
      await client.close();
    }
  });
});
