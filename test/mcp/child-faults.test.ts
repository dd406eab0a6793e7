/**
 * Children that misbehave as processes (faults checklist B-27, B-32, B-34, B-35): they crash, fail
 * to start, never initialize, ignore SIGTERM, leave grandchildren, spam stderr. Each time the
 * client gets a clear error, nothing is left running, and the gateway and other sessions carry on.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import {
  FAULT_SERVER,
  INIT,
  TRANSPORTS,
  bridgeRoute,
  connect,
  descendants,
  endRawSession,
  isAlive,
  post,
  rawSession,
  read,
  startBridgeGateway,
  textOf,
  waitFor,
} from './support.js';

const fixtureChildren = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));

describe('mcp-bridge child faults', function () {
  this.timeout(20_000);
  let gateway: TestGateway;

  before(async () => {
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node', 'tollgate-no-such-command'], stderr_lines_per_minute: 20 } });
  });

  after(async () => {
    await gateway.stop();
  });

  describe('crashes', () => {
    for (const transport of TRANSPORTS) {
      it(`${transport}: a child that dies mid-request ends the session with an error; other sessions carry on`, async () => {
        const base = await bridgeRoute(gateway, `crash-${transport}`, [FAULT_SERVER]);
        const victim = await connect(base, transport);
        const bystander = await connect(base, transport);
        try {
          const error = await victim.client.callTool({ name: 'crash', arguments: {} }).then(
            () => undefined,
            (err: Error) => err,
          );
          expect(error?.message).to.contain('MCP session ended: the MCP server exited');
          expect(textOf(await bystander.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).to.equal('still here');
          expect(await waitFor(() => fixtureChildren().length === 1, 5000)).to.equal(true);
        } finally {
          await victim.close();
          await bystander.close();
        }
      });
    }

    it('a child that crashes after N messages: the Nth request fails and the session is gone (404)', async () => {
      // initialize, initialized, tools/list; the 4th message kills it.
      const base = await bridgeRoute(gateway, 'crash-after', [FAULT_SERVER, '--crash-after=4']);
      const session = await rawSession(base);
      const headers = { 'mcp-session-id': session };
      expect((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, headers)).status).to.equal(200);
      const fourth = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, headers);
      expect(fourth.status).to.equal(200);
      expect(fourth.json).to.deep.include({ id: 2 });
      expect(fourth.json.error.code).to.equal(-32000);
      expect(fourth.json.error.message).to.contain('the MCP server exited');
      expect((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 3, method: 'ping' }, headers)).status).to.equal(404);
      expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
    });
  });

  describe('start-up failures', () => {
    it('answers 502 when the command does not exist, on both transports', async () => {
      const res = await gateway.admin('PUT', '/routes/enoent', {
        uri: '/enoent/*',
        plugins: { 'mcp-bridge': { base_uri: '/enoent', command: 'tollgate-no-such-command' } },
      });
      expect(res.status).to.equal(201);
      const init = await post(`${gateway.url}/enoent/mcp`, INIT);
      expect(init.status).to.equal(502);
      expect(init.json.error.data.code).to.equal('GW_MCP_CHILD_UNAVAILABLE');
      expect(init.headers.get('mcp-session-id')).to.equal(null);
      expect((await read(await fetch(`${gateway.url}/enoent/sse`))).status).to.equal(502);
      expect(gateway.logs.some((l) => l.includes('mcp server could not be started'))).to.equal(true);
    });

    it('answers 502 when the working directory does not exist', async () => {
      const base = await bridgeRoute(gateway, 'bad-cwd', [FAULT_SERVER], { cwd: '/nonexistent/tollgate/dir' });
      expect((await post(`${base}/mcp`, INIT)).status).to.equal(502);
    });

    it('answers 502 when the child exits before answering initialize', async () => {
      const base = await bridgeRoute(gateway, 'exit-start', [FAULT_SERVER, '--exit-at-start=1']);
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(502);
      expect(res.headers.get('mcp-session-id')).to.equal(null);
    });

    it('answers 504 and stops the child when initialize gets no answer within init_timeout', async () => {
      const base = await bridgeRoute(gateway, 'no-init', [FAULT_SERVER, '--no-init'], { init_timeout: 0.3 });
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(504);
      expect(res.json.error.data.code).to.equal('GW_MCP_INIT_TIMEOUT');
      expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
    });
  });

  describe('stopping', () => {
    it('kills a child that ignores stdin EOF and SIGTERM (SIGKILL to its group)', async () => {
      const base = await bridgeRoute(gateway, 'stubborn', [FAULT_SERVER, '--ignore-sigterm']);
      const session = await rawSession(base);
      const [child] = fixtureChildren();
      expect(child).to.not.equal(undefined);
      await endRawSession(base, session);
      // stdin close, 0.3 s, SIGTERM (ignored), 0.3 s, SIGKILL.
      expect(await waitFor(() => !isAlive(child.pid), 5000)).to.equal(true);
      expect(gateway.logs.some((l) => l.includes('ignored SIGTERM'))).to.equal(true);
    });

    for (const stubborn of [false, true]) {
      it(`stops grandchildren with the child${stubborn ? ' when both ignore SIGTERM' : ''}`, async () => {
        const args = [FAULT_SERVER, '--grandchild', ...(stubborn ? ['--ignore-sigterm'] : [])];
        const base = await bridgeRoute(gateway, `grandchild-${stubborn}`, args);
        const session = await rawSession(base);
        const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'grandchild', arguments: {} } }, { 'mcp-session-id': session });
        const grandchild = Number(textOf(res.json.result));
        expect(isAlive(grandchild)).to.equal(true);
        await endRawSession(base, session);
        // Once the child is gone the grandchild is re-parented away from us: check it by pid.
        expect(await waitFor(() => !isAlive(grandchild), 5000), 'grandchild survived').to.equal(true);
      });
    }

    it('stops every child when the route is deleted', async () => {
      const base = await bridgeRoute(gateway, 'deleted', [FAULT_SERVER]);
      const sessions = await Promise.all([connect(base, 'streamable-http'), connect(base, 'sse')]);
      expect(fixtureChildren()).to.have.length(2);
      expect((await gateway.admin('DELETE', '/routes/deleted')).status).to.equal(200);
      expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
      await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    });
  });

  describe('environment', () => {
    it('gives the child only PATH, HOME and the configured env: no gateway secrets, no client credentials', async () => {
      process.env.TOLLGATE_TEST_SECRET = 'gateway-secret';
      try {
        const base = await bridgeRoute(gateway, 'env', [FAULT_SERVER], { env: { SERVER_SETTING: 'from-route' } });
        const session = await connect(base, 'streamable-http', { headers: { authorization: 'Bearer client-token', apikey: 'client-key' } });
        try {
          const env = JSON.parse(textOf(await session.client.callTool({ name: 'env', arguments: {} }))) as Record<string, string>;
          expect(Object.keys(env).sort()).to.deep.equal(['HOME', 'PATH', 'SERVER_SETTING']);
          expect(env.SERVER_SETTING).to.equal('from-route');
          expect(JSON.stringify(env)).to.not.contain('client-token').and.not.contain('client-key');
        } finally {
          await session.close();
        }
      } finally {
        delete process.env.TOLLGATE_TEST_SECRET;
      }
    });
  });

  describe('stderr', () => {
    it('logs a bounded, cleaned excerpt of 10 MB of stderr and never sends it to the client', async () => {
      const base = await bridgeRoute(gateway, 'stderr', [FAULT_SERVER, '--stderr-spam=10000000']);
      const before = gateway.logs.length;
      const session = await connect(base, 'sse');
      try {
        expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'unblocked' } }))).to.equal('unblocked');
      } finally {
        await session.close();
      }
      await waitFor(() => gateway.logs.slice(before).some((l) => l.includes('stderr lines dropped')), 5000);
      const entries = gateway.logs.slice(before).map((l) => JSON.parse(l) as { msg: string; stderr?: string; dropped?: number });
      const lines = entries.filter((e) => e.msg === 'mcp server stderr');
      expect(lines.length).to.be.within(1, 20);
      for (const { stderr } of lines) {
        expect(stderr!.length).to.be.at.most(1024);
        expect(stderr).to.not.match(/[\x00-\x08\x0b-\x1f\x7f]/);
      }
      expect(entries.find((e) => e.msg.includes('stderr lines dropped'))!.dropped).to.be.greaterThan(1000);
    });
  });
});
