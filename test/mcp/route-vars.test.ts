/**
 * Route `vars` on a bridged MCP server: `mcp_tool` sends one tool to a route with other plugins,
 * and the session the client opened through one route serves it through the other (routes with
 * the same hosts and bridge config share sessions). The real SDK client over both transports,
 * server-everything over stdio.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { bridgeRoute, connect, EVERYTHING_SERVER, post, startBridgeGateway, textOf, TRANSPORTS } from './support.js';

describe('mcp-bridge behind route vars (mcp_tool)', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let base: string;

  before(async () => {
    gw = await startBridgeGateway();
    base = await bridgeRoute(gw, 'ev', [EVERYTHING_SERVER]);
  });
  after(async () => {
    await gw.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`${transport}: one tool meets its route's quota in the session the client opened; other tools do not`, async () => {
      const put = await gw.admin('PUT', '/routes/ev-echo', {
        uri: '/ev/*',
        priority: 1,
        vars: [['mcp_tool', '==', 'echo']],
        plugins: {
          'limit-count': { count: 2, time_window: 60, rejected_code: 429, key: `${transport}`, key_type: 'constant' },
          'mcp-bridge': { base_uri: '/ev', command: 'node', args: [EVERYTHING_SERVER] },
        },
      });
      expect(put.status, put.text).to.be.oneOf([200, 201]);
      const { client, close } = await connect(base, transport);
      try {
        for (let i = 0; i < 2; i++) {
          const result = await client.callTool({ name: 'echo', arguments: { message: `call ${i}` } });
          expect(JSON.stringify(result.content)).to.include(`call ${i}`);
        }
        let refused: unknown;
        try {
          await client.callTool({ name: 'echo', arguments: { message: 'one too many' } });
        } catch (err) {
          refused = err;
        }
        expect(String(refused)).to.match(/429|Too Many Requests|rate limit/i);
        for (let i = 0; i < 3; i++) {
          const sum = await client.callTool({ name: 'get-sum', arguments: { a: i, b: 1 } });
          expect(JSON.stringify(sum.content)).to.include(`is ${i + 1}`);
        }
      } finally {
        await close();
      }
    });
  }

  it('MCP 2026-07-28 requests: route vars on mcp_name and a limit-count keyed by mcp_tool act per tool, as for sessions', async () => {
    const modernBase = await bridgeRoute(gw, 'evm', [EVERYTHING_SERVER], { session_idle_timeout: 0.5 });
    const put = await gw.admin('PUT', '/routes/evm-echo', {
      uri: '/evm/*',
      priority: 1,
      vars: [['mcp_name', '==', 'echo']],
      plugins: {
        'limit-count': { count: 2, time_window: 60, rejected_code: 429, key: 'mcp_tool', key_type: 'var' },
        'mcp-bridge': { base_uri: '/evm', command: 'node', args: [EVERYTHING_SERVER], session_idle_timeout: 0.5 },
      },
    });
    expect(put.status, put.text).to.be.oneOf([200, 201]);
    const call = (id: number, name: string, args: Record<string, unknown>) => {
      const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
      return post(
        `${modernBase}/mcp`,
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: meta } },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
      );
    };
    for (let i = 0; i < 2; i++) {
      const res = await call(i, 'echo', { message: `call ${i}` });
      expect(res.status, res.text).to.equal(200);
      expect(textOf(res.json.result)).to.equal(`Echo: call ${i}`);
    }
    // Refused as that request's JSON-RPC error (how the gateway renders a policy rejection of an MCP call).
    const refused = await call(2, 'echo', { message: 'one too many' });
    expect(refused.json, refused.text).to.deep.include({ id: 2 });
    expect(refused.json.error.data).to.deep.include({ status: 429, code: 'GW_RATE_LIMITED' });
    for (let i = 0; i < 3; i++) {
      const sum = await call(10 + i, 'get-sum', { a: i, b: 1 });
      expect(sum.status, sum.text).to.equal(200);
      expect(JSON.stringify(sum.json.result.content)).to.include(`is ${i + 1}`);
    }
  });
});
