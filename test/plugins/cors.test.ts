/**
 * cors against a real gateway and upstreams, and against a real MCP server behind mcp-bridge
 * (server-everything) for what browser-based MCP clients need. Cases from APISIX's
 * t/plugin/cors.t are marked "APISIX TEST n".
 */
import { expect } from 'chai';
import { startTestGateway, type HttpResult, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { EVERYTHING_SERVER, INIT } from '../mcp/support.js';
import { jsonRpcEcho, putConsumer, putRoute } from './support.js';

/** Access-Control-* and Timing-Allow-Origin headers of a response, by lower-case name. */
function corsHeaders(res: HttpResult): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (name.startsWith('access-control-') || name === 'timing-allow-origin') out[name] = String(value);
  }
  return out;
}

describe('plugin cors', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let upstream: TestUpstream;
  /** An upstream that sends CORS headers of its own, and Vary: Via. */
  let corsUpstream: TestUpstream;
  const route = (id: string, conf: Record<string, unknown>, to: TestUpstream = upstream, others: Record<string, unknown> = {}) =>
    putRoute(gw, id, `/${id}`, to, { cors: conf, ...others });

  before(async () => {
    upstream = await startUpstream();
    corsUpstream = await startUpstream((_req, res) => {
      res.writeHead(200, {
        vary: 'Via',
        'access-control-allow-origin': 'https://upstream.example',
        'access-control-allow-methods': 'UPSTREAM',
        'access-control-allow-headers': 'upstream-h',
        'access-control-expose-headers': 'upstream-expose',
        'access-control-max-age': '99',
        'access-control-allow-credentials': 'true',
      });
      res.end('hello');
    }, 'cors-upstream');
    gw = await startTestGateway({ extraPlugins: [jsonRpcEcho] });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    await corsUpstream.close();
  });

  describe('schema', () => {
    it('refuses wrong types and origins that are not origins (APISIX TEST 2)', async () => {
      const res = await route('bad', { max_age: '600' });
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.include('max_age');
      for (const allow_origins of ['example.com', 'http://a.com, ', '']) expect((await route('bad', { allow_origins })).status, allow_origins).to.equal(400);
    });

    it("refuses '*' anywhere with allow_credential, '**' is fine (APISIX TEST 1, 24-27)", async () => {
      const message = "failed to check the configuration of plugin cors err: you can not set '*' for other option when 'allow_credential' is true";
      const explicit = { allow_origins: 'http://test.com', allow_methods: 'GET', allow_headers: 'x-a', allow_credential: true };
      // The defaults are '*': with allow_credential, every option must be set.
      const cases = [{ allow_credential: true }, ...['allow_origins', 'allow_methods', 'allow_headers', 'expose_headers'].map((field) => ({ ...explicit, [field]: '*' }))];
      for (const conf of cases) {
        const res = await route('bad', conf);
        expect(res.status, JSON.stringify(conf)).to.equal(400);
        expect(res.json.error_msg, JSON.stringify(conf)).to.equal(message);
      }
      expect((await route('ok', { allow_origins: 'http://test.com', allow_methods: '', allow_headers: '', expose_headers: '', max_age: 600, allow_credential: true })).status).to.equal(201);
      expect((await route('ok', { allow_origins: '**', allow_methods: '**', allow_headers: '**', allow_credential: true })).status).to.equal(200);
    });

    it('refuses patterns RE2 cannot run and header values that cannot be sent', async () => {
      const look = await route('bad', { allow_origins_by_regex: ['^https://(?!evil).*$'] });
      expect(look.status).to.equal(400);
      expect(look.json.error_msg).to.match(/allow_origins_by_regex\[0\] pattern .* is refused: lookaround/);
      expect((await route('bad', { timing_allow_origins_by_regex: ['(a'] })).status).to.equal(400);
      const crlf = await route('bad', { allow_headers: 'x-a\r\nSet-Cookie: a=b' });
      expect(crlf.status).to.equal(400);
      expect(crlf.json.error_msg).to.include('allow_headers contains a control character');
      expect((await gw.admin('GET', '/routes/bad')).status).to.equal(404);
    });
  });

  describe('happy path', () => {
    it('defaults: any origin, no Vary, no exposed headers, max age 5 (APISIX TEST 6, 7)', async () => {
      await route('default', {});
      const res = await gw.get('/default');
      expect(res.status).to.equal(200);
      expect(corsHeaders(res)).to.deep.equal({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': '*',
        'access-control-allow-headers': '*',
        'access-control-max-age': '5',
      });
      expect(res.headers.vary).to.equal(undefined);
    });

    it('a listed origin is echoed, with Vary appended to the upstream\'s (APISIX TEST 8, 9)', async () => {
      await route('listed', { allow_origins: 'http://sub.domain.com,http://sub2.domain.com', allow_methods: 'GET,POST', allow_headers: 'headr1,headr2', expose_headers: 'ex-headr1,ex-headr2', max_age: 50, allow_credential: true }, corsUpstream);
      const res = await gw.get('/listed', { origin: 'http://sub2.domain.com' });
      expect(corsHeaders(res)).to.deep.equal({
        'access-control-allow-origin': 'http://sub2.domain.com',
        'access-control-allow-methods': 'GET,POST',
        'access-control-allow-headers': 'headr1,headr2',
        'access-control-expose-headers': 'ex-headr1,ex-headr2',
        'access-control-max-age': '50',
        'access-control-allow-credentials': 'true',
      });
      expect(res.headers.vary).to.equal('Via, Origin');
    });

    it('** echoes the origin and the requested headers, and expands methods (APISIX TEST 11-13)', async () => {
      await route('force', { allow_origins: '**', allow_methods: '**', allow_headers: '**', expose_headers: '*' });
      const res = await gw.get('/force', { origin: 'https://sub.domain.com', 'access-control-request-headers': 'req-header1,req-header2' });
      expect(corsHeaders(res)).to.deep.equal({
        'access-control-allow-origin': 'https://sub.domain.com',
        'access-control-allow-methods': 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE',
        'access-control-allow-headers': 'req-header1,req-header2',
        'access-control-expose-headers': '*',
        'access-control-max-age': '5',
      });
      expect(res.headers.vary).to.equal('Origin');
      const bare = await gw.get('/force');
      expect(bare.headers['access-control-allow-origin']).to.equal('*');
      expect(bare.headers['access-control-allow-headers']).to.equal(undefined);
    });

    it('answers every OPTIONS request itself, before authentication (APISIX TEST 14-16)', async () => {
      await putConsumer(gw, 'jack', { 'key-auth': { key: 'jack-key' } });
      await route('authed', { allow_origins: '**', allow_methods: '**', allow_headers: '*', expose_headers: '*' }, upstream, { 'key-auth': {} });
      const seen = upstream.seen.length;
      const preflight = await gw.request('OPTIONS', '/authed', undefined, { origin: 'https://sub.domain.com', 'access-control-request-method': 'POST' });
      expect(preflight.status).to.equal(200);
      expect(preflight.text).to.equal('');
      expect(preflight.headers['access-control-allow-origin']).to.equal('https://sub.domain.com');
      expect(upstream.seen.length, 'the upstream never saw it').to.equal(seen);
      // A refused request still carries the headers, so the page can read the 401.
      const refused = await gw.get('/authed', { origin: 'https://sub.domain.com' });
      expect(refused.status).to.equal(401);
      expect(corsHeaders(refused)).to.deep.equal({
        'access-control-allow-origin': 'https://sub.domain.com',
        'access-control-allow-methods': 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE',
        'access-control-allow-headers': '*',
        'access-control-expose-headers': '*',
        'access-control-max-age': '5',
      });
      expect((await gw.get('/authed', { origin: 'https://sub.domain.com', apikey: 'jack-key' })).status).to.equal(200);
    });

    it("overwrites the upstream's CORS headers, except Allow-Credentials when it does not set it (APISIX TEST 17-23)", async () => {
      await route('overwrite', { allow_origins: '**', allow_methods: '**', allow_headers: 'request-h', expose_headers: 'expose-h', allow_credential: true }, corsUpstream);
      const res = await gw.get('/overwrite', { origin: 'https://sub.domain.com' });
      expect(corsHeaders(res)).to.deep.equal({
        'access-control-allow-origin': 'https://sub.domain.com',
        'access-control-allow-methods': 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE',
        'access-control-allow-headers': 'request-h',
        'access-control-expose-headers': 'expose-h',
        'access-control-max-age': '5',
        'access-control-allow-credentials': 'true',
      });
      await route('overwrite', {}, corsUpstream);
      expect((await gw.get('/overwrite', { origin: 'https://sub.domain.com' })).headers['access-control-allow-credentials']).to.equal('true');
    });

    it('allow_origins_by_regex echoes a matching origin, unanchored, any of the patterns (APISIX TEST 28-33)', async () => {
      await route('regex', { allow_origins: 'http://sub.domain.com,http://sub2.domain.com', allow_methods: 'GET,POST', allow_credential: true, allow_headers: 'h', allow_origins_by_regex: ['.*\\.test.com$', '.*\\.example.org$'] });
      expect((await gw.get('/regex', { origin: 'http://a.test.com' })).headers['access-control-allow-origin']).to.equal('http://a.test.com');
      expect((await gw.get('/regex', { origin: 'http://foo.example.org' })).headers['access-control-allow-origin']).to.equal('http://foo.example.org');
      for (const origin of ['http://a.test2.com', 'http://foo.example.com', 'http://sub.domain.com']) {
        const res = await gw.get('/regex', { origin });
        expect(corsHeaders(res), `${origin}: the regex list replaces allow_origins`).to.deep.equal({});
        expect(res.headers.vary).to.equal('Origin');
      }
    });

    it('a single configured origin is allowed to itself only', async () => {
      await route('single', { allow_origins: 'https://app.example' });
      expect((await gw.get('/single', { origin: 'https://app.example' })).headers['access-control-allow-origin']).to.equal('https://app.example');
      expect(corsHeaders(await gw.get('/single', { origin: 'https://other.example' }))).to.deep.equal({});
      expect(corsHeaders(await gw.get('/single'))).to.deep.equal({});
    });

    it('origins from plugin metadata, by key', async () => {
      const meta = await gw.admin('PUT', '/plugin_metadata/cors', { allow_origins: { partners: 'https://a.example,https://b.example', star: '*' } });
      expect(meta.status, meta.text).to.be.oneOf([200, 201]);
      await route('meta', { allow_origins: 'https://own.example', allow_origins_by_metadata: ['partners'] });
      expect((await gw.get('/meta', { origin: 'https://b.example' })).headers['access-control-allow-origin']).to.equal('https://b.example');
      expect((await gw.get('/meta', { origin: 'https://own.example' })).headers['access-control-allow-origin']).to.equal('https://own.example');
      expect(corsHeaders(await gw.get('/meta', { origin: 'https://c.example' }))).to.deep.equal({});
      await route('meta', { allow_origins: 'https://own.example', allow_origins_by_metadata: ['missing', 'star'] });
      expect((await gw.get('/meta', { origin: 'https://any.example' })).headers['access-control-allow-origin']).to.equal('https://any.example');
    });

    it('Timing-Allow-Origin for timing_allow_origins and its regex form', async () => {
      await route('timing', { timing_allow_origins: 'https://a.example,https://b.example' });
      expect((await gw.get('/timing', { origin: 'https://b.example' })).headers['timing-allow-origin']).to.equal('https://b.example');
      expect((await gw.get('/timing', { origin: 'https://c.example' })).headers['timing-allow-origin']).to.equal(undefined);
      await route('timing', { timing_allow_origins_by_regex: ['\\.example$'] });
      expect((await gw.get('/timing', { origin: 'https://c.example' })).headers['timing-allow-origin']).to.equal('https://c.example');
    });
  });

  describe('MCP', () => {
    it('on an MCP route: a preflight allows the MCP headers and Authorization; responses expose the session headers', async () => {
      await gw.admin('PUT', '/routes/mcp-echo', { uri: '/mcp-echo/*', plugins: { cors: {}, 'test-jsonrpc-echo': { base_uri: '/mcp-echo' } } });
      const preflight = await gw.request('OPTIONS', '/mcp-echo/mcp', undefined, {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      });
      expect(preflight.status).to.equal(200);
      expect(preflight.headers['access-control-allow-headers']).to.equal('*, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Authorization');
      expect(preflight.headers['access-control-expose-headers']).to.equal('Mcp-Session-Id, MCP-Protocol-Version');
      const call = await gw.request('POST', '/mcp-echo/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { origin: 'https://app.example' });
      expect(call.status).to.equal(200);
      expect(call.headers['access-control-expose-headers']).to.equal('Mcp-Session-Id, MCP-Protocol-Version');
    });

    it('adds to configured lists without repeating what they name, and mcp_headers: false turns it off', async () => {
      await gw.admin('PUT', '/routes/mcp-echo', { uri: '/mcp-echo/*', plugins: { cors: { allow_headers: 'Content-Type,mcp-session-id', expose_headers: 'X-Trace' }, 'test-jsonrpc-echo': { base_uri: '/mcp-echo' } } });
      const res = await gw.request('OPTIONS', '/mcp-echo/mcp', undefined, { origin: 'https://app.example' });
      expect(res.headers['access-control-allow-headers']).to.equal('Content-Type,mcp-session-id, MCP-Protocol-Version, Last-Event-ID, Authorization');
      expect(res.headers['access-control-expose-headers']).to.equal('X-Trace, Mcp-Session-Id, MCP-Protocol-Version');
      await gw.admin('PUT', '/routes/mcp-echo', { uri: '/mcp-echo/*', plugins: { cors: { mcp_headers: false }, 'test-jsonrpc-echo': { base_uri: '/mcp-echo' } } });
      const off = await gw.request('OPTIONS', '/mcp-echo/mcp', undefined, { origin: 'https://app.example' });
      expect(off.headers['access-control-allow-headers']).to.equal('*');
      expect(off.headers['access-control-expose-headers']).to.equal(undefined);
    });

    it('on a global rule too: the preflight is answered before the route runs, and the route is known to be MCP', async () => {
      await gw.admin('PUT', '/routes/mcp-echo', { uri: '/mcp-echo/*', plugins: { 'test-jsonrpc-echo': { base_uri: '/mcp-echo' } } });
      expect((await gw.admin('PUT', '/global_rules/cors', { plugins: { cors: {} } })).status).to.be.oneOf([200, 201]);
      try {
        const res = await gw.request('OPTIONS', '/mcp-echo/mcp', undefined, { origin: 'https://app.example' });
        expect(res.status).to.equal(200);
        expect(res.headers['access-control-allow-headers']).to.include('Authorization');
        // A plain route gets APISIX's headers only.
        await route('plain', {});
        await gw.admin('PUT', '/routes/plain', { uri: '/plain', upstream: { nodes: { [upstream.address]: 1 } } });
        expect((await gw.request('OPTIONS', '/plain', undefined, { origin: 'https://app.example' })).headers['access-control-allow-headers']).to.equal('*');
      } finally {
        await gw.admin('DELETE', '/global_rules/cors');
      }
    });

    it('on a plain proxy route to a remote MCP server: MCP headers in the request or the response make it an MCP exchange', async () => {
      const remote = await startUpstream((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'abc' });
        res.end('{}');
      }, 'remote-mcp');
      try {
        await route('remote', {}, remote);
        const init = await gw.request('POST', '/remote', INIT, { origin: 'https://app.example' });
        expect(init.headers['access-control-expose-headers']).to.equal('Mcp-Session-Id, MCP-Protocol-Version');
        const preflight = await gw.request('OPTIONS', '/remote', undefined, { origin: 'https://app.example', 'access-control-request-headers': 'mcp-session-id,mcp-protocol-version' });
        expect(preflight.headers['access-control-allow-headers']).to.include('Last-Event-ID, Authorization');
      } finally {
        await remote.close();
      }
    });

    it('a browser-style session with mcp-bridge and server-everything: preflight, initialize, then a call with the exposed session id', async () => {
      const put = await gw.admin('PUT', '/routes/everything', {
        uri: '/everything/*',
        plugins: {
          cors: { allow_origins: 'https://app.example' },
          'mcp-bridge': { base_uri: '/everything', command: 'node', args: [EVERYTHING_SERVER], allowed_origins: ['https://app.example'] },
        },
      });
      expect(put.status, put.text).to.equal(201);
      const origin = { origin: 'https://app.example' };
      const url = `${gw.url}/everything/mcp`;
      const preflight = await fetch(url, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' } });
      expect(preflight.status).to.equal(200);
      expect(preflight.headers.get('access-control-allow-origin')).to.equal('https://app.example');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).to.include('authorization');
      const headers = { ...origin, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      const init = await fetch(url, { method: 'POST', headers, body: JSON.stringify(INIT) });
      await init.text();
      expect(init.status).to.equal(200);
      // What a page may read: the session id is among the exposed headers.
      const exposed = (init.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
      expect(exposed).to.include('mcp-session-id');
      const session = init.headers.get('mcp-session-id')!;
      expect(session).to.be.a('string');
      const next = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
      await next.text();
      expect(next.status).to.equal(202);
      expect(next.headers.get('access-control-allow-origin')).to.equal('https://app.example');
      await fetch(url, { method: 'DELETE', headers: { ...origin, 'mcp-session-id': session } }).then((r) => r.text());
    });
  });

  describe('faults', () => {
    it('error answers carry the headers too: no route (global rule), a dead upstream', async () => {
      expect((await gw.admin('PUT', '/global_rules/cors', { plugins: { cors: {} } })).status).to.be.oneOf([200, 201]);
      try {
        const missing = await gw.get('/no-such-route', { origin: 'https://app.example' });
        expect(missing.status).to.equal(404);
        expect(missing.headers['access-control-allow-origin']).to.equal('*');
      } finally {
        await gw.admin('DELETE', '/global_rules/cors');
      }
      await gw.admin('PUT', '/routes/dead', { uri: '/dead', plugins: { cors: {} }, upstream: { nodes: { '127.0.0.1:1': 1 } } });
      const dead = await gw.get('/dead', { origin: 'https://app.example' });
      expect(dead.status).to.equal(502);
      expect(dead.headers['access-control-allow-origin']).to.equal('*');
    });

    it('an Origin with a comma is never echoed, and the gateway keeps serving', async () => {
      await route('force', { allow_origins: '**' });
      expect(corsHeaders(await gw.get('/force', { origin: 'https://a.example,https://b.example' }))).to.deep.equal({});
      expect((await gw.get('/force', { origin: 'https://a.example' })).headers['access-control-allow-origin']).to.equal('https://a.example');
    });
  });
});
