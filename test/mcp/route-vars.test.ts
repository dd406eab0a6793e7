/**
 * Route `vars` on a bridged MCP server: `mcp_tool` sends one tool to a route with other plugins,
 * and the session the client opened through one route serves it through the other (routes with
 * the same hosts and bridge config share sessions). The real SDK client over both transports,
 * server-everything over stdio.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { bridgeRoute, connect, EVERYTHING_SERVER, startBridgeGateway, TRANSPORTS } from './support.js';

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
});
