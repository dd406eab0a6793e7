/**
 * Remote MCP servers as upstreams (issue 12): routes naming an `mcp_servers` record with a `url`,
 * reached over Streamable HTTP and legacy SSE. The remote servers are real:
 * @modelcontextprotocol/server-everything in its own HTTP modes on free ports, and small HTTP
 * servers on loopback for the faults (down, slow, a lost session, garbage). Clients are the SDK
 * client over both transports: two hops, every kind of message both ways.
 */
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { TRANSPORTS, INIT, connect, post, rawSession, startBridgeGateway, startRemoteEverything, textOf, waitFor, type Connected, type RemoteServer } from './support.js';
import { startFixture, type Fixture } from './remote-fixture.js';

const REMOTE_MODES = [
  { name: 'streamable-http', mode: 'streamableHttp', transport: 'streamable-http' },
  { name: 'sse', mode: 'sse', transport: 'sse' },
] as const;

describe('remote MCP servers', function () {
  this.timeout(30_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startBridgeGateway();
  });
  after(async () => {
    await gw.stop();
  });

  /** A route at /<id>/* using MCP server `server`; returns its base URL. */
  async function serverRoute(id: string, server: string): Promise<string> {
    const res = await gw.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'mcp-bridge': { base_uri: `/${id}`, server_id: server } } });
    expect(res.status, res.text).to.be.oneOf([200, 201]);
    return `${gw.url}/${id}`;
  }

  for (const remote of REMOTE_MODES) {
    describe(`server-everything over ${remote.name}, two hops`, () => {
      let upstream: RemoteServer;
      let base: string;

      before(async () => {
        upstream = await startRemoteEverything(remote.mode);
        const put = await gw.admin('PUT', `/mcp_servers/everything-${remote.name}`, { url: upstream.url, transport: remote.transport, health_check: { interval: 0 } });
        expect(put.status, put.text).to.equal(201);
        base = await serverRoute(`everything-${remote.name}`, `everything-${remote.name}`);
      });
      after(async () => {
        await upstream.stop();
      });

      for (const transport of TRANSPORTS) {
        describe(`client over ${transport}`, () => {
          let session: Connected;
          let samplingPrompts: string[];

          before(async () => {
            samplingPrompts = [];
            session = await connect(base, transport, { capabilities: { sampling: {}, elicitation: {} } });
            session.client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
              samplingPrompts.push((request.params.messages[0]?.content as { text?: string }).text ?? '');
              return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled by the test client' } };
            });
            session.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada Lovelace' } }));
          });
          after(async () => {
            await session?.close();
          });

          it('initializes with the remote server, under the gateway’s own session id', () => {
            expect(session.client.getServerVersion()?.name).to.equal('mcp-servers/everything');
            expect(session.sessionId()).to.match(/^[A-Za-z0-9_-]{36}$/);
          });

          it('lists and calls tools', async () => {
            const { tools } = await session.client.listTools();
            expect(tools.map((t) => t.name)).to.include.members(['echo', 'get-sum', 'trigger-long-running-operation', 'trigger-elicitation-request']);
            expect(textOf(await session.client.callTool({ name: 'echo', arguments: { message: 'two hops' } }))).to.equal('Echo: two hops');
            expect(textOf(await session.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } }))).to.contain('42');
          });

          it('lists and reads resources, lists and gets prompts', async () => {
            const { resources } = await session.client.listResources();
            expect(resources.length).to.be.greaterThan(0);
            const read = await session.client.readResource({ uri: resources[0].uri });
            expect(read.contents[0].uri).to.equal(resources[0].uri);
            const prompt = await session.client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lisbon' } });
            expect(JSON.stringify(prompt.messages)).to.contain('Lisbon');
          });

          it('delivers the progress of a long call to the call that asked for it', async () => {
            const progress: number[] = [];
            const result = await session.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } }, undefined, {
              onprogress: (p) => progress.push(p.progress),
            });
            expect(textOf(result)).to.contain('Long running operation completed');
            expect(progress.length).to.be.at.least(2);
            expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
          });

          it('round-trips a sampling request from the remote server to the client and back', async () => {
            const result = await session.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'Say hi', maxTokens: 10 } });
            expect(samplingPrompts.some((p) => p.includes('Say hi'))).to.equal(true);
            expect(JSON.stringify(result)).to.contain('sampled by the test client');
          });

          it('round-trips an elicitation request from the remote server to the client and back', async () => {
            const result = await session.client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
            expect(JSON.stringify(result)).to.contain('Ada Lovelace');
          });
        });
      }

      it('never shows the upstream session id to the client, and ends the upstream session with the client’s', async () => {
        const id = await rawSession(base);
        const sessions = (await gw.admin('GET', `/mcp_servers/everything-${remote.name}/sessions`)).json;
        const mine = sessions.list.find((s: { id: string }) => s.id === id);
        expect(mine.backend).to.deep.equal({ kind: 'remote', transport: remote.transport, upstream_session: true });
        expect(upstream.output()).to.not.contain(id);
        await fetch(`${base}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': id } });
        if (remote.mode === 'streamableHttp') {
          expect(await waitFor(() => /session termination request/i.test(upstream.output()), 5000), 'the upstream got a DELETE').to.equal(true);
        } else {
          expect(await waitFor(() => /Client Disconnected/.test(upstream.output()), 5000), 'the upstream stream was closed').to.equal(true);
        }
      });
    });
  }

  describe('faults and guarantees', () => {
    let fixture: Fixture;
    beforeEach(async () => {
      fixture = await startFixture();
    });
    afterEach(async () => {
      await fixture.close();
    });

    async function fixtureServer(id: string, extra: Record<string, unknown> = {}): Promise<string> {
      const put = await gw.admin('PUT', `/mcp_servers/${id}`, { url: fixture.url, health_check: { interval: 0 }, ...extra });
      expect(put.status, put.text).to.be.oneOf([200, 201]);
      return serverRoute(id, id);
    }

    it("sends the gateway's headers, never the client's credentials; $env:// headers resolved per request and masked on GET", async () => {
      process.env.REMOTE_TEST_TOKEN = 'gateway-token';
      try {
        // A reference stands for the whole value: the variable holds the whole header.
        const base = await fixtureServer('creds', { headers: { Authorization: '$env://REMOTE_TEST_TOKEN', 'X-Api-Key': 'literal-key', 'X-Team': 'tools' } });
        const shown = (await gw.admin('GET', '/mcp_servers/creds')).json.value.headers;
        expect(shown).to.deep.equal({ Authorization: '$env://REMOTE_TEST_TOKEN', 'X-Api-Key': '******', 'X-Team': 'tools' });
        const session = await connect(base, 'streamable-http', { headers: { authorization: 'Bearer client-token', apikey: 'client-key', cookie: 'sid=client' } });
        try {
          expect(textOf(await session.client.callTool({ name: 'whoami', arguments: {} }))).to.match(/^session upstream-\d+$/);
        } finally {
          await session.close();
        }
        expect(fixture.requests.length).to.be.at.least(3);
        for (const { headers } of fixture.requests) {
          expect(headers.authorization).to.equal('gateway-token');
          expect(headers['x-api-key']).to.equal('literal-key');
          expect(headers).to.not.have.property('apikey');
          expect(headers).to.not.have.property('cookie');
          expect(JSON.stringify(headers)).to.not.contain('client-');
        }
      } finally {
        delete process.env.REMOTE_TEST_TOKEN;
      }
    });

    it('re-creates the upstream session when the remote answers 404 for it; the client keeps its session', async () => {
      const base = await fixtureServer('forgetful');
      const session = await connect(base, 'streamable-http');
      try {
        const first = textOf(await session.client.callTool({ name: 'whoami', arguments: {} }));
        fixture.forget();
        const second = textOf(await session.client.callTool({ name: 'whoami', arguments: {} }));
        expect(second).to.not.equal(first);
        expect(second).to.match(/^session upstream-\d+$/);
        // The re-created session was initialized with the client's own parameters, unseen by it.
        const inits = fixture.requests.filter((r) => r.body.includes('"method":"initialize"')).map((r) => JSON.parse(r.body));
        expect(inits).to.have.length(2);
        expect(inits[1].params).to.deep.equal(inits[0].params);
        expect(inits[1].id).to.match(/^tollgate-reinit-/);
      } finally {
        await session.close();
      }
      const status = (await gw.admin('GET', '/mcp_servers/forgetful/status')).json;
      expect(status).to.deep.include({ kind: 'remote', starts: 2, state: 'degraded' });
      expect(status.last_error.message).to.equal('the remote MCP server lost a session; the gateway created a new one');
    });

    it('a remote that answers garbage: initialize fails with 502 saying so; a call answered with garbage gets a JSON-RPC error, the session goes on', async () => {
      const base = await fixtureServer('garbled');
      fixture.mode = 'garbage';
      const init = await post(`${base}/mcp`, INIT);
      expect(init.status).to.equal(502);
      expect(init.json.error.message).to.equal('the remote MCP server answered something that is not JSON-RPC');
      expect(init.json.error.data).to.deep.include({ reason: 'upstream_invalid' });
      fixture.mode = 'garbage-calls';
      const session = await connect(base, 'streamable-http');
      try {
        const error = await session.client.callTool({ name: 'whoami', arguments: {} }).then(() => undefined, (err: Error) => err);
        expect(error?.message).to.contain('the remote MCP server answered something that is not JSON-RPC');
        expect((await session.client.listTools()).tools.map((t) => t.name)).to.deep.equal(['whoami']);
      } finally {
        await session.close();
      }
    });

    it('legacy SSE: a remote that is down, answers garbage, or names an endpoint on another origin fails initialize with 502 saying so', async () => {
      const port = await freePort();
      expect((await gw.admin('PUT', '/mcp_servers/sse-down', { url: `http://127.0.0.1:${port}/sse`, transport: 'sse', health_check: { interval: 0 } })).status).to.equal(201);
      const down = await post(`${await serverRoute('sse-down', 'sse-down')}/mcp`, INIT);
      expect(down.status).to.equal(502);
      expect(down.json.error.message).to.equal('the remote MCP server could not be reached: ECONNREFUSED');
      const base = await fixtureServer('sse-odd', { transport: 'sse' });
      fixture.mode = 'garbage';
      const garbage = await post(`${base}/mcp`, INIT);
      expect(garbage.status).to.equal(502);
      expect(garbage.json.error.message).to.equal('the remote MCP server answered something that is not JSON-RPC');
      fixture.mode = 'foreign-endpoint';
      const foreign = await post(`${base}/mcp`, INIT);
      expect(foreign.status).to.equal(502);
      expect(foreign.json.error.message).to.equal('the remote MCP server named an endpoint on another origin; not used');
      expect(fixture.requests.filter((r) => r.method === 'POST')).to.have.length(0);
    });

    it('a remote that is down: initialize fails at once with 502 naming the cause', async () => {
      const port = await freePort();
      expect((await gw.admin('PUT', '/mcp_servers/down', { url: `http://127.0.0.1:${port}/mcp`, health_check: { interval: 0 } })).status).to.equal(201);
      const base = await serverRoute('down', 'down');
      const started = Date.now();
      const res = await post(`${base}/mcp`, INIT);
      expect(Date.now() - started).to.be.below(2000);
      expect(res.status).to.equal(502);
      expect(res.json.error.message).to.equal('the remote MCP server could not be reached: ECONNREFUSED');
      expect(res.json.error.data).to.deep.include({ reason: 'upstream_unreachable', errno: 'ECONNREFUSED' });
      const status = (await gw.admin('GET', '/mcp_servers/down/status')).json;
      expect(status).to.deep.include({ state: 'failing', kind: 'remote' });
    });

    it('a remote that does not answer: initialize gets 504 after its timeout; a failing health check then refuses new sessions at once', async () => {
      fixture.mode = 'silent';
      const base = await fixtureServer('slow', { timeout: 0.5, health_check: { interval: 0 } });
      const started = Date.now();
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(504);
      expect(res.json.error.message).to.equal('the remote MCP server did not answer within its timeout (0.5 s)');
      expect(Date.now() - started).to.be.within(400, 3000);
      expect((await gw.admin('PATCH', '/mcp_servers/slow', { health_check: { interval: 0.2, timeout: 0.3 } })).status).to.equal(200);
      expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/slow/status')).json.health?.ok === false, 5000)).to.equal(true);
      const status = (await gw.admin('GET', '/mcp_servers/slow/status')).json;
      expect(status.state).to.equal('failing');
      expect(status.health.error).to.match(/did not answer/);
      const fast = Date.now();
      const refused = await post(`${base}/mcp`, INIT);
      expect(Date.now() - fast).to.be.below(200);
      expect(refused.status).to.equal(502);
      expect(refused.json.error.message).to.match(/^the remote MCP server is failing its health checks: /);
      expect(refused.json.error.data).to.deep.include({ reason: 'health_check_failed', code: 'GW_MCP_SERVER_FAILING' });
      // It recovers with its next passing check.
      fixture.mode = 'normal';
      expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/slow/status')).json.health?.ok === true, 5000)).to.equal(true);
      const id = await rawSession(base);
      expect(id).to.be.a('string');
      await gw.admin('PATCH', '/mcp_servers/slow', { health_check: { interval: 0 } });
    });

    it('status of a remote server: its health check, the sessions it created upstream; tools by a probe session', async () => {
      const base = await fixtureServer('healthy', { health_check: { interval: 60, timeout: 2 } });
      expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/healthy/status')).json.health?.ok === true, 5000)).to.equal(true);
      const status = (await gw.admin('GET', '/mcp_servers/healthy/status')).json;
      expect(status).to.deep.include({ kind: 'remote', state: 'ready', children: 0 });
      expect(status.health.latency_ms).to.be.a('number');
      expect(fixture.sessions(), 'the health check ended its session').to.equal(0);
      const tools = await gw.admin('GET', '/mcp_servers/healthy/tools');
      expect(tools.json).to.deep.include({ source: 'probe', tools: [{ name: 'whoami', inputSchema: { type: 'object' } }] });
      expect(fixture.sessions(), 'the probe ended its session').to.equal(0);
      const id = await rawSession(base);
      const sessions = (await gw.admin('GET', '/mcp_servers/healthy/sessions')).json;
      expect(sessions.list.map((s: { id: string }) => s.id)).to.deep.equal([id]);
      expect(sessions.list[0]).to.not.have.property('child_pid');
    });

    it('an operator ends a remote session: the upstream session is deleted, the client gets 404', async () => {
      const base = await fixtureServer('ended');
      const id = await rawSession(base);
      expect(fixture.sessions()).to.equal(1);
      const ended = await gw.admin('DELETE', `/mcp_servers/ended/sessions/${id}`);
      expect(ended.status, ended.text).to.equal(200);
      expect(await waitFor(() => fixture.sessions() === 0, 5000), 'the upstream session is deleted').to.equal(true);
      const deletes = fixture.requests.filter((r) => r.method === 'DELETE');
      expect(deletes).to.have.length(1);
      expect(deletes[0].headers['mcp-session-id']).to.match(/^upstream-\d+$/);
      const after = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 5, method: 'ping' }, { 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' });
      expect(after.status).to.equal(404);
    });

    it('verifies TLS by default; tls.verify false accepts a self-signed certificate', async () => {
      const secure = await startFixture({ tls: true });
      try {
        expect((await gw.admin('PUT', '/mcp_servers/tls', { url: secure.url, health_check: { interval: 0 } })).status).to.equal(201);
        const base = await serverRoute('tls', 'tls');
        const refused = await post(`${base}/mcp`, INIT);
        expect(refused.status).to.equal(502);
        expect(refused.json.error.message).to.match(/^the remote MCP server's certificate could not be verified: /);
        expect(secure.sessions()).to.equal(0);
        expect((await gw.admin('PATCH', '/mcp_servers/tls', { tls: { verify: false } })).status).to.equal(200);
        const id = await rawSession(base);
        expect(id).to.be.a('string');
        expect(secure.sessions()).to.equal(1);
      } finally {
        await secure.close();
      }
    });

    it('refuses a remote server definition that is not one, naming the field', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ url: fixture.url, command: 'node' }, /command and url exclude each other/],
        [{ transport: 'sse' }, /command \(a stdio server\) or url \(a remote server\) is required/],
        [{ url: fixture.url, args: ['x'] }, /args is a setting of a stdio server/],
        [{ command: 'node', headers: { A: 'b' } }, /headers is a setting of a remote server/],
        [{ url: 'ftp://example.com/mcp' }, /url must be http:\/\/ or https:\/\//],
        [{ url: 'https://user:secret@example.com/mcp' }, /url must not carry credentials/],
        [{ url: 'not a url' }, /is not a URL/],
        [{ url: fixture.url, headers: { 'Mcp-Session-Id': 'x' } }, /headers\.Mcp-Session-Id: the gateway sets this header itself/],
        // Set per MCP 2026-07-28 request from its body: a second value would make the server refuse every one.
        [{ url: fixture.url, headers: { 'Mcp-Method': 'tools/call' } }, /headers\.Mcp-Method: the gateway sets this header itself/],
        [{ url: fixture.url, headers: { 'mcp-name': 'x' } }, /headers\.mcp-name: the gateway sets this header itself/],
        [{ url: fixture.url, headers: { 'Bad Header': 'x' } }, /headers/],
        [{ url: fixture.url, headers: { Authorization: '$env://TOLLGATE_ADMIN_KEY' } }, /names one of the gateway's own settings/],
        [{ url: fixture.url, transport: 'websocket' }, /transport/],
      ];
      for (const [body, error] of cases) {
        const res = await gw.admin('PUT', '/mcp_servers/bad-remote', body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.json.error_msg, JSON.stringify(body)).to.match(error);
      }
    });
  });
});
