/**
 * MCP sessions owned by one process, reachable from all (core/relay): with `gateway.workers: 2`
 * and with three instances on one Redis, the SDK client over both transports opens a new
 * connection for every request (and, across instances, sends each to the next instance), so
 * its requests land on workers and instances that do not own its session: each is relayed to the
 * owner and answered as the owner alone would. When the owner dies its sessions answer 404
 * everywhere (within the registration TTL across instances), and the others keep working.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { Cluster } from 'ioredis';
import type { GatewayProcess } from '../helpers/gateway.js';
import { adopt, isAlive, waitFor } from '../helpers/processes.js';
import { sharedRedis } from '../helpers/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { CONFORMANCE_SERVER, type TransportName } from '../mcp/support.js';
import { fresh, startScaleGateway } from './support.js';

const FAST_STOP = { stop_stdin_wait: 0.3, stop_term_wait: 0.3, reaper_linger: 0.05 };
const SECRET = 'relay-secret-for-the-tests-0123456789abcdef';

/**
 * A fetch for the SDK transports that never reuses a connection (node:cluster balances
 * connections) and sends each request to the next of `bases` (instances behind a round-robin
 * balancer), keeping path and query.
 */
function spreadingFetch(bases: string[]) {
  const agent = new Agent({ pipelining: 0 });
  let next = 0;
  const fetchLike = (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const base = new URL(bases[next++ % bases.length]);
    url.protocol = base.protocol;
    url.host = base.host;
    return undiciFetch(url, { ...(init as object), dispatcher: agent } as never) as unknown as Promise<Response>;
  };
  return { fetch: fetchLike, close: () => agent.close() };
}

interface Opened {
  client: Client;
  sessionId(): string | undefined;
  close(): Promise<void>;
}

async function open(bases: string[], path: string, transport: TransportName): Promise<Opened> {
  const spread = spreadingFetch(bases);
  const client = new Client({ name: 'relay-test', version: '1.0.0' }, { capabilities: {} });
  if (transport === 'streamable-http') {
    const t = new StreamableHTTPClientTransport(new URL(`${bases[0]}${path}/mcp`), { fetch: spread.fetch });
    await client.connect(t);
    return {
      client,
      sessionId: () => t.sessionId,
      async close() {
        await t.terminateSession().catch(() => undefined);
        await client.close();
        await spread.close();
      },
    };
  }
  const t = new SSEClientTransport(new URL(`${bases[0]}${path}/sse`), { fetch: spread.fetch, eventSourceInit: { fetch: spread.fetch } as never });
  await client.connect(t);
  return {
    client,
    sessionId: () => (t as unknown as { _endpoint?: URL })._endpoint?.searchParams.get('sessionId') ?? undefined,
    async close() {
      await client.close();
      await spread.close();
    },
  };
}

const simpleText = async (client: Client) => {
  const result = await client.callTool({ name: 'test_simple_text', arguments: {} });
  return (result.content as Array<{ text?: string }>)[0].text;
};

