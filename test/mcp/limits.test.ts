/**
 * Limit plugins on MCP routes (issue 10, item 16), with the MCP SDK client. A per-tool key
 * (`"key": "mcp_tool"`, as the README shows) counts tools/call only: initialize, ping, lists,
 * notifications, GET streams and DELETE used to share one bucket per client address. And no
 * limit refuses what ends a session (DELETE) or completes its handshake (notifications/initialized):
 * a refused DELETE left the child running for session_idle_timeout.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, bridgeRoute, connect, descendants, startBridgeGateway, textOf, waitFor, type Connected } from './support.js';

const fixtureChildren = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));

/** The JSON-RPC error of a call the gateway refused, with its data. */
async function refusal(promise: Promise<unknown>): Promise<{ message: string; data?: { status?: number; code?: string } }> {
  const outcome = await promise.then(
    () => undefined,
    (err: { message: string; data?: { status?: number; code?: string } }) => err,
  );
  expect(outcome, 'the call was not refused').to.not.equal(undefined);
  return outcome!;
}

describe('mcp-bridge with limit plugins', function () {
  this.timeout(30_000);
  let gateway: TestGateway;

  before(async () => {
    gateway = await startBridgeGateway();
  });

  after(async () => {
    await gateway.stop();
  });

  /** Connects, lists and pings a lot: none of it is a tools/call. */
  async function busyClient(base: string): Promise<Connected> {
    const client = await connect(base, 'streamable-http');
    await client.client.listTools();
    for (let i = 0; i < 5; i++) await client.client.ping();
    return client;
  }

  it('limit-count keyed on mcp_tool counts tools/call per tool, nothing else', async () => {
    const base = await bridgeRoute(gateway, 'count-tool', [FAULT_SERVER], {}, {
      plugins: { 'limit-count': { count: 2, time_window: 60, key_type: 'var', key: 'mcp_tool', rejected_code: 429 } },
    });
    const client = await busyClient(base);
    try {
      expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'one' } }))).to.equal('one');
      expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'two' } }))).to.equal('two');
      const refused = await refusal(client.client.callTool({ name: 'echo', arguments: { text: 'three' } }));
      expect(refused.data).to.deep.include({ status: 429, code: 'GW_RATE_LIMITED' });
      // Another tool has its own count; the session carries on.
      expect(textOf(await client.client.callTool({ name: 'pid', arguments: {} }))).to.match(/^\d+$/);
      await client.client.ping();
    } finally {
      await client.close();
    }
    expect(await waitFor(() => fixtureChildren().length === 0, 5000), 'child still running after DELETE').to.equal(true);
  });

  it('a combination with an MCP variable ("$consumer_name $mcp_tool") counts each consumer’s calls per tool, nothing else', async () => {
    const res = await gateway.admin('PUT', '/consumers/alice', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key-0123456789' } } });
    expect(res.status, res.text).to.be.oneOf([200, 201]);
    const base = await bridgeRoute(gateway, 'per-consumer-tool', [FAULT_SERVER], {}, {
      plugins: {
        'key-auth': {},
        'limit-count': { count: 1, time_window: 60, key_type: 'var_combination', key: '$consumer_name $mcp_tool', rejected_code: 429 },
      },
    });
    const client = await connect(base, 'streamable-http', { headers: { apikey: 'alice-key-0123456789' } });
    try {
      await client.client.listTools();
      await client.client.ping();
      expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'once' } }))).to.equal('once');
      const refused = await refusal(client.client.callTool({ name: 'echo', arguments: { text: 'twice' } }));
      expect(refused.data).to.deep.include({ status: 429 });
    } finally {
      await client.close();
    }
    expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
  });

  it('limit-req keyed on mcp_tool leaves everything but tools/call alone', async () => {
    const base = await bridgeRoute(gateway, 'req-tool', [FAULT_SERVER], {}, {
      plugins: { 'limit-req': { rate: 0.5, burst: 0, key_type: 'var', key: 'mcp_tool', nodelay: true, rejected_code: 429 } },
    });
    const client = await busyClient(base);
    try {
      expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'first' } }))).to.equal('first');
      const refused = await refusal(client.client.callTool({ name: 'echo', arguments: { text: 'too soon' } }));
      expect(refused.data).to.deep.include({ status: 429, code: 'GW_RATE_LIMITED' });
      expect(textOf(await client.client.callTool({ name: 'pid', arguments: {} }))).to.match(/^\d+$/);
    } finally {
      await client.close();
    }
    expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
  });

  it('limit-conn keyed on mcp_tool counts calls in flight per tool; the open GET stream holds no slot', async () => {
    const base = await bridgeRoute(gateway, 'conn-tool', [FAULT_SERVER], {}, {
      plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key_type: 'var', key: 'mcp_tool', rejected_code: 429 } },
    });
    const client = await busyClient(base);
    try {
      const slow = client.client.callTool({ name: 'slow', arguments: { ms: 1500 } });
      await new Promise((r) => setTimeout(r, 300));
      const refused = await refusal(client.client.callTool({ name: 'slow', arguments: { ms: 10 } }));
      expect(refused.data).to.deep.include({ status: 429, code: 'GW_CONN_LIMITED' });
      expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: 'meanwhile' } }))).to.equal('meanwhile');
      expect(textOf(await slow)).to.equal('slow done');
    } finally {
      await client.close();
    }
    expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
  });

  it('a client whose quota is spent still completes the handshake it began and ends its session: no child is left', async () => {
    // A blanket quota by client address: initialize and the GET stream spend it.
    const base = await bridgeRoute(gateway, 'spent', [FAULT_SERVER], {}, {
      plugins: { 'limit-count': { count: 2, time_window: 60, key_type: 'var', key: 'remote_addr', rejected_code: 429 } },
    });
    const client = await connect(base, 'streamable-http');
    try {
      const refused = await refusal(client.client.callTool({ name: 'echo', arguments: { text: 'no' } }));
      expect(refused.data).to.deep.include({ status: 429 });
      expect(fixtureChildren()).to.have.length(1);
    } finally {
      // DELETE, then close: the DELETE is not counted, so it is never refused.
      await client.close();
    }
    expect(await waitFor(() => fixtureChildren().length === 0, 5000), 'child still running after DELETE').to.equal(true);
    expect(gateway.logs.some((l) => l.includes('"reason":"the client ended the session"'))).to.equal(true);
  });
});
