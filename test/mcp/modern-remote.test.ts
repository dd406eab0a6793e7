/**
 * MCP 2026-07-28 requests through remote `mcp_servers` (issue 16): a remote server that speaks
 * 2026-07-28 (the v2 SDK's `createMcpHandler` on loopback) gets them as modern requests; one that
 * does not (the hand-written 2025 fixture, server-everything's HTTP mode) gets them translated.
 * The clients are the v2 SDK client pinned to 2026-07-28, the v1 SDK client on 2025-11-25, and raw
 * requests; what reached the servers is read off their own records.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { scrape } from '../observability/support.js';
import { startFixture, type Fixture } from './remote-fixture.js';
import { startModernServer, type ModernServer } from './modern-remote-server.js';
import { connect, post, readEvents, startBridgeGateway, startRemoteEverything, textOf, waitFor, type RemoteServer } from './support.js';

const MODERN = '2026-07-28';
const VERSION_META = 'io.modelcontextprotocol/protocolVersion';
const KEYS = { alice: 'alice-key-0123456789', bob: 'bob-key-0123456789' };
const GATEWAY_TOKEN = 'Bearer the-gateway-own-token';

/** A raw 2026-07-28 request: the `_meta` envelope and the headers a modern client sends. */
function modern(id: number | string, method: string, params: Record<string, unknown> = {}) {
  const meta = { [VERSION_META]: MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
  const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...meta, ...((params._meta as object) ?? {}) } } };
  const headers: Record<string, string> = { 'mcp-protocol-version': MODERN, 'mcp-method': method };
  const name = (params.name ?? params.uri) as string | undefined;
  if (name !== undefined) headers['mcp-name'] = name;
  return { body, headers };
}

