/**
 * MCP servers as catalog resources (issue 12): `/apisix/admin/mcp_servers/{id}` with APISIX's
 * envelopes on both catalogs, routes that use a server by `server_id`, reference integrity,
 * secrets (`$env://` references, masking on GET), and session caps shared by the routes of one
 * server. Real gateways, real stdio servers, the SDK client over both transports.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { sharedRedis } from '../helpers/redis.js';
import { scrape } from '../observability/support.js';
import { FAULT_SERVER, INIT, TRANSPORTS, connect, descendants, endRawSession, isAlive, post, rawSession, startBridgeGateway, textOf, waitFor } from './support.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

const backends = [
  { name: 'embedded', options: async () => ({}) },
  { name: 'redis', options: async () => ({ redisUrl: (await sharedRedis()).url, keyPrefix: `servers${Date.now()}${Math.random().toString(36).slice(2, 7)}` }) },
];

const faultServer = (extra: Record<string, unknown> = {}) => ({ command: 'node', args: [FAULT_SERVER], ...extra });

async function envOf(base: string, transport: (typeof TRANSPORTS)[number] = 'streamable-http'): Promise<Record<string, string>> {
  const session = await connect(base, transport);
  try {
    return JSON.parse(textOf(await session.client.callTool({ name: 'env', arguments: {} }))) as Record<string, string>;
  } finally {
    await session.close();
  }
}

for (const backend of backends) {
  describe(`mcp_servers (${backend.name} catalog)`, function () {
    this.timeout(20_000);
    let gw: TestGateway;

    before(async () => {
      gw = await startBridgeGateway({ ...(await backend.options()), overrides: { admin: { keys: [{ name: 'dashboard', key: VIEWER_KEY, role: 'viewer' }] } } });
    });
    after(async () => {
      await gw.stop();
    });

    /** A route at /<id>/* using MCP server `server`; returns its base URL. */
    async function serverRoute(id: string, server: string | number, bridge: Record<string, unknown> = {}): Promise<string> {
      const res = await gw.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'mcp-bridge': { base_uri: `/${id}`, server_id: server, ...bridge } } });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
      return `${gw.url}/${id}`;
    }

    describe('the resource', () => {
      it('PUT creates (201) and replaces (200), GET answers one and all in APISIX envelopes', async () => {
        const created = await gw.admin('PUT', '/mcp_servers/fault', { name: 'fault fixture', labels: { team: 'tools' }, ...faultServer() });
        expect(created.status, created.text).to.equal(201);
        expect(created.json.key).to.equal('/apisix/mcp_servers/fault');
        expect(created.json.value).to.deep.include({ id: 'fault', name: 'fault fixture', command: 'node', args: [FAULT_SERVER] });
        expect(created.json.value.create_time).to.be.a('number');
        // Stored as sent: defaults are applied when the server is used.
        expect(created.json.value).to.not.have.property('max_sessions');
        const replaced = await gw.admin('PUT', '/mcp_servers/fault', { name: 'fault fixture', labels: { team: 'tools' }, ...faultServer({ init_timeout: 5 }) });
        expect(replaced.status).to.equal(200);
        const one = await gw.admin('GET', '/mcp_servers/fault');
        expect(one.status).to.equal(200);
        expect(one.json).to.include.keys('key', 'value', 'createdIndex', 'modifiedIndex');
        expect(one.json.value.init_timeout).to.equal(5);
        const all = await gw.admin('GET', '/mcp_servers');
        expect(all.json.total).to.equal(1);
        expect(all.json.list[0].key).to.equal('/apisix/mcp_servers/fault');
      });

      it('POST generates an id; PATCH merges; a sub-path PATCH replaces one attribute; DELETE removes', async () => {
        const posted = await gw.admin('POST', '/mcp_servers', faultServer());
        expect(posted.status, posted.text).to.equal(201);
        const id = posted.json.value.id as string;
        expect(id).to.match(/^\d{20}$/);
        const patched = await gw.admin('PATCH', `/mcp_servers/${id}`, { name: 'patched', max_sessions: 2 });
        expect(patched.status, patched.text).to.equal(200);
        expect(patched.json.value).to.deep.include({ name: 'patched', max_sessions: 2, command: 'node' });
        const sub = await gw.admin('PATCH', `/mcp_servers/${id}/args`, [FAULT_SERVER, '--no-init']);
        expect(sub.status, sub.text).to.equal(200);
        expect(sub.json.value.args).to.deep.equal([FAULT_SERVER, '--no-init']);
        const deleted = await gw.admin('DELETE', `/mcp_servers/${id}`);
        expect(deleted.status).to.equal(200);
        expect(deleted.json).to.deep.equal({ deleted: '1', key: `/apisix/mcp_servers/${id}` });
        const gone = await gw.admin('GET', `/mcp_servers/${id}`);
        expect(gone.status).to.equal(404);
        expect(gone.json).to.deep.equal({ message: 'Key not found' });
      });

      it('lists filter by name and label and page in creation order', async () => {
        for (let i = 0; i < 12; i++) {
          const res = await gw.admin('PUT', `/mcp_servers/page-${String(i).padStart(2, '0')}`, { name: i % 2 ? 'odd one' : 'even one', labels: { parity: i % 2 ? 'odd' : 'even' }, ...faultServer() });
          expect(res.status).to.equal(201);
        }
        expect((await gw.admin('GET', '/mcp_servers?name=^odd')).json.total).to.equal(6);
        expect((await gw.admin('GET', '/mcp_servers?label=parity:even')).json.total).to.equal(6);
        const page = await gw.admin('GET', '/mcp_servers?page=2&page_size=10');
        // 'fault' came first: 13 in all, the second page of ten holds the last three.
        expect(page.json.total).to.equal(13);
        expect(page.json.list.map((e: { value: { id: string } }) => e.value.id)).to.deep.equal(['page-09', 'page-10', 'page-11']);
        for (let i = 0; i < 12; i++) await gw.admin('DELETE', `/mcp_servers/page-${String(i).padStart(2, '0')}`);
      });

      it('refuses what is not a server with 400 naming the problem', async () => {
        const cases: Array<[unknown, RegExp]> = [
          [{ args: [FAULT_SERVER] }, /command \(a stdio server\) or url \(a remote server\) is required/],
          [{ ...faultServer(), colour: 'blue' }, /property "\/colour" validation failed: is not allowed \(unknown property\)/],
          [{ ...faultServer(), max_sessions: 0 }, /max_sessions/],
          [{ command: 'bash', args: ['-c', 'id'] }, /command "bash" is not in mcp\.allowed_commands/],
          [{ command: 'node', args: ['-e', 'process.exit(1)'] }, /args\[0\]/],
          [{ ...faultServer(), env: { API_TOKEN: '$env://not a name' } }, /env\.API_TOKEN: "\$env:\/\/not a name" must be \$env:\/\/ followed by an environment variable name/],
          [{ ...faultServer(), env: { API_TOKEN: '$secret://vault/gh' } }, /env\.API_TOKEN: secret manager references \(\$secret:\/\/…\) are not supported/],
          [{ ...faultServer(), env: { KEY: '$env://TOLLGATE_ADMIN_KEY' } }, /env\.KEY: \$env:\/\/TOLLGATE_ADMIN_KEY names one of the gateway's own settings/],
        ];
        for (const [body, error] of cases) {
          const res = await gw.admin('PUT', '/mcp_servers/bad', body);
          expect(res.status, JSON.stringify(body)).to.equal(400);
          expect(res.json.error_msg, JSON.stringify(body)).to.match(error);
        }
        expect((await gw.admin('GET', '/mcp_servers/bad')).status).to.equal(404);
      });

      it('serves its schema at /schema/mcp_server, with the common fields', async () => {
        const res = await gw.admin('GET', '/schema/mcp_server');
        expect(res.status).to.equal(200);
        expect(res.json.properties).to.include.keys('id', 'name', 'desc', 'labels', 'command', 'args', 'env', 'max_sessions');
      });
    });

    describe('routes that use a server', () => {
      before(async () => {
        expect((await gw.admin('PUT', '/mcp_servers/fixture', faultServer())).status).to.be.oneOf([200, 201]);
      });

      for (const transport of TRANSPORTS) {
        it(`${transport}: an SDK client reaches the server through a route naming it`, async () => {
          const base = await serverRoute(`by-ref-${transport}`, 'fixture');
          const session = await connect(base, transport);
          try {
            expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'by reference' } }))).to.equal('by reference');
          } finally {
            await session.close();
          }
        });
      }

      it('refuses a route naming a server that does not exist, or naming one and setting its fields too', async () => {
        const missing = await gw.admin('PUT', '/routes/nope', { uri: '/nope/*', plugins: { 'mcp-bridge': { base_uri: '/nope', server_id: 'nope' } } });
        expect(missing.status).to.equal(400);
        expect(missing.json.error_msg).to.equal('failed to fetch mcp server info by mcp server id [nope], response code: 404');
        const both = await gw.admin('PUT', '/routes/both', { uri: '/both/*', plugins: { 'mcp-bridge': { base_uri: '/both', server_id: 'fixture', max_sessions: 3 } } });
        expect(both.status).to.equal(400);
        expect(both.json.error_msg).to.contain('max_sessions is a setting of the MCP server: with server_id, set it on /apisix/admin/mcp_servers/fixture');
        const neither = await gw.admin('PUT', '/routes/neither', { uri: '/neither/*', plugins: { 'mcp-bridge': { base_uri: '/neither' } } });
        expect(neither.status).to.equal(400);
        expect(neither.json.error_msg).to.contain('command is required (or server_id');
      });

      it('keeps inline command routes working as before', async () => {
        const res = await gw.admin('PUT', '/routes/inline', { uri: '/inline/*', plugins: { 'mcp-bridge': { base_uri: '/inline', command: 'node', args: [FAULT_SERVER], max_sessions: 3 } } });
        expect(res.status, res.text).to.equal(201);
        const session = await connect(`${gw.url}/inline`, 'streamable-http');
        try {
          expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'inline' } }))).to.equal('inline');
        } finally {
          await session.close();
        }
      });

      it('refuses to DELETE a server a route uses; with force=true the route answers 503 until fixed', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/doomed', faultServer())).status).to.equal(201);
        const base = await serverRoute('doomed-route', 'doomed');
        const refused = await gw.admin('DELETE', '/mcp_servers/doomed');
        expect(refused.status).to.equal(400);
        expect(refused.json.error_msg).to.equal('can not delete this mcp server, route [doomed-route] is still using it now');
        expect((await gw.admin('GET', '/mcp_servers/doomed')).status).to.equal(200);
        const forced = await gw.admin('DELETE', '/mcp_servers/doomed?force=true');
        expect(forced.status).to.equal(200);
        const res = await post(`${base}/mcp`, INIT);
        expect(res.status).to.equal(503);
        expect((await gw.admin('PUT', '/mcp_servers/doomed', faultServer())).status).to.equal(201);
        const back = await post(`${base}/mcp`, INIT);
        expect(back.status, back.text).to.equal(200);
        await endRawSession(base, back.headers.get('mcp-session-id')!);
        await gw.admin('DELETE', '/routes/doomed-route');
        expect((await gw.admin('DELETE', '/mcp_servers/doomed')).status).to.equal(200);
      });

      it('a change to the server ends its sessions on every route using it; new sessions run the new definition', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/changing', faultServer({ env: { VERSION: 'one' } }))).status).to.equal(201);
        const a = await serverRoute('changing-a', 'changing');
        const b = await serverRoute('changing-b', 'changing');
        const sessionA = await rawSession(a);
        const sessionB = await rawSession(b);
        expect((await gw.admin('PATCH', '/mcp_servers/changing', { env: { VERSION: 'two' } })).status).to.equal(200);
        for (const [base, id] of [[a, sessionA], [b, sessionB]]) {
          const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' });
          expect(res.status, res.text).to.equal(404);
        }
        expect((await envOf(a)).VERSION).to.equal('two');
      });

      it('max_sessions and max_sessions_per_consumer count the sessions of every route using the server', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/capped', faultServer({ max_sessions: 2, session_reclaim_idle: 600 }))).status).to.equal(201);
        const a = await serverRoute('capped-a', 'capped');
        const b = await serverRoute('capped-b', 'capped');
        const first = await rawSession(a);
        const second = await rawSession(b);
        const third = await post(`${a}/mcp`, INIT);
        expect(third.status).to.equal(503);
        expect(third.json.error.message).to.equal('MCP server capped already has 2 sessions (max_sessions)');
        expect(third.headers.get('retry-after')).to.be.a('string');
        await endRawSession(b, second);
        const fourth = await rawSession(a);
        await endRawSession(a, first);
        await endRawSession(a, fourth);
      });
    });

    describe('seeing and steering a server', () => {
      const instance = /^.+:\d+$/;
      const fixtureChildren = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));

      it('status: idle, then ready with its sessions, children, starts and what initialize said; per instance', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/watched', faultServer())).status).to.equal(201);
        const idle = await gw.admin('GET', '/mcp_servers/watched/status');
        expect(idle.status, idle.text).to.equal(200);
        expect(idle.json).to.deep.include({ id: 'watched', state: 'idle', sessions: 0, children: 0, starts: 0, crashes: 0, last_exit: null, last_error: null, server_info: null });
        expect(idle.json.instance).to.match(instance);
        const base = await serverRoute('watched', 'watched');
        const session = await rawSession(base);
        const ready = (await gw.admin('GET', '/mcp_servers/watched/status')).json;
        expect(ready).to.deep.include({ state: 'ready', sessions: 1, children: 1, starts: 1, crashes: 0, protocol_version: '2025-11-25' });
        expect(ready.server_info).to.deep.equal({ name: 'tollgate-fault-fixture', version: '1.0.0' });
        await endRawSession(base, session);
        expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/watched/status')).json.children === 0, 5000)).to.equal(true);
        const after = (await gw.admin('GET', '/mcp_servers/watched/status')).json;
        expect(after).to.deep.include({ state: 'idle', sessions: 0, crashes: 0 });
        expect(after.last_exit).to.deep.include({ code: 0, signal: null, requested: true });
      });

      it('sessions: each live session with its route, transport, version, times, calls and child pid; DELETE ends one (404 for its client)', async () => {
        const base = `${gw.url}/watched`;
        const id = await rawSession(base);
        const headers = { 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' };
        expect((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, headers)).status).to.equal(200);
        const listed = await gw.admin('GET', '/mcp_servers/watched/sessions');
        expect(listed.status).to.equal(200);
        expect(listed.json.instance).to.match(instance);
        expect(listed.json.total).to.equal(1);
        const [entry] = listed.json.list;
        expect(entry).to.deep.include({ id, route: 'watched', consumer: null, transport: 'streamable-http', protocol_version: '2025-11-25', calls: 2 });
        expect(Date.parse(entry.created)).to.be.closeTo(Date.now(), 10_000);
        expect(Date.parse(entry.last_active)).to.be.at.least(Date.parse(entry.created));
        expect(isAlive(entry.child_pid)).to.equal(true);
        const ended = await gw.admin('DELETE', `/mcp_servers/watched/sessions/${id}`);
        expect(ended.status, ended.text).to.equal(200);
        expect(ended.json).to.deep.include({ deleted: '1', session: id });
        expect((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 2, method: 'ping' }, headers)).status).to.equal(404);
        expect(await waitFor(() => !isAlive(entry.child_pid), 5000), 'the child is stopped').to.equal(true);
        expect((await gw.admin('GET', '/mcp_servers/watched/sessions')).json).to.deep.include({ total: 0, list: [] });
        const again = await gw.admin('DELETE', `/mcp_servers/watched/sessions/${id}`);
        expect(again.status).to.equal(404);
        expect(again.json.error_msg).to.match(/has no session .* on this instance/);
        const metrics = await scrape(gw);
        expect(metrics.value('tollgate_mcp_sessions_ended_total', { route: 'watched', server: 'watched', reason: 'admin_ended' })).to.equal(1);
        expect(metrics.value('tollgate_mcp_tool_calls_total', { route: 'watched', server: 'watched', tool: 'echo', outcome: 'ok' })).to.equal(1);
        expect(metrics.value('tollgate_mcp_sessions_created_total', { route: 'inline', server: '' })).to.be.greaterThan(0);
      });

      it('logs: the last lines of its children\'s stderr, with session and time, bounded by log_lines; a crash is counted and its words kept', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/talkative', faultServer({ log_lines: 3 }))).status).to.equal(201);
        const base = await serverRoute('talkative', 'talkative');
        const session = await connect(base, 'streamable-http');
        const id = session.sessionId()!;
        for (const text of ['one', 'two', 'three', 'four']) await session.client.callTool({ name: 'stderr', arguments: { text: `line ${text}` } });
        await session.client.callTool({ name: 'stderr', arguments: { text: 'about to crash' } });
        const crash = await session.client.callTool({ name: 'crash', arguments: {} }).then(() => undefined, (err: Error) => err);
        expect(crash?.message).to.contain('the MCP server exited with code 1');
        await session.close();
        const logs = await gw.admin('GET', '/mcp_servers/talkative/logs');
        expect(logs.status, logs.text).to.equal(200);
        expect(logs.json.lines.map((l: { line: string }) => l.line)).to.deep.equal(['line three', 'line four', 'about to crash']);
        for (const line of logs.json.lines) {
          expect(line.session).to.equal(id);
          expect(Date.parse(line.time)).to.be.closeTo(Date.now(), 10_000);
        }
        expect((await gw.admin('GET', '/mcp_servers/talkative/logs?lines=1')).json.lines.map((l: { line: string }) => l.line)).to.deep.equal(['about to crash']);
        for (const bad of ['0', '4', 'many', '1.5']) {
          const res = await gw.admin('GET', `/mcp_servers/talkative/logs?lines=${bad}`);
          expect(res.status, bad).to.equal(400);
          expect(res.json.error_msg).to.equal("lines must be an integer from 1 to 3 (the server's log_lines)");
        }
        const status = (await gw.admin('GET', '/mcp_servers/talkative/status')).json;
        expect(status).to.deep.include({ state: 'degraded', crashes: 1 });
        expect(status.last_exit).to.deep.include({ code: 1, signal: null, requested: false });
        expect(status.last_error.message).to.equal('the MCP server exited with code 1');
      });

      it('a server that cannot start is failing, with the reason; once it starts again it is degraded (a recent failure)', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/broken', faultServer({ args: [FAULT_SERVER, '--exit-at-start=7'] }))).status).to.equal(201);
        const base = await serverRoute('broken', 'broken');
        const res = await post(`${base}/mcp`, INIT);
        expect(res.status).to.equal(502);
        const failing = (await gw.admin('GET', '/mcp_servers/broken/status')).json;
        expect(failing).to.deep.include({ state: 'failing', starts: 1, crashes: 1 });
        expect(failing.last_error.message).to.equal('the MCP server exited with code 7');
        expect((await gw.admin('PATCH', '/mcp_servers/broken', { args: [FAULT_SERVER] })).status).to.equal(200);
        const id = await rawSession(base);
        expect((await gw.admin('GET', '/mcp_servers/broken/status')).json.state).to.equal('degraded');
        await endRawSession(base, id);
      });

      it('tools: from a short probe session when none was seen (its child gone after), then from the latest list a session saw', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/offering', faultServer())).status).to.equal(201);
        const before = fixtureChildren().length;
        const probed = await gw.admin('GET', '/mcp_servers/offering/tools');
        expect(probed.status, probed.text).to.equal(200);
        expect(probed.json.source).to.equal('probe');
        expect(probed.json.instance).to.match(instance);
        expect(probed.json.tools.map((t: { name: string }) => t.name)).to.include.members(['echo', 'crash', 'stderr']);
        expect(await waitFor(() => fixtureChildren().length === before, 5000), 'the probe child is stopped').to.equal(true);
        expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/offering/status')).json.children === 0, 5000)).to.equal(true);
        const status = (await gw.admin('GET', '/mcp_servers/offering/status')).json;
        expect(status).to.deep.include({ starts: 1, sessions: 0, state: 'idle' });
        expect(status.server_info.name).to.equal('tollgate-fault-fixture');
        // The fixture declares no prompts: nothing to ask, an empty list.
        const prompts = await gw.admin('GET', '/mcp_servers/offering/prompts');
        expect(prompts.json).to.deep.include({ source: 'probe', prompts: [] });
        const base = await serverRoute('offering', 'offering');
        const session = await connect(base, 'sse');
        try {
          await session.client.listTools();
        } finally {
          await session.close();
        }
        const seen = await gw.admin('GET', '/mcp_servers/offering/tools');
        expect(seen.json.source).to.equal('session');
        expect(seen.json.tools).to.have.length(probed.json.tools.length);
      });

      it('answers 404 for a server or a view that does not exist, 405 for a method a view does not take', async () => {
        expect((await gw.admin('GET', '/mcp_servers/nobody/status')).status).to.equal(404);
        expect((await gw.admin('GET', '/mcp_servers/watched/nothing')).json).to.deep.equal({ error_msg: 'not found' });
        expect((await gw.admin('DELETE', '/mcp_servers/watched/status')).status).to.equal(405);
        expect((await gw.admin('GET', '/routes/watched/status')).status).to.equal(404);
      });
    });

    describe('secrets', () => {
      before(() => {
        process.env.SERVERS_TEST_SECRET = 'from-the-environment';
        process.env.SERVERS_TEST_JSON = JSON.stringify({ token: 'from-json' });
      });
      after(() => {
        delete process.env.SERVERS_TEST_SECRET;
        delete process.env.SERVERS_TEST_JSON;
      });

      it('GET masks literal values of secret-looking keys for every role; references are shown as written', async () => {
        const env = { API_KEY: 'literal-key', GITHUB_TOKEN: '$env://SERVERS_TEST_SECRET', DB_PASSWORD: 'hunter2', client_secret: 's', LOG_LEVEL: 'debug', JSON_TOKEN: '$env://SERVERS_TEST_JSON/token' };
        const put = await gw.admin('PUT', '/mcp_servers/secretive', faultServer({ env }));
        expect(put.status, put.text).to.equal(201);
        const masked = { API_KEY: '******', GITHUB_TOKEN: '$env://SERVERS_TEST_SECRET', DB_PASSWORD: '******', client_secret: '******', LOG_LEVEL: 'debug', JSON_TOKEN: '$env://SERVERS_TEST_JSON/token' };
        expect(put.json.value.env).to.deep.equal(masked);
        expect((await gw.admin('GET', '/mcp_servers/secretive')).json.value.env).to.deep.equal(masked);
        expect((await gw.admin('GET', '/mcp_servers')).json.list.find((e: { key: string }) => e.key.endsWith('/secretive')).value.env).to.deep.equal(masked);
        const viewer = await gw.admin('GET', '/mcp_servers/secretive', undefined, VIEWER_KEY);
        expect(viewer.json.value.env).to.deep.equal({ ...masked, LOG_LEVEL: '******' });
        expect(viewer.json.value.args).to.equal('******');
      });

      it('a GET, an edit and a PUT keep the masked secrets; a mask with nothing behind it is refused', async () => {
        const got = (await gw.admin('GET', '/mcp_servers/secretive')).json.value;
        const { create_time: _c, update_time: _u, ...body } = got;
        const put = await gw.admin('PUT', '/mcp_servers/secretive', { ...body, desc: 'edited' });
        expect(put.status, put.text).to.equal(200);
        const base = await serverRoute('secretive', 'secretive');
        const env = await envOf(base);
        expect(env).to.deep.include({ API_KEY: 'literal-key', DB_PASSWORD: 'hunter2', GITHUB_TOKEN: 'from-the-environment', LOG_LEVEL: 'debug', JSON_TOKEN: 'from-json' });
        const invented = await gw.admin('PUT', '/mcp_servers/secretive', { ...body, env: { ...body.env, NEW_TOKEN: '******' } });
        expect(invented.status).to.equal(400);
        expect(invented.json.error_msg).to.contain('env.NEW_TOKEN is "******", the mask a GET shows for a secret, and no value is stored for it');
      });

      it('a reference to a variable the gateway does not have fails the start with 502 naming it, never a value', async () => {
        expect((await gw.admin('PUT', '/mcp_servers/unset', faultServer({ env: { API_TOKEN: '$env://SERVERS_TEST_UNSET' } }))).status).to.equal(201);
        const base = await serverRoute('unset', 'unset');
        const res = await post(`${base}/mcp`, INIT);
        expect(res.status).to.equal(502);
        expect(res.json.error.message).to.equal("the MCP server's env.API_TOKEN refers to $env://SERVERS_TEST_UNSET, which does not resolve: environment variable SERVERS_TEST_UNSET ($env://SERVERS_TEST_UNSET) is not set");
        expect(res.json.error.data).to.deep.include({ reason: 'secret_missing', field: 'env.API_TOKEN', variable: 'SERVERS_TEST_UNSET' });
      });

      it('a reference that resolves to code-loading options is refused before any start', async () => {
        process.env.SERVERS_TEST_NODE_OPTIONS = '--require /tmp/evil.js';
        try {
          expect((await gw.admin('PUT', '/mcp_servers/sneaky', faultServer({ env: { NODE_OPTIONS: '$env://SERVERS_TEST_NODE_OPTIONS' } }))).status).to.equal(201);
          const base = await serverRoute('sneaky', 'sneaky');
          const res = await post(`${base}/mcp`, INIT);
          expect(res.status).to.equal(503);
          expect(res.json.error.data).to.deep.include({ reason: 'not_allowed', field: 'env.NODE_OPTIONS' });
        } finally {
          delete process.env.SERVERS_TEST_NODE_OPTIONS;
        }
      });
    });
  });
}
