/**
 * Traffic control on mcp-bridge routes, with the official SDK client and real stdio children:
 * auth answers before any child is spawned, a per-consumer per-tool quota rejects one call as a
 * JSON-RPC error while the session carries on, and the breaker counts children that fail.
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, INIT, TRANSPORTS, bridgeRoute, connect, endRawSession, post, startBridgeGateway, textOf, waitFor } from '../mcp/support.js';

describe('traffic control on MCP routes', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  const spawned = () => gw.logs.filter((line) => line.includes('mcp server started')).length;

  before(async () => {
    gw = await startBridgeGateway();
    const perTool = { rules: [{ count: 2, time_window: 60, key: '$mcp_tool' }], rejected_code: 429, rejected_msg: 'tool quota spent' };
    for (const name of ['ann', 'bob', 'ann-sse', 'bob-sse']) {
      const res = await gw.admin('PUT', '/consumers', { username: name, plugins: { 'key-auth': { key: `${name}-mcp-key` }, 'limit-count': perTool } });
      expect(res.status).to.equal(201);
    }
  });
  after(async () => {
    await gw.stop();
  });

  it('answers 401 to an unauthenticated client before any child is spawned (B-17)', async () => {
    const base = await bridgeRoute(gw, 'locked', [FAULT_SERVER], {}, { plugins: { 'key-auth': {}, 'limit-count': { count: 10, time_window: 60 } } });
    const before = spawned();
    for (let i = 0; i < 3; i++) {
      const res = await post(`${base}/mcp`, INIT, { apikey: 'wrong' });
      expect(res.status).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.equal('apikey realm="key"');
      expect(res.json).to.deep.equal({ message: 'Invalid API key in request' });
    }
    expect((await fetch(`${base}/sse`)).status).to.equal(401);
    expect(spawned()).to.equal(before);
    // The quota never counted them: the first authenticated request finds it whole.
    await gw.admin('PUT', '/consumers', { username: 'cat', plugins: { 'key-auth': { key: 'cat-mcp-key' } } });
    const init = await post(`${base}/mcp`, INIT, { apikey: 'cat-mcp-key' });
    const session = init.headers.get('mcp-session-id');
    try {
      expect(init.status).to.equal(200);
      expect(init.headers.get('x-ratelimit-remaining')).to.equal('9');
      expect(spawned()).to.equal(before + 1);
    } finally {
      if (session) await endRawSession(base, session, { apikey: 'cat-mcp-key' });
    }
  });

  for (const transport of TRANSPORTS) {
    it(`limits each tool per consumer; a rejected call is a JSON-RPC error and the session carries on (${transport})`, async () => {
      const base = await bridgeRoute(gw, `quota-${transport}`, [FAULT_SERVER], {}, { plugins: { 'key-auth': {} } });
      // A consumer's quota counts across routes: each transport gets its own consumers.
      const suffix = transport === 'sse' ? '-sse' : '';
      const ann = await connect(base, transport, { headers: { apikey: `ann${suffix}-mcp-key` } });
      const bob = await connect(base, transport, { headers: { apikey: `bob${suffix}-mcp-key` } });
      try {
        for (let i = 0; i < 2; i++) expect(textOf(await ann.client.callTool({ name: 'echo', arguments: { text: `call ${i}` } }))).to.equal(`call ${i}`);
        let rejected: unknown;
        try {
          await ann.client.callTool({ name: 'echo', arguments: { text: 'one too many' } });
        } catch (err) {
          rejected = err;
        }
        expect(rejected).to.be.instanceOf(McpError);
        expect((rejected as McpError).message).to.include('rate limit exceeded');
        expect((rejected as McpError).data).to.deep.include({ status: 429, code: 'GW_RATE_LIMITED' });
        expect(Number((rejected as McpError & { data: { retry_after: string } }).data.retry_after)).to.be.within(1, 60);
        // Same session, another tool, other methods, another consumer: all unaffected.
        expect(textOf(await ann.client.callTool({ name: 'pid', arguments: {} }))).to.match(/^\d+$/);
        expect((await ann.client.listTools()).tools.length).to.be.greaterThan(3);
        expect(textOf(await bob.client.callTool({ name: 'echo', arguments: { text: 'bob' } }))).to.equal('bob');
      } finally {
        await ann.close();
        await bob.close();
      }
    });
  }

  it('holds a limit-conn slot for as long as an SSE session stream is open, however it ends', async () => {
    // GET streams and POSTs are counted apart, so a session's own messages never wait on its stream.
    const base = await bridgeRoute(gw, 'streams', [FAULT_SERVER], {}, {
      plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key_type: 'var_combination', key: '$request_method $remote_addr' } },
    });
    const connectWhenFree = async () => {
      let session: Awaited<ReturnType<typeof connect>> | undefined;
      await waitFor(async () => {
        session = await connect(base, 'sse').catch(() => undefined);
        return session !== undefined;
      }, 5000, 50);
      expect(session, 'the slot was never freed').to.not.equal(undefined);
      return session!;
    };
    const first = await connect(base, 'sse');
    expect((await fetch(`${base}/sse`)).status).to.equal(503);
    await first.close();
    const crashing = await connectWhenFree();
    expect((await fetch(`${base}/sse`)).status).to.equal(503);
    // A child that crashes ends its stream, which frees the slot too.
    await crashing.client.callTool({ name: 'crash', arguments: {} }).catch(() => undefined);
    const last = await connectWhenFree();
    await last.close();
    await crashing.close().catch(() => undefined);
  });

  it('counts children that crash or never start as failures, and stops spawning while open', async () => {
    const base = await bridgeRoute(gw, 'crashing', [FAULT_SERVER, '--crash-after=1'], {}, {
      plugins: { 'api-breaker': { break_response_code: 503, unhealthy: { http_statuses: [502, 504], failures: 2 } } },
    });
    const before = spawned();
    for (let i = 0; i < 2; i++) {
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(502);
    }
    expect(spawned()).to.equal(before + 2);
    const open = await post(`${base}/mcp`, INIT);
    // The bridge turns the breaker's 503 into a JSON-RPC error for the initialize request.
    expect(open.json.error.data).to.deep.include({ status: 503, code: 'GW_BREAKER_OPEN' });
    expect(open.headers.get('retry-after')).to.equal('2');
    expect(spawned()).to.equal(before + 2);
  });
});
