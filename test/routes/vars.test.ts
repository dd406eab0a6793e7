/**
 * Route `vars` (APISIX's lua-resty-expr rules) against a real gateway and real upstreams: what is
 * stored, which route a request reaches, and when the body is read to decide (`post_arg_*`).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startRemoteEverything } from '../mcp/support.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('route vars', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  const to = (u: TestUpstream) => ({ nodes: { [u.address]: 1 } });
  const put = (id: string, body: Record<string, unknown>) => gw.admin('PUT', `/routes/${id}`, body);
  /** Which upstream answered (`404` when no route matched). */
  const reached = async (method: string, path: string, body?: string, headers?: Record<string, string>) => {
    const res = await gw.request(method, path, body, headers);
    return res.status === 200 ? (res.json.upstream as string) : String(res.status);
  };

  before(async () => {
    [a, b, c] = await Promise.all([startUpstream(undefined, 'a'), startUpstream(undefined, 'b'), startUpstream(undefined, 'c')]);
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
  });
  afterEach(async () => {
    const list = await gw.admin('GET', '/routes');
    for (const item of list.json.list ?? []) await gw.admin('DELETE', `/routes/${item.value.id}`);
  });

  describe('Admin API', () => {
    it('stores vars as sent and answers them back unchanged (numbers stay numbers)', async () => {
      const vars = [['arg_name', '==', 'json'], ['arg_age', '>', 18], ['OR', ['http_x', '~~', '^a'], ['cookie_y', 'in', ['1', '2']]]];
      const res = await put('v', { uri: '/v', vars, upstream: to(a) });
      expect(res.status).to.equal(201);
      expect(res.json.value.vars).to.deep.equal(vars);
      expect((await gw.admin('GET', '/routes/v')).json.value.vars).to.deep.equal(vars);
    });

    it("refuses a rule that does not compile with APISIX's message, and changes nothing", async () => {
      const refusals: Array<[unknown, string]> = [
        [['http_user_agent', '~*', 'android'], 'rule should be wrapped inside brackets'],
        [[['remote_addr', '=', '127.0.0.1']], "invalid operator '='"],
        [['OR', ['arg_a', '==', '1']], 'rule too short'],
        [[['arg_a', '~~', '(a']], 'invalid regex "(a"'],
        [[['remote_addr', 'ipmatch', ['10.0.0.0/40']]], 'invalid ip address'],
      ];
      for (const [vars, reason] of refusals) {
        const res = await put('bad', { uri: '/bad', vars, upstream: to(a) });
        expect(res.status, JSON.stringify(vars)).to.equal(400);
        expect(res.json.error_msg).to.include(`failed to validate the 'vars' expression: ${reason}`);
      }
      expect((await put('bad', { uri: '/bad', vars: 'arg_a', upstream: to(a) })).status).to.equal(400);
      expect((await gw.admin('GET', '/routes/bad')).status).to.equal(404);
    });

    it('checks vars on PATCH too', async () => {
      await put('p', { uri: '/p', upstream: to(a) });
      const res = await gw.admin('PATCH', '/routes/p', { vars: [['arg_a', 'nope', '1']] });
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.equal("failed to validate the 'vars' expression: invalid operator 'nope'");
      expect((await gw.admin('PATCH', '/routes/p', { vars: [['arg_a', '==', '1']] })).status).to.equal(200);
      expect(await reached('GET', '/p?a=1')).to.equal('a');
      expect(await reached('GET', '/p?a=2')).to.equal('404');
    });
  });

  describe('matching', () => {
    it('reads arguments, headers, cookies and built-in variables', async () => {
      await put('r', {
        uri: '/r',
        vars: [['arg_k', '==', 'v'], ['http_x_team', '~*', '^blue'], ['cookie_session', '!', '==', 'banned'], ['request_method', 'in', ['GET', 'POST']]],
        upstream: to(a),
      });
      expect(await reached('GET', '/r?k=v', undefined, { 'x-team': 'BLUE-1', cookie: 'session=ok' })).to.equal('a');
      expect(await reached('GET', '/r?k=v', undefined, { 'x-team': 'BLUE-1' })).to.equal('a');
      expect(await reached('GET', '/r?k=v', undefined, { 'x-team': 'BLUE-1', cookie: 'session=banned' })).to.equal('404');
      expect(await reached('GET', '/r?k=w', undefined, { 'x-team': 'blue' })).to.equal('404');
      expect(await reached('DELETE', '/r?k=v', undefined, { 'x-team': 'blue' })).to.equal('404');
    });

    it('among routes on one uri, the highest priority whose vars hold wins; a route without vars catches the rest', async () => {
      await put('canary', { uri: '/api/*', priority: 10, vars: [['http_x_canary', '==', '1']], upstream: to(b) });
      await put('v2', { uri: '/api/*', priority: 5, vars: [['arg_version', '>=', 2]], upstream: to(c) });
      await put('stable', { uri: '/api/*', upstream: to(a) });
      expect(await reached('GET', '/api/x?version=3', undefined, { 'x-canary': '1' })).to.equal('b');
      expect(await reached('GET', '/api/x?version=3')).to.equal('c');
      expect(await reached('GET', '/api/x?version=0x2')).to.equal('c');
      expect(await reached('GET', '/api/x?version=1')).to.equal('a');
      expect(await reached('GET', '/api/x?version=two')).to.equal('a');
    });

    it('a route whose vars fail lets the request fall through to a shorter prefix or a host-less route', async () => {
      await put('deep', { uri: '/shop/cart/*', host: 'shop.example.com', vars: [['arg_beta', '==', '1']], upstream: to(b) });
      await put('shallow', { uri: '/shop/*', upstream: to(a) });
      expect(await reached('GET', '/shop/cart/1?beta=1', undefined, { host: 'shop.example.com' })).to.equal('b');
      expect(await reached('GET', '/shop/cart/1', undefined, { host: 'shop.example.com' })).to.equal('a');
      expect(await reached('GET', '/shop/cart/1?beta=1', undefined, { host: 'other.example.com' })).to.equal('a');
    });

    it('a disabled route with vars matches nothing; re-enabled it matches again', async () => {
      await put('off', { uri: '/off', status: 0, vars: [['arg_a', '==', '1']], upstream: to(a) });
      expect(await reached('GET', '/off?a=1')).to.equal('404');
      await gw.admin('PATCH', '/routes/off', { status: 1 });
      expect(await reached('GET', '/off?a=1')).to.equal('a');
    });
  });

  describe('post_arg_*', () => {
    it('reads a urlencoded form and forwards the body unchanged', async () => {
      await put('form', { uri: '/orders', methods: ['POST'], vars: [['post_arg_kind', '==', 'refund']], upstream: to(b) });
      await put('rest', { uri: '/orders', upstream: to(a) });
      const body = 'id=7&kind=refund&note=caf%C3%A9+au+lait';
      const res = await gw.request('POST', '/orders', body, FORM);
      expect(res.json.upstream).to.equal('b');
      expect(res.json.body).to.equal(body);
      expect(res.json.headers['content-length']).to.equal(String(body.length));
      expect(await reached('POST', '/orders', 'id=7&kind=order', FORM)).to.equal('a');
      // Only a urlencoded form carries post args (APISIX): the same text as JSON or multipart does not.
      expect(await reached('POST', '/orders', 'kind=refund', { 'content-type': 'text/plain' })).to.equal('a');
      expect(await reached('POST', '/orders', 'kind=refund', { 'content-type': 'multipart/form-data; boundary=x' })).to.equal('a');
      expect(await reached('GET', '/orders?kind=refund')).to.equal('a');
    });

    it('forwards a chunked form it read with the length it has', async () => {
      await put('form', { uri: '/chunked', vars: [['post_arg_a', '==', '1']], upstream: to(b) });
      const { status, body } = await rawPost(gw.url, '/chunked', FORM, ['a=1&', 'b=2'], 0);
      expect(status).to.equal(200);
      const echoed = JSON.parse(body);
      expect(echoed.upstream).to.equal('b');
      expect(echoed.body).to.equal('a=1&b=2');
      expect(echoed.headers['content-length']).to.equal('7');
      expect(echoed.headers['transfer-encoding']).to.equal(undefined);
    });

    it('tells an Expect: 100-continue client to send the form it needs, then routes by it', async () => {
      await put('form', { uri: '/continue', vars: [['post_arg_kind', '==', 'refund']], upstream: to(b) });
      await put('rest', { uri: '/continue', priority: -1, upstream: to(a) });
      const body = 'kind=refund&id=9';
      const res = await new Promise<{ status: number; text: string; continued: boolean }>((resolve, reject) => {
        let continued = false;
        const req = httpRequest(`${gw.url}/continue`, { method: 'POST', headers: { ...FORM, expect: '100-continue', 'content-length': String(body.length) } });
        req.on('continue', () => {
          continued = true;
          req.end(body);
        });
        req.on('response', (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (text += d));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text, continued }));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      expect(res.continued).to.equal(true);
      expect(res.status).to.equal(200);
      expect(JSON.parse(res.text)).to.include({ upstream: 'b', body });
    });

    it('a form larger than the route allows is refused with 413, declared or chunked', async () => {
      await put('form', { uri: '/big', vars: [['post_arg_a', '==', '1']], upstream: to(b), plugins: { 'client-control': { max_body_size: 100 } } });
      const big = `a=1&pad=${'x'.repeat(200)}`;
      const declared = await gw.request('POST', '/big', big, FORM);
      expect(declared.status).to.equal(413);
      expect(declared.json.error_msg).to.equal('request body is larger than 100 bytes');
      const chunked = await rawPost(gw.url, '/big', FORM, [big.slice(0, 100), big.slice(100)], 0);
      expect(chunked.status).to.equal(413);
      expect(b.seen.filter((r) => r.url === '/big')).to.have.length(0);
    });

    it('the route finally matched applies its own, lower, body limit to a body read for another', async () => {
      await put('form', { uri: '/limits', priority: 1, vars: [['post_arg_a', '==', '1']], upstream: to(b) });
      await put('small', { uri: '/limits', upstream: to(a), plugins: { 'client-control': { max_body_size: 100 } } });
      const big = `a=2&pad=${'x'.repeat(200)}`;
      const chunked = await rawPost(gw.url, '/limits', FORM, [big], 0);
      expect(chunked.status).to.equal(413);
      expect(a.seen.filter((r) => r.url === '/limits')).to.have.length(0);
      expect(await reached('POST', '/limits', `a=1&pad=${'x'.repeat(200)}`, FORM)).to.equal('b');
    });
  });

  describe('the body is read only for routes whose vars need it', () => {
    let early: Server;
    let earlyAddress: string;

    before(async () => {
      // Answers as soon as the request head arrives, before any body: shows whether the gateway
      // forwarded the request while the body was still coming.
      early = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('early');
        req.resume();
      });
      await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve));
      earlyAddress = `127.0.0.1:${(early.address() as { port: number }).port}`;
    });
    after(() => new Promise<void>((resolve) => early.close(() => resolve())));

    it('a request on a route without body vars streams: the upstream answers before the body ends', async () => {
      await put('stream', { uri: '/stream', vars: [['http_x_a', '==', '1']], upstream: { nodes: { [earlyAddress]: 1 } } });
      const { status, body, answeredBeforeEnd } = await rawPost(gw.url, '/stream', { ...FORM, 'x-a': '1' }, ['a=1&', 'b=2'], 400);
      expect(status).to.equal(200);
      expect(body).to.equal('early');
      expect(answeredBeforeEnd).to.equal(true);
    });

    it('a form on a post_arg_* route waits for its body, then is routed by it', async () => {
      await put('wait', { uri: '/wait', vars: [['post_arg_b', '==', '2']], upstream: { nodes: { [earlyAddress]: 1 } } });
      const { status, body, answeredBeforeEnd } = await rawPost(gw.url, '/wait', FORM, ['a=1&', 'b=2'], 400);
      expect(answeredBeforeEnd).to.equal(false);
      expect(status).to.equal(200);
      expect(body).to.equal('early');
    });

    it('a post_arg_* route does not read a body that is not a form: it streams, and the rule sees no args', async () => {
      await put('json', { uri: '/json', vars: [['post_arg_b', '==', nullValue()]], upstream: { nodes: { [earlyAddress]: 1 } } });
      const { status, answeredBeforeEnd } = await rawPost(gw.url, '/json', { 'content-type': 'application/json' }, ['{"b":', '2}'], 400);
      expect(status).to.equal(200);
      expect(answeredBeforeEnd).to.equal(true);
    });
  });
});