const relayCount = async (gw: GatewayProcess, outcome: string) => {
  const text = (await fresh(gw.metricsUrl)).text;
  return Number(new RegExp(`^tollgate_relay_requests_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
};

const mcpRoute = { uri: '/m/*', plugins: { 'mcp-bridge': { base_uri: '/m', command: 'node', args: [CONFORMANCE_SERVER] } } };

describe('MCP sessions relayed to their owner', function () {
  this.timeout(120_000);

  describe('gateway.workers: 2', () => {
    let dir: string;
    let gw: GatewayProcess;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-relay-'));
      gw = await startScaleGateway({ dir, workers: 2, config: { mcp: FAST_STOP } });
      expect((await gw.admin('PUT', '/routes/m', mcpRoute)).status).to.equal(201);
      // Both workers have the route: without a session id the bridge answers 400, not the 404 of no route.
      await waitFor(async () => (await Promise.all([1, 2, 3, 4].map(() => fresh(`${gw.url}/m/mcp`, { method: 'DELETE' })))).every((r) => r.status === 400), 5000);
    });
    after(async () => {
      await gw?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** An MCP server record and a route using it (/s), served by both workers. */
    const serverRoute = async () => {
      expect((await gw.admin('PUT', '/mcp_servers/conf', { command: 'node', args: [CONFORMANCE_SERVER] })).status).to.be.oneOf([200, 201]);
      expect((await gw.admin('PUT', '/routes/s', { uri: '/s/*', plugins: { 'mcp-bridge': { base_uri: '/s', server_id: 'conf' } } })).status).to.be.oneOf([200, 201]);
      await waitFor(async () => (await Promise.all([1, 2, 3, 4].map(() => fresh(`${gw.url}/s/mcp`, { method: 'DELETE' })))).every((r) => r.status === 400), 5000);
    };

    for (const transport of ['streamable-http', 'sse'] as const) {
      it(`${transport}: one session serves 50 calls in a row, whichever worker receives them`, async () => {
        const relayedBefore = await relayCount(gw, 'relayed');
        const session = await open([gw.url], '/m', transport);
        try {
          for (let i = 0; i < 50; i++) expect(await simpleText(session.client), `call ${i}`).to.equal('This is a simple text response for testing.');
          const progress: number[] = [];
          const result = await session.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
          expect(result.isError ?? false).to.equal(false);
          // The SDK's legacy SSE client loses the last progress notification when it arrives in
          // the same chunk as the result (one process too): it handles notifications a microtask
          // later and the result at once, which drops the progress handler. Not the relay's doing.
          if (transport === 'streamable-http') expect(progress).to.deep.equal([0, 50, 100]);
          else expect(progress.slice(0, 2)).to.deep.equal([0, 50]);
        } finally {
          await session.close();
        }
        // About half of the connections reached the other worker: they were relayed.
        expect((await relayCount(gw, 'relayed')) - relayedBefore).to.be.greaterThan(10);
      });
    }

    it('the Admin API (worker 1) lists every worker\'s sessions with ?scope=cluster, and ends one another worker owns', async () => {
      await serverRoute();
      const sessions: Opened[] = [];
      try {
        while (new Set(sessions.map((x) => x.sessionId()!.slice(0, 12))).size < 2 && sessions.length < 10) sessions.push(await open([gw.url], '/s', 'streamable-http'));
        const local = (await gw.admin('GET', '/mcp_servers/conf/sessions')).json;
        expect(local.total).to.be.lessThan(sessions.length);
        const cluster = (await gw.admin('GET', '/mcp_servers/conf/sessions?scope=cluster')).json;
        expect(cluster.scope).to.equal('cluster');
        expect(cluster.instances).to.have.length(2);
        expect(cluster.unreachable).to.deep.equal([]);
        expect(cluster.total).to.equal(sessions.length);
        const listed = cluster.list as Array<{ id?: string; session?: string; instance: string }>;
        expect(new Set(listed.map((item) => item.instance)).size).to.equal(2);
        const status = (await gw.admin('GET', '/mcp_servers/conf/status?scope=cluster')).json;
        expect(status.instances.map((i: { sessions: number }) => i.sessions).reduce((a: number, b: number) => a + b, 0)).to.equal(sessions.length);
        // A session worker 1 does not own, ended through worker 1's Admin API.
        const localText = JSON.stringify(local);
        const foreign = sessions.find((x) => !localText.includes(x.sessionId()!))!;
        expect(foreign, 'a session worker 1 does not list').to.not.equal(undefined);
        const ended = await gw.admin('DELETE', `/mcp_servers/conf/sessions/${foreign.sessionId()}`);
        expect(ended.status, ended.text).to.equal(200);
        let refused: unknown;
        await simpleText(foreign.client).catch((err: unknown) => (refused = err));
        expect(String(refused)).to.match(/404|not found/i);
        expect((await gw.admin('DELETE', '/mcp_servers/conf/sessions/nosuchsessionnosuchsessionnosuchsess')).status).to.equal(404);
      } finally {
        await Promise.all(sessions.map((x) => x.close().catch(() => undefined)));
      }
    });

    it('a worker killed: its MCP children are stopped, the other worker\'s children and sessions are untouched, also by its replacement', async () => {
      await serverRoute();
      const sessions: Opened[] = [];
      try {
        while (new Set(sessions.map((x) => x.sessionId()!.slice(0, 12))).size < 2 && sessions.length < 10) sessions.push(await open([gw.url], '/s', 'streamable-http'));
        const listed = (await gw.admin('GET', '/mcp_servers/conf/sessions?scope=cluster')).json.list as Array<{ id: string; instance: string; child_pid: number }>;
        const ownerPid = (item: { instance: string }) => Number(item.instance.slice(item.instance.lastIndexOf(':') + 1));
        const workerPids = [...new Set(listed.map(ownerPid))];
        expect(workerPids).to.have.length(2);
        const [victim, survivor] = workerPids;
        const doomed = listed.filter((item) => ownerPid(item) === victim).map((item) => item.child_pid);
        const kept = listed.filter((item) => ownerPid(item) === survivor);
        expect(doomed.every(isAlive) && kept.every((item) => isAlive(item.child_pid))).to.equal(true);
        process.kill(victim, 'SIGKILL');
        // Its reaper stops its children (stop_stdin_wait + stop_term_wait: 0.6 s here).
        expect(await waitFor(() => doomed.every((pid) => !isAlive(pid)), 5000)).to.equal(true);
        // The replacement starts (and looks for what dead gateways left in data_dir/mcp-children/).
        await waitFor(async () => (JSON.parse((await fresh(`${gw.statusUrl}/status`)).text).workers as Array<{ ready: boolean; pid: number }>).every((w) => w.ready && w.pid !== victim), 20_000, 200);
        for (const w of JSON.parse((await fresh(`${gw.statusUrl}/status`)).text).workers as Array<{ pid: number }>) adopt(w.pid);
        await new Promise((r) => setTimeout(r, 500));
        expect(kept.every((item) => isAlive(item.child_pid))).to.equal(true);
        const survivorSession = sessions.find((x) => x.sessionId() === kept[0].id)!;
        expect(await simpleText(survivorSession.client)).to.equal('This is a simple text response for testing.');
      } finally {
        await Promise.all(sessions.map((x) => x.close().catch(() => undefined)));
      }
    });

    it('a worker killed with its sessions: they answer 404 at once, the other worker\'s keep working', async () => {
      const sessions: Opened[] = [];
      try {
        // Sessions until two are owned by different workers (their ids start with the owner's token).
        while (new Set(sessions.map((s) => s.sessionId()!.slice(0, 12))).size < 2 && sessions.length < 10) {
          sessions.push(await open([gw.url], '/m', 'streamable-http'));
        }
        const owners = [...new Set(sessions.map((s) => s.sessionId()!.slice(0, 12)))];
        expect(owners).to.have.length(2);
        const first = sessions.find((s) => s.sessionId()!.startsWith(owners[0]))!;
        const second = sessions.find((s) => s.sessionId()!.startsWith(owners[1]))!;
        const pids = (JSON.parse((await fresh(`${gw.statusUrl}/status`)).text).workers as Array<{ pid: number }>).map((w) => w.pid);
        // Which pid owns which token is not shown; kill one worker and see whose sessions go.
        process.kill(pids[1], 'SIGKILL');
        const killedAt = Date.now();
        const statusOf = (s: Opened) =>
          fresh(`${gw.url}/m/mcp`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': s.sessionId()!, 'mcp-protocol-version': '2025-11-25' },
            body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'ping' }),
            // A connection node:cluster was handing to the killed worker is lost (docs/deployment.md).
            timeoutMs: 2000,
          }).then((r) => r.status, () => 0);
        let gone: Opened | undefined;
        await waitFor(async () => {
          const [a, b] = [await statusOf(first), await statusOf(second)];
          if (a === 404 && b === 200) gone = first;
          if (b === 404 && a === 200) gone = second;
          return gone !== undefined;
        }, 10_000, 100);
        expect(gone, 'one worker\'s session is gone, the other\'s answers').to.not.equal(undefined);
        expect(Date.now() - killedAt).to.be.lessThan(5000);
        const kept = gone === first ? second : first;
        // Every request for the dead worker's session is 404 wherever it lands; the other's work.
        for (let i = 0; i < 6; i++) expect(await statusOf(gone!)).to.equal(404);
        expect(await simpleText(kept.client)).to.equal('This is a simple text response for testing.');
        // The replacement worker stays for the rest of the describe.
        await waitFor(async () => (JSON.parse((await fresh(`${gw.statusUrl}/status`)).text).workers as Array<{ ready: boolean }>).every((w) => w.ready), 20_000, 200);
        for (const w of JSON.parse((await fresh(`${gw.statusUrl}/status`)).text).workers as Array<{ pid: number }>) adopt(w.pid);
        const again = await open([gw.url], '/m', 'streamable-http');
        sessions.push(again);
        expect(await simpleText(again.client)).to.equal('This is a simple text response for testing.');
      } finally {
        await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
      }
    });
  });

  for (const store of ['one Redis', 'a Redis Cluster (3 masters)'] as const) describe(`three instances on ${store}`, () => {
    const dirs: string[] = [];
    let gateways: GatewayProcess[] = [];
    let testCluster: TestRedisCluster | undefined;
    /** The relay registrations in the store: key → value. */
    let registrations: () => Promise<Map<string, string>>;
    const keyPrefix = `relay${Date.now()}`;

    before(async () => {
      let url: string;
      if (store === 'one Redis') {
        const shared = await sharedRedis();
        const redis = shared.client();
        url = shared.url;
        registrations = async () => new Map(await Promise.all((await redis.keys(`${keyPrefix}:relay:*`)).map(async (k) => [k, (await redis.get(k))!] as [string, string])));
      } else {
        testCluster = await startRedisCluster();
        url = testCluster.nodes.map((n) => `redis://${n}`).join(',');
        registrations = async () => {
          const client = new Cluster(testCluster!.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
          client.on('error', () => undefined);
          try {
            await new Promise((resolve) => client.once('ready', resolve));
            const out = new Map<string, string>();
            for (const node of client.nodes('master')) for (const k of await node.keys(`${keyPrefix}:relay:*`)) out.set(k, (await node.get(k))!);
            return out;
          } finally {
            client.disconnect();
          }
        };
      }
      for (let i = 0; i < 3; i++) dirs.push(mkdtempSync(join(tmpdir(), 'tollgate-relay-')));
      gateways = await Promise.all(
        dirs.map((dir) =>
          startScaleGateway({ dir, redisUrl: url, keyPrefix, cluster: testCluster !== undefined, config: { mcp: FAST_STOP, relay: { secret: SECRET, owner_ttl: 2 } } }),
        ),
      );
      expect((await gateways[0].admin('PUT', '/routes/m', mcpRoute)).status).to.equal(201);
      for (const gw of gateways) await waitFor(async () => (await fresh(`${gw.url}/m/mcp`, { method: 'DELETE' })).status !== 404, 5000);
    });
    after(async () => {
      await Promise.all(gateways.map((gw) => gw.stop()));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await testCluster?.stop();
    });

    for (const transport of ['streamable-http', 'sse'] as const) {
      it(`${transport}: a session opened on A answers through B and C as through A alone`, async () => {
        const [a, b, c] = gateways;
        const direct = await open([a.url], '/m', transport);
        const spread = await open([a.url, b.url, c.url], '/m', transport);
        try {
          expect(spread.sessionId()).to.be.a('string');
          const viaA = await direct.client.listTools();
          const spreadTools = await spread.client.listTools();
          expect(spreadTools.tools.map((t) => t.name)).to.deep.equal(viaA.tools.map((t) => t.name));
          for (let i = 0; i < 9; i++) expect(await simpleText(spread.client)).to.equal(await simpleText(direct.client));
          const resource = await spread.client.readResource({ uri: 'test://static-text' });
          expect(resource.contents).to.deep.equal((await direct.client.readResource({ uri: 'test://static-text' })).contents);
        } finally {
          await spread.close();
          await direct.close();
        }
        expect((await relayCount(b, 'relayed')) + (await relayCount(c, 'relayed'))).to.be.greaterThan(0);
      });
    }

    it('a session stays bound to the consumer that opened it, whichever instance a request reaches', async () => {
      const [a, b, c] = gateways;
      for (const name of ['alice', 'bob']) {
        expect((await a.admin('PUT', `/consumers/${name}`, { username: name, plugins: { 'key-auth': { key: `${name}-key-0123456789` } } })).status).to.be.oneOf([200, 201]);
      }
      const authed = { uri: '/k/*', plugins: { 'key-auth': {}, 'mcp-bridge': { base_uri: '/k', command: 'node', args: [CONFORMANCE_SERVER] } } };
      expect((await a.admin('PUT', '/routes/k', authed)).status).to.equal(201);
      for (const gw of gateways) await waitFor(async () => (await fresh(`${gw.url}/k/mcp`, { method: 'DELETE', headers: { apikey: 'bob-key-0123456789' } })).status === 400, 5000);
      const init = await fresh(`${a.url}/k/mcp`, {
        method: 'POST',
        headers: { apikey: 'alice-key-0123456789', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
      });
      expect(init.status).to.equal(200);
      const session = String(init.headers['mcp-session-id']);
      const ping = (gw: GatewayProcess, apikey: string) =>
        fresh(`${gw.url}/k/mcp`, {
          method: 'POST',
          headers: { apikey, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
        }).then((r) => r.status);
      expect(await ping(b, 'alice-key-0123456789')).to.equal(200);
      expect(await ping(c, 'alice-key-0123456789')).to.equal(200);
      // Bob holds alice's session id: through any instance, the owner (which ran bob's key-auth) answers 404.
      expect(await ping(b, 'bob-key-0123456789')).to.equal(404);
      expect(await ping(c, 'bob-key-0123456789')).to.equal(404);
      // Without a key, key-auth answers first, on the owner.
      expect(await ping(b, 'wrong-key')).to.equal(401);
      await fresh(`${a.url}/k/mcp`, { method: 'DELETE', headers: { apikey: 'alice-key-0123456789', 'mcp-session-id': session } });
    });

    it('a relay listener refuses a request without the deployment\'s signature', async () => {
      const found = await registrations();
      expect(found.size).to.equal(3);
      const address = JSON.parse([...found.values()][0]) as { host: string; port: number };
      const res = await fresh(`http://${address.host}:${address.port}/m/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tollgate-relay': `${Date.now()}.forged`, 'x-tollgate-relay-peer': 'e30' },
        body: '{}',
      });
      expect(res.status).to.equal(403);
      expect(JSON.parse(res.text).error_msg).to.match(/not a relayed request/);
    });

    it('any instance\'s Admin API lists every instance\'s sessions with ?scope=cluster and ends one another instance owns', async () => {
      const [a, b, c] = gateways;
      expect((await a.admin('PUT', '/mcp_servers/conf', { command: 'node', args: [CONFORMANCE_SERVER] })).status).to.equal(201);
      expect((await a.admin('PUT', '/routes/s', { uri: '/s/*', plugins: { 'mcp-bridge': { base_uri: '/s', server_id: 'conf' } } })).status).to.equal(201);
      for (const gw of gateways) await waitFor(async () => (await fresh(`${gw.url}/s/mcp`, { method: 'DELETE' })).status === 400, 5000);
      const onA = await open([a.url], '/s', 'streamable-http');
      const onB = await open([b.url], '/s', 'sse');
      try {
        const listed = (await c.admin('GET', '/mcp_servers/conf/sessions?scope=cluster')).json;
        expect(listed.instances).to.have.length(3);
        expect(listed.total).to.equal(2);
        expect((await c.admin('GET', '/mcp_servers/conf/sessions')).json.total).to.equal(0);
        expect((await c.admin('GET', '/mcp_servers/conf/sessions?scope=everywhere')).status).to.equal(400);
        const ended = await c.admin('DELETE', `/mcp_servers/conf/sessions/${onA.sessionId()}`);
        expect(ended.status, ended.text).to.equal(200);
        let refused: unknown;
        await simpleText(onA.client).catch((err: unknown) => (refused = err));
        expect(String(refused)).to.match(/404|not found/i);
        expect(await simpleText(onB.client)).to.equal('This is a simple text response for testing.');
      } finally {
        await onA.close().catch(() => undefined);
        await onB.close();
      }
    });

    it('killing A: its sessions answer 404 through B within the owner TTL; B\'s own keep working', async () => {
      const [a, b, c] = gateways;
      const ofA = await open([a.url], '/m', 'streamable-http');
      const ofB = await open([b.url, c.url], '/m', 'streamable-http');
      try {
        expect(await simpleText(ofB.client)).to.equal('This is a simple text response for testing.');
        a.child.kill('SIGKILL');
        const killedAt = Date.now();
        const statusThroughB = () =>
          fresh(`${b.url}/m/mcp`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': ofA.sessionId()!, 'mcp-protocol-version': '2025-11-25' },
            body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }),
          }).then((r) => r.status);
        expect(await waitFor(async () => (await statusThroughB()) === 404, 10_000, 100)).to.equal(true);
        // owner_ttl 2 s, the lookup cache 1 s, and a killed process refuses connections at once.
        expect(Date.now() - killedAt).to.be.lessThan(4000);
        expect(await simpleText(ofB.client)).to.equal('This is a simple text response for testing.');
      } finally {
        await ofB.close();
        await ofA.close().catch(() => undefined);
      }
    });
  });
});