function modernClient(base: string, apikey: string) {
  const client = new ModernClient({ name: 'modern-only', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
  const transport = new ModernTransport(new URL(`${base}/mcp`), { requestInit: { headers: { apikey } } });
  return { client, connected: client.connect(transport) };
}

describe('mcp-bridge: MCP 2026-07-28 requests through remote mcp_servers', function () {
  this.timeout(40_000);
  let gw: TestGateway;
  let server: ModernServer;
  let fixture: Fixture;
  let everything: RemoteServer;
  const bases: Record<string, string> = {};

  /** A route at /<id>/* naming MCP server `id`, behind key-auth; alice may not see `secret`. */
  async function route(id: string, record: Record<string, unknown>, bridge: Record<string, unknown> = {}): Promise<string> {
    const put = await gw.admin('PUT', `/mcp_servers/${id}`, { health_check: { interval: 0 }, ...record });
    expect(put.status, put.text).to.be.oneOf([200, 201]);
    const res = await gw.admin('PUT', `/routes/${id}`, {
      uri: `/${id}/*`,
      plugins: { 'key-auth': {}, 'mcp-bridge': { base_uri: `/${id}`, server_id: id, ...bridge } },
    });
    expect(res.status, res.text).to.be.oneOf([200, 201]);
    return `${gw.url}/${id}`;
  }

  before(async () => {
    gw = await startBridgeGateway();
    for (const [name, key] of Object.entries(KEYS)) {
      const acl = name === 'alice' ? { 'mcp-acl': { deny: ['secret'] } } : {};
      const res = await gw.admin('PUT', `/consumers/${name}`, { username: name, plugins: { 'key-auth': { key }, ...acl } });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    }
    [server, fixture, everything] = await Promise.all([startModernServer(), startFixture(), startRemoteEverything('streamableHttp')]);
    bases.modern = await route('modern', { url: server.url, headers: { authorization: GATEWAY_TOKEN } });
    bases.slow = await route('modern-slow', { url: server.url, request_timeout: 1 });
    bases.fixture = await route('legacy-fixture', { url: fixture.url });
    bases.everything = await route('legacy-everything', { url: everything.url });
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([server?.close(), fixture?.close(), everything?.stop()]);
  });

  beforeEach(() => {
    server.listHint = undefined;
  });

  describe('a remote server that speaks 2026-07-28', () => {
    it('gets the v2 client’s requests as modern requests, never an initialize, with the record’s credentials and the client’s _meta', async () => {
      const { client, connected } = modernClient(bases.modern, KEYS.bob);
      await connected;
      try {
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).to.include.members(['echo', 'secret', 'wait']);
        expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'two hops, one era' } }))).to.equal('echo: two hops, one era');
      } finally {
        await client.close();
      }
      expect(server.count('initialize')).to.equal(0);
      const call = server.requests.find((r) => r.body?.method === 'tools/call' && r.body.params?.name === 'echo')!;
      expect(call.headers).to.include({ 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo', authorization: GATEWAY_TOKEN });
      expect(call.headers).to.not.have.property('apikey');
      expect(call.headers).to.not.have.property('mcp-session-id');
      expect(call.body!.params!._meta[VERSION_META]).to.equal(MODERN);
      expect(call.body!.params!._meta['io.modelcontextprotocol/clientInfo']).to.deep.equal({ name: 'modern-only', version: '1' });
    });

    it('sends none of the client’s credentials or session headers, only its Mcp-Param-*; passes none of the server’s response headers back', async () => {
      server.answerHeaders = { 'set-cookie': 'remote-session=abc', 'x-remote-internal': 'yes' };
      try {
        const { body, headers } = modern('cred-1', 'tools/call', { name: 'echo', arguments: { message: 'whose token?' } });
        const res = await post(`${bases.modern}/mcp`, body, {
          ...headers,
          apikey: KEYS.bob,
          authorization: 'Bearer the-client-own-token',
          cookie: 'client-session=xyz',
          'x-api-key': 'client-api-key',
          'mcp-session-id': 'client-session-id',
          'mcp-param-message': 'whose token?',
        });
        expect(textOf(res.json.result)).to.equal('echo: whose token?');
        expect(res.headers.get('set-cookie')).to.equal(null);
        expect(res.headers.get('x-remote-internal')).to.equal(null);
        const call = server.requests.find((r) => r.body?.id === 'cred-1')!;
        expect(call.headers.authorization).to.equal(GATEWAY_TOKEN);
        expect(call.headers['mcp-param-message']).to.equal('whose token?');
        for (const name of ['apikey', 'cookie', 'x-api-key', 'mcp-session-id']) expect(call.headers, name).to.not.have.property(name);
      } finally {
        server.answerHeaders = {};
      }
    });

    it('keeps serving a 2025-era client on the same route, through a 2025 session with the server', async () => {
      const before = server.count('initialize');
      const legacy = await connect(bases.modern, 'streamable-http', { headers: { apikey: KEYS.bob } });
      try {
        const { tools } = await legacy.client.listTools();
        expect(tools.map((t) => t.name)).to.include('echo');
        expect(textOf(await legacy.client.callTool({ name: 'echo', arguments: { message: 'from 2025' } }))).to.equal('echo: from 2025');
      } finally {
        await legacy.close();
      }
      expect(server.count('initialize')).to.equal(before + 1);
    });

    it('passes the server’s own modern errors on: an unknown method is its 404 -32601', async () => {
      const { body, headers } = modern('u-1', 'no/such-method');
      const res = await post(`${bases.modern}/mcp`, body, { ...headers, apikey: KEYS.bob });
      expect(res.status, res.text).to.equal(404);
      expect(res.json).to.deep.include({ id: 'u-1' });
      expect(res.json.error.code).to.equal(-32601);
    });

    it('streams a call’s progress back and, when the client closes its stream, cancels the call at the server', async () => {
      const { body, headers } = modern('w-1', 'tools/call', { name: 'wait', arguments: { tag: 'closed-by-client' }, _meta: { progressToken: 'p-1' } });
      const controller = new AbortController();
      const res = await fetch(`${bases.modern}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', apikey: KEYS.bob, ...headers },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.contain('text/event-stream');
      const events = await readEvents(res, (list) => list.some((e) => e.data.includes('notifications/progress')));
      const progress = JSON.parse(events.find((e) => e.data.includes('notifications/progress'))!.data);
      expect(progress.params).to.include({ progressToken: 'p-1', progress: 1 });
      controller.abort();
      expect(await waitFor(() => server.aborted.includes('closed-by-client'), 5000)).to.equal(true);
      const call = server.requests.find((r) => r.body?.params?.arguments?.tag === 'closed-by-client')!;
      expect(call.closedEarly).to.equal(true);
    });

    it('answers a call the server has not answered within request_timeout with the JSON-RPC timeout error, and cancels it at the server', async () => {
      const { body, headers } = modern('t-1', 'tools/call', { name: 'wait', arguments: { tag: 'timed-out' } });
      const res = await fetch(`${bases.slow}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', apikey: KEYS.bob, ...headers },
        body: JSON.stringify(body),
      });
      expect(res.status).to.equal(200);
      const text = await res.text();
      // JSON, or the last event of an SSE answer.
      const lines = res.headers.get('content-type')!.includes('text/event-stream') ? text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)) : [text];
      const answer = JSON.parse(lines.find((l) => l.includes('"t-1"'))!);
      expect(answer.id).to.equal('t-1');
      expect(answer.error.code).to.equal(-32001);
      expect(answer.error.message).to.match(/^Request timed out after 1(\.\d)? s$/);
      expect(await waitFor(() => server.aborted.includes('timed-out'), 5000)).to.equal(true);
    });

    it('lets a call that keeps reporting progress run past request_timeout', async () => {
      const { body, headers } = modern('k-1', 'tools/call', { name: 'ticks', arguments: { count: 4, everyMs: 400 }, _meta: { progressToken: 'k' } });
      const res = await fetch(`${bases.slow}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', apikey: KEYS.bob, ...headers },
        body: JSON.stringify(body),
      });
      const events = await readEvents(res, (list) => list.some((e) => e.data.includes('"k-1"')));
      expect(events.filter((e) => e.data.includes('notifications/progress'))).to.have.length(4);
      const answer = JSON.parse(events.find((e) => e.data.includes('"k-1"'))!.data);
      expect(textOf(answer.result)).to.equal('ticked 4');
    });

    it('applies mcp-acl to the modern answers: alice cannot see nor call `secret`, bob can', async () => {
      const list = (apikey: string) => post(`${bases.modern}/mcp`, modern('l', 'tools/list').body, { ...modern('l', 'tools/list').headers, apikey });
      const [alice, bob] = await Promise.all([list(KEYS.alice), list(KEYS.bob)]);
      expect(alice.json.result.tools.map((t: { name: string }) => t.name)).to.not.include('secret');
      expect(bob.json.result.tools.map((t: { name: string }) => t.name)).to.include('secret');
      const call = modern('c', 'tools/call', { name: 'secret', arguments: {} });
      const denied = await post(`${bases.modern}/mcp`, call.body, { ...call.headers, apikey: KEYS.alice });
      expect(denied.text).to.not.contain('the secret');
      const allowed = await post(`${bases.modern}/mcp`, call.body, { ...call.headers, apikey: KEYS.bob });
      expect(textOf(allowed.json.result)).to.equal('the secret');
      expect(server.requests.some((r) => r.body?.method === 'tools/call' && r.body.params?.name === 'secret' && r.headers.apikey === undefined)).to.equal(true);
    });
  });

  describe('a remote server that speaks 2026-07-28 and fails mid-answer', () => {
    let dying: ModernServer;
    after(() => dying?.close());

    it('ends the client’s stream with a JSON-RPC error naming the cut, not silently; the route serves the next call', async () => {
      dying = await startModernServer();
      const base = await route('modern-dying', { url: dying.url });
      const { body, headers } = modern('d-1', 'tools/call', { name: 'wait', arguments: { tag: 'cut' }, _meta: { progressToken: 'd' } });
      const res = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', apikey: KEYS.bob, ...headers },
        body: JSON.stringify(body),
      });
      expect(res.headers.get('content-type')).to.contain('text/event-stream');
      let cut = false;
      const events = await readEvents(res, (seen) => {
        if (!cut && seen.some((e) => e.data.includes('notifications/progress'))) {
          cut = true;
          dying.dropConnections();
        }
        return seen.some((e) => e.data.includes('"d-1"'));
      });
      expect(cut).to.equal(true);
      const answer = events.map((e) => JSON.parse(e.data)).find((m) => m.id === 'd-1');
      expect(answer, JSON.stringify(events)).to.not.equal(undefined);
      expect(answer.error).to.deep.include({ code: -32000, message: 'the remote MCP server closed the stream before answering' });
      expect(answer.error.data).to.deep.include({ reason: 'upstream_stream_cut' });
      const next = modern('d-2', 'tools/call', { name: 'echo', arguments: { message: 'still here' } });
      expect(textOf((await post(`${base}/mcp`, next.body, { ...next.headers, apikey: KEYS.bob })).json.result)).to.equal('echo: still here');
    });
  });

  describe('a remote server that speaks 2026-07-28 and does not answer the request', () => {
    let wrong: Server;
    after(() => new Promise<void>((resolve) => (wrong ? wrong.close(() => resolve()) : resolve())));

    it('is the gateway’s 502 (no answer the client can use) for a response to another id, not passed on nor cached, and for a 202', async () => {
      // server/discover is answered properly; anything else gets a response naming another id.
      wrong = createServer((req, res) => {
        let text = '';
        req.on('data', (chunk: Buffer) => (text += chunk));
        req.on('end', () => {
          const message = JSON.parse(text) as { id: unknown; method: string };
          const result =
            message.method === 'server/discover'
              ? { supportedVersions: [MODERN], capabilities: { tools: {} }, serverInfo: { name: 'wrong-id', version: '1' }, resultType: 'complete', ttlMs: 0, cacheScope: 'public' }
              : { tools: [{ name: 'from-someone-else', inputSchema: { type: 'object' } }], resultType: 'complete', ttlMs: 60_000, cacheScope: 'public' };
          if (message.method === 'tools/call') {
            // Accepted, as a notification is: a request gets no response at all.
            res.writeHead(202);
            return res.end();
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', id: message.method === 'server/discover' ? message.id : 'not-yours', result }));
        });
      });
      await new Promise<void>((resolve) => wrong.listen(0, '127.0.0.1', resolve));
      const base = await route('modern-wrong-id', { url: `http://127.0.0.1:${(wrong.address() as { port: number }).port}/mcp` });
      const { body, headers } = modern('mine', 'tools/list');
      const res = await post(`${base}/mcp`, body, { ...headers, apikey: KEYS.bob });
      expect(res.status, res.text).to.equal(502);
      expect(res.json.error.data).to.deep.include({ reason: 'upstream_invalid' });
      expect(res.text).to.not.contain('from-someone-else');
      const call = modern('mine-too', 'tools/call', { name: 'echo', arguments: {} });
      const accepted = await post(`${base}/mcp`, call.body, { ...call.headers, apikey: KEYS.bob });
      expect(accepted.status, accepted.text).to.equal(502);
      expect(accepted.json.error.data).to.deep.include({ reason: 'upstream_invalid' });
    });
  });

  describe('a remote server that speaks 2026-07-28: its tool calls in the metrics', () => {
    it('counts each modern tools/call by outcome as sessions do: ok, denied (mcp-acl), timeout', async () => {
      const count = async (route: string, tool: string, outcome: string) =>
        (await scrape(gw)).value('tollgate_mcp_tool_calls_total', { route, server: route, tool, outcome });
      const before = { ok: await count('modern', 'echo', 'ok'), denied: await count('modern', 'secret', 'denied'), timeout: await count('modern-slow', 'wait', 'timeout') };
      const call = (base: string, apikey: string, name: string, args: Record<string, unknown>) => {
        const { body, headers } = modern(`m-${name}`, 'tools/call', { name, arguments: args });
        return post(`${base}/mcp`, body, { ...headers, apikey });
      };
      await call(bases.modern, KEYS.bob, 'echo', { message: 'counted' });
      await call(bases.modern, KEYS.alice, 'secret', {});
      await call(bases.slow, KEYS.bob, 'wait', { tag: 'counted-timeout' });
      expect(await count('modern', 'echo', 'ok')).to.equal(before.ok + 1);
      expect(await count('modern', 'secret', 'denied')).to.equal(before.denied + 1);
      expect(await count('modern-slow', 'wait', 'timeout')).to.equal(before.timeout + 1);
    });
  });

  describe('a remote server replaced in place', () => {
    const servers: ModernServer[] = [];
    after(() => Promise.all(servers.map((s) => s.close())));
    const call = (base: string, message: string) => {
      const { body, headers } = modern(message, 'tools/call', { name: 'echo', arguments: { message } });
      return post(`${base}/mcp`, body, { ...headers, apikey: KEYS.bob });
    };
    const modernCall = (at: ModernServer, message: string) =>
      at.requests.filter((r) => r.body?.method === 'tools/call' && r.body.params?.arguments?.message === message && r.headers['mcp-protocol-version'] === MODERN);

    it('stops getting modern requests once it answers as a 2025-era server; the request it refused is translated, not failed', async () => {
      const switching = await startModernServer();
      servers.push(switching);
      const base = await route('switch-down', { url: switching.url });
      expect(textOf((await call(base, 'first')).json.result)).to.equal('echo: first');
      expect(switching.count('initialize')).to.equal(0);
      switching.refuseModern = true;
      const second = await call(base, 'second');
      expect(second.status, second.text).to.equal(200);
      expect(textOf(second.json.result)).to.equal('echo: second');
      expect(modernCall(switching, 'second'), 'tried as a modern request once').to.have.length(1);
      expect(switching.count('initialize')).to.equal(1);
      const third = await call(base, 'third');
      expect(textOf(third.json.result)).to.equal('echo: third');
      expect(modernCall(switching, 'third'), 'known to be 2025-era now').to.have.length(0);
      expect((await gw.admin('GET', '/mcp_servers/switch-down/status')).json.era).to.equal('2025');
    });

    it('gets modern requests again after a health check finds it speaks 2026-07-28', async () => {
      const switching = await startModernServer();
      servers.push(switching);
      switching.refuseModern = true;
      const base = await route('switch-up', { url: switching.url, health_check: { interval: 0.2, timeout: 2 } });
      expect(textOf((await call(base, 'before')).json.result)).to.equal('echo: before');
      expect(switching.count('initialize')).to.be.at.least(1);
      switching.refuseModern = false;
      let n = 0;
      const upgraded = await waitFor(async () => {
        const message = `after-${++n}`;
        expect(textOf((await call(base, message)).json.result)).to.equal(`echo: ${message}`);
        return modernCall(switching, message).length === 1;
      }, 5000);
      expect(upgraded).to.equal(true);
    });
  });

  describe('a remote server that speaks 2026-07-28: its tool calls in the audit log', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-modern-audit-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('writes one mcp_tool_call audit entry per modern tools/call, with the consumer and no session', async () => {
      const file = join(dir, 'audit.log');
      const put = await gw.admin('PUT', '/routes/modern-audit', {
        uri: '/modern-audit/*',
        plugins: { 'key-auth': {}, 'file-logger': { path: file, mcp_tool_audit: true, include_tool_arguments: true }, 'mcp-bridge': { base_uri: '/modern-audit', server_id: 'modern' } },
      });
      expect(put.status, put.text).to.be.oneOf([200, 201]);
      const { body, headers } = modern('a-1', 'tools/call', { name: 'echo', arguments: { message: 'audited' } });
      const res = await post(`${gw.url}/modern-audit/mcp`, body, { ...headers, apikey: KEYS.alice });
      expect(textOf(res.json.result)).to.equal('echo: audited');
      const audits = () =>
        (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []).map((l) => JSON.parse(l) as Record<string, any>).filter((e) => e.type === 'mcp_tool_call');
      expect(await waitFor(() => audits().length === 1, 5000)).to.equal(true);
      expect(audits()[0]).to.deep.include({ route_id: 'modern-audit', consumer: 'alice', session_id: '', tool: 'echo', id: 'a-1', outcome: 'ok', arguments: { message: 'audited' } });
    });
  });

  describe('a remote server that speaks only 2026-07-28', () => {
    let only: ModernServer;
    before(async () => {
      only = await startModernServer({ legacy: 'reject' });
      bases.only = await route('modern-only', { url: only.url, health_check: { interval: 60, timeout: 2 } });
    });
    after(() => only?.close());

    it('passes its health checks by server/discover and serves the v2 client; a 2025-era client gets 502 saying what the server answered', async () => {
      expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/modern-only/status')).json.health?.ok === true, 5000)).to.equal(true);
      expect((await gw.admin('GET', '/mcp_servers/modern-only/status')).json.era).to.equal('2026-07-28');
      const { client, connected } = modernClient(bases.only, KEYS.bob);
      await connected;
      try {
        expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'modern only' } }))).to.equal('echo: modern only');
      } finally {
        await client.close();
      }
      const init = await post(
        `${bases.only}/mcp`,
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'old', version: '1' } } },
        { apikey: KEYS.bob },
      );
      expect(init.status, init.text).to.equal(502);
      expect(init.json.error.message).to.match(/^the remote MCP server answered HTTP 4\d\d/);
      expect(only.count('initialize')).to.equal(1);
    });

    it('lists its tools and prompts for the Admin API by stateless requests: server/discover, then the list', async () => {
      const tools = await gw.admin('GET', '/mcp_servers/modern-only/tools');
      expect(tools.status, tools.text).to.equal(200);
      expect(tools.json.source).to.equal('probe');
      expect(tools.json.tools.map((t: { name: string }) => t.name)).to.include.members(['echo', 'secret', 'wait']);
      const prompts = await gw.admin('GET', '/mcp_servers/modern-only/prompts');
      expect(prompts.json.prompts.map((p: { name: string }) => p.name)).to.deep.equal(['greet']);
      const status = (await gw.admin('GET', '/mcp_servers/modern-only/status')).json;
      expect(status.server_info).to.deep.include({ name: 'modern-remote' });
      expect(status.protocol_version).to.equal(MODERN);
      expect(only.count('initialize'), 'only the 2025-era client’s refused one').to.equal(1);
      const list = only.requests.find((r) => r.body?.method === 'tools/list')!;
      expect(list.headers).to.include({ 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' });
      expect(list.body!.params!._meta['io.modelcontextprotocol/clientInfo']).to.deep.include({ name: 'tollgate' });
    });
  });

  describe('a remote server that speaks only the 2025 revisions', () => {
    it('gets the v2 client’s requests translated: a server/discover it refuses, then a 2025 session', async () => {
      const { client, connected } = modernClient(bases.fixture, KEYS.bob);
      await connected;
      try {
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).to.deep.equal(['whoami']);
      } finally {
        await client.close();
      }
      const methods = fixture.requests.map((r) => (r.body ? (JSON.parse(r.body) as { method?: string }).method : undefined));
      expect(methods).to.include('server/discover');
      expect(methods).to.include('initialize');
      expect((await gw.admin('GET', '/mcp_servers/legacy-fixture/status')).json.era).to.equal('2025');
      const list = fixture.requests.find((r) => r.body.includes('"tools/list"'))!;
      expect(list.headers['mcp-session-id']).to.be.a('string');
      expect(list.headers['mcp-protocol-version']).to.equal('2025-11-25');
    });

    it('serves the v2 client pinned to 2026-07-28 from server-everything in its 2025 HTTP mode', async () => {
      const { client, connected } = modernClient(bases.everything, KEYS.bob);
      await connected;
      try {
        expect(client.getServerVersion()?.name).to.equal('mcp-servers/everything');
        expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'translated' } }))).to.equal('Echo: translated');
      } finally {
        await client.close();
      }
    });
  });

  describe('the route’s list cache', () => {
    let base: string;
    let routes = 0;
    const list = (apikey: string, params: Record<string, unknown> = {}) => {
      const { body, headers } = modern('list', 'tools/list', params);
      return post(`${base}/mcp`, body, { ...headers, apikey });
    };

    // Each test gets a new route to the same server, so its cache starts empty.
    beforeEach(async () => {
      routes += 1;
      const id = `modern-cache-${routes}`;
      const res = await gw.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'key-auth': {}, 'mcp-bridge': { base_uri: `/${id}`, server_id: 'modern' } } });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
      base = `${gw.url}/${id}`;
    });
    const names = (res: { json: { result: { tools: Array<{ name: string }> } } }) => res.json.result.tools.map((t) => t.name);

    it('answers a public list again without reaching the server, and filters it per consumer all the same', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'public' };
      const first = await list(KEYS.bob);
      const before = server.count('tools/list');
      const [bob, alice] = await Promise.all([list(KEYS.bob), list(KEYS.alice)]);
      expect(server.count('tools/list')).to.equal(before);
      expect(names(bob)).to.deep.equal(names(first));
      expect(names(bob)).to.include('secret');
      expect(names(alice)).to.not.include('secret');
      expect(names(alice)).to.include('echo');
      expect(bob.json.result.cacheScope).to.equal('public');
      // Alice's list is filtered for her: no shared cache after the gateway may hand it to others.
      expect(alice.json.result.cacheScope).to.equal('private');
      // ...and not to be kept by her client either: an access-list change could not reach it.
      expect(alice.json.result.ttlMs).to.equal(0);
      // Fresh for what is left of the route's bound (list_cache_max_ttl, 10 s by default), not the server's minute.
      expect(bob.json.result.ttlMs).to.be.within(1, 10_000);
      const other = await list(KEYS.bob, { cursor: 'another-page' });
      expect(other.status).to.be.oneOf([200, 400]);
      expect(server.count('tools/list')).to.equal(before + 1);
    });

    it('asks the server again once the entry’s ttlMs has passed', async () => {
      server.listHint = { ttlMs: 300, cacheScope: 'public' };
      await list(KEYS.bob);
      const before = server.count('tools/list');
      await list(KEYS.bob);
      expect(server.count('tools/list')).to.equal(before);
      const reached = await waitFor(async () => {
        await list(KEYS.bob);
        return server.count('tools/list') > before;
      }, 5000);
      expect(reached).to.equal(true);
    });

    it('forgets a list when the server says it changed (list_changed on a subscriptions/listen stream)', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'public' };
      const { body, headers } = modern('listen-1', 'subscriptions/listen', { notifications: { toolsListChanged: true } });
      const controller = new AbortController();
      const stream = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', apikey: KEYS.bob, ...headers },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      try {
        expect(stream.headers.get('content-type')).to.contain('text/event-stream');
        await list(KEYS.bob);
        const before = server.count('tools/list');
        await list(KEYS.bob);
        expect(server.count('tools/list')).to.equal(before);
        server.toolsChanged();
        const events = await readEvents(stream, (seen) => seen.some((e) => e.data.includes('notifications/tools/list_changed')));
        expect(events.some((e) => e.data.includes('notifications/subscriptions/acknowledged'))).to.equal(true);
        await list(KEYS.bob);
        expect(server.count('tools/list')).to.equal(before + 1);
      } finally {
        controller.abort();
      }
    });

    it('forgets a list when the server says it changed with no client listening: the gateway listens itself', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'public' };
      await list(KEYS.bob);
      // Caching a list made the gateway open its own subscriptions/listen stream to the server.
      const subscribed = await waitFor(
        () => server.requests.some((r) => r.body?.method === 'subscriptions/listen' && r.body.params?._meta?.['io.modelcontextprotocol/clientInfo']?.name === 'tollgate' && r.responded && !r.closedEarly),
        5000,
      );
      expect(subscribed).to.equal(true);
      expect(server.requests.find((r) => r.body?.method === 'subscriptions/listen' && r.headers.authorization === GATEWAY_TOKEN)).to.not.equal(undefined);
      const before = server.count('tools/list');
      await list(KEYS.bob);
      expect(server.count('tools/list')).to.equal(before);
      server.toolsChanged();
      // Well before the entry's freshness (10 s: list_cache_max_ttl) could run out.
      const refetched = await waitFor(async () => {
        await list(KEYS.bob);
        return server.count('tools/list') > before;
      }, 3000);
      expect(refetched).to.equal(true);
    });

    it('closes the gateway’s own stream to the server once no route uses the server', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'public' };
      const token = 'Bearer the-listener-record';
      const own = await route('listener-record', { url: server.url, headers: { authorization: token } });
      const { body, headers } = modern('l', 'tools/list');
      expect((await post(`${own}/mcp`, body, { ...headers, apikey: KEYS.bob })).status).to.equal(200);
      const listen = () => server.requests.find((r) => r.body?.method === 'subscriptions/listen' && r.headers.authorization === token);
      expect(await waitFor(() => listen()?.responded === true, 5000)).to.equal(true);
      expect(listen()!.closedEarly).to.equal(false);
      expect((await gw.admin('DELETE', '/routes/listener-record')).status).to.equal(200);
      expect(await waitFor(() => listen()!.closedEarly, 5000)).to.equal(true);
    });

    it('keeps a private list per consumer: never served to another', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'private' };
      const before = server.count('tools/list');
      await list(KEYS.alice);
      await list(KEYS.alice);
      expect(server.count('tools/list')).to.equal(before + 1);
      const bob = await list(KEYS.bob);
      expect(server.count('tools/list')).to.equal(before + 2);
      expect(names(bob)).to.include('secret');
    });

    it('keeps at most list_cache_max_entries lists, the least recently used going first; list_cache_max_ttl 0 keeps none', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'public' };
      const put = (id: string, bridge: Record<string, unknown>) =>
        gw.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'key-auth': {}, 'mcp-bridge': { base_uri: `/${id}`, server_id: 'modern', ...bridge } } });
      const bad = await put('cache-bad', { list_cache_max_ttl: -1 });
      expect(bad.status).to.equal(400);
      expect(bad.text).to.contain('list_cache_max_ttl');
      expect((await put('cache-two', { list_cache_max_entries: 2 })).status).to.be.oneOf([200, 201]);
      // Entries differ by the client capabilities the request declares (part of the key).
      const listAs = (route: string, capability: string) => {
        const { body, headers } = modern('list', 'tools/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': { experimental: { [capability]: {} } } } });
        return post(`${gw.url}/${route}/mcp`, body, { ...headers, apikey: KEYS.bob });
      };
      const before = server.count('tools/list');
      for (const capability of ['one', 'two', 'one', 'three', 'one']) expect((await listAs('cache-two', capability)).status).to.equal(200);
      // one, two, three reached the server; one stayed (used last), two was evicted by three.
      expect(server.count('tools/list')).to.equal(before + 3);
      await listAs('cache-two', 'two');
      expect(server.count('tools/list')).to.equal(before + 4);
      expect((await put('cache-off', { list_cache_max_ttl: 0 })).status).to.be.oneOf([200, 201]);
      await listAs('cache-off', 'one');
      await listAs('cache-off', 'one');
      expect(server.count('tools/list')).to.equal(before + 6);
    });

    it('keeps at most list_cache_max_bytes of lists: one larger is not kept, and one that does not fit beside another evicts it', async () => {
      server.listHint = { ttlMs: 60_000, cacheScope: 'public' };
      const size = Buffer.byteLength((await list(KEYS.bob)).text);
      const put = (id: string, maxBytes: number) =>
        gw.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'key-auth': {}, 'mcp-bridge': { base_uri: `/${id}`, server_id: 'modern', list_cache_max_bytes: maxBytes } } });
      const listAs = (route: string, capability: string) => {
        const { body, headers } = modern('list', 'tools/list', { _meta: { 'io.modelcontextprotocol/clientCapabilities': { experimental: { [capability]: {} } } } });
        return post(`${gw.url}/${route}/mcp`, body, { ...headers, apikey: KEYS.bob });
      };
      expect((await put('cache-bytes-half', Math.floor(size / 2))).status).to.be.oneOf([200, 201]);
      expect((await put('cache-bytes-one', Math.floor(size * 1.5))).status).to.be.oneOf([200, 201]);
      const before = server.count('tools/list');
      for (const capability of ['one', 'one']) expect((await listAs('cache-bytes-half', capability)).status).to.equal(200);
      expect(server.count('tools/list'), 'a list larger than the bound is not kept').to.equal(before + 2);
      for (const capability of ['one', 'one', 'two', 'two', 'one']) expect((await listAs('cache-bytes-one', capability)).status).to.equal(200);
      // one kept; two evicted it (room for one list only); one asked again.
      expect(server.count('tools/list')).to.equal(before + 5);
      expect((await put('cache-bytes-bad', 0)).text).to.contain('list_cache_max_bytes');
    });

    it('keeps nothing the server marks ttlMs 0 (the SDK’s default)', async () => {
      await list(KEYS.bob);
      const before = server.count('tools/list');
      await list(KEYS.bob);
      expect(server.count('tools/list')).to.equal(before + 1);
    });
  });
});