describe('route vars on MCP traffic (mcp_method, mcp_tool)', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let a: TestUpstream;
  let b: TestUpstream;
  const to = (u: TestUpstream) => ({ nodes: { [u.address]: 1 } });
  const JSON_TYPE = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const call = (tool: string, id = 1) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: {} } });

  before(async () => {
    [a, b] = await Promise.all([startUpstream(undefined, 'a'), startUpstream(undefined, 'b')]);
    gw = await startTestGateway();
    await gw.admin('PUT', '/routes/mcp', { uri: '/mcp', upstream: to(a) });
    await gw.admin('PUT', '/routes/mcp-danger', { uri: '/mcp', priority: 10, vars: [['mcp_tool', 'in', ['delete_repo', 'force_push']]], upstream: to(b) });
    await gw.admin('PUT', '/routes/mcp-lists', { uri: '/mcp', priority: 5, vars: [['mcp_method', '~~', '^(tools|prompts)/list$']], upstream: to(b) });
  });
  after(async () => {
    await gw.stop();
    await Promise.all([a.close(), b.close()]);
  });

  it('sends the tools named to their route, and every other message to the route without vars; the body arrives intact', async () => {
    const danger = await gw.request('POST', '/mcp', call('delete_repo'), JSON_TYPE);
    expect(danger.json.upstream).to.equal('b');
    expect(JSON.parse(danger.json.body)).to.deep.equal(call('delete_repo'));
    expect((await gw.request('POST', '/mcp', call('echo'), JSON_TYPE)).json.upstream).to.equal('a');
    expect((await gw.request('POST', '/mcp', { jsonrpc: '2.0', id: 2, method: 'tools/list' }, JSON_TYPE)).json.upstream).to.equal('b');
    expect((await gw.request('POST', '/mcp', { jsonrpc: '2.0', id: 3, method: 'initialize', params: {} }, JSON_TYPE)).json.upstream).to.equal('a');
  });

  it('what carries no single message stays on the route without vars: a GET stream, a batch, a body that is not JSON', async () => {
    expect((await gw.get('/mcp', { accept: 'text/event-stream' })).json.upstream).to.equal('a');
    expect((await gw.request('POST', '/mcp', [call('delete_repo', 1), call('delete_repo', 2)], JSON_TYPE)).json.upstream).to.equal('a');
    expect((await gw.request('POST', '/mcp', JSON.stringify(call('delete_repo')), { 'content-type': 'text/plain' })).json.upstream).to.equal('a');
    const broken = await gw.request('POST', '/mcp', '{"jsonrpc":', JSON_TYPE);
    expect(broken.json.upstream).to.equal('a');
    expect(broken.json.body).to.equal('{"jsonrpc":');
  });

  it('the MCP SDK client through a proxied server: one tool gets its own plugin set (a quota), the others do not', async () => {
    const server = await startRemoteEverything('streamableHttp');
    try {
      const up = { nodes: { [`127.0.0.1:${server.port}`]: 1 } };
      await gw.admin('PUT', '/routes/sdk', { uri: '/sdk/mcp', upstream: { ...up, pass_host: 'node' }, plugins: { 'proxy-rewrite': { uri: '/mcp' } } });
      const quota = { 'limit-count': { count: 2, time_window: 60, rejected_code: 429 }, 'proxy-rewrite': { uri: '/mcp' } };
      const put = await gw.admin('PUT', '/routes/sdk-echo', { uri: '/sdk/mcp', priority: 1, vars: [['mcp_tool', '==', 'echo']], upstream: up, plugins: quota });
      expect(put.status, put.text).to.equal(201);
      const client = new Client({ name: 'vars-test', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/sdk/mcp`));
      await client.connect(transport);
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
        expect(String(refused)).to.match(/429|Too Many Requests|rate/i);
        // The same session, other tools: the quota is the echo route's alone.
        for (let i = 0; i < 4; i++) {
          const sum = await client.callTool({ name: 'get-sum', arguments: { a: i, b: 1 } });
          expect(JSON.stringify(sum.content)).to.include(`is ${i + 1}`);
        }
        expect((await client.listTools()).tools.length).to.be.greaterThan(2);
      } finally {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      }
    } finally {
      await server.stop();
    }
  });
});

/** JSON null in a rule: the variable is missing. */
function nullValue(): null {
  return null;
}

/**
 * A chunked POST sent piece by piece, `pauseMs` apart; reports whether the response arrived
 * before the last piece was sent.
 */
function rawPost(base: string, path: string, headers: Record<string, string>, pieces: string[], pauseMs: number): Promise<{ status: number; body: string; answeredBeforeEnd: boolean }> {
  return new Promise((resolve, reject) => {
    let ended = false;
    let answeredBeforeEnd = false;
    const req = httpRequest(`${base}${path}`, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res: IncomingMessage) => {
      answeredBeforeEnd = !ended;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, answeredBeforeEnd }));
    });
    req.on('error', reject);
    req.flushHeaders();
    void (async () => {
      for (const piece of pieces) {
        if (req.destroyed) return;
        req.write(piece);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
      ended = true;
      req.end();
    })();
  });
}
