/**
 * response-rewrite against a real gateway and a real upstream that answers plain, gzip, brotli,
 * binary, streamed (SSE) and oversized bodies. Cases from APISIX's t/plugin/response-rewrite.t,
 * response-rewrite2.t and response-rewrite3.t are marked "APISIX TEST n", "APISIX 2/TEST n" and
 * "APISIX 3/TEST n".
 */
import { expect } from 'chai';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { jsonRpcEcho, putConsumer, putRoute, toolCall } from './support.js';

describe('plugin response-rewrite', function () {
  this.timeout(20_000);
  let gw: TestGateway;
  let upstream: TestUpstream;
  /** Resolved by the test to let /sse send its second event. */
  let releaseSecondEvent: () => void = () => {};

  const route = (id: string, conf: Record<string, unknown>, path = `/${id}`, others: Record<string, unknown> = {}) =>
    gw.admin('PUT', `/routes/${id}`, { uri: path, upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'response-rewrite': conf, ...others } });

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/with_header') {
        res.writeHead(200, { 'x-server-id': '100', 'content-type': 'application/xml', etag: '"33a64df5"', 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
        return res.end('with header');
      }
      if (path === '/gzip') {
        const body = gzipSync('hello world');
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': body.length });
        return res.end(body);
      }
      if (path === '/br') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'br' });
        return res.end(brotliCompressSync('hello world'));
      }
      if (path === '/zstd') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'zstd' });
        return res.end('not really zstd');
      }
      if (path === '/bomb') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        return res.end(gzipSync(Buffer.alloc(1024 * 1024, 'a')));
      }
      if (path === '/binary') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end(Buffer.from([0xff, 0xfe, 0x68, 0x65, 0x6c, 0x6c, 0x6f]));
      }
      if (path === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // The first event arrives in two pieces; the second waits for the test to have seen the first.
        res.write('id: 1\ndata: {"secret":"s3cr');
        setTimeout(() => res.write('et"}\n\n'), 20);
        new Promise<void>((resolve) => (releaseSecondEvent = resolve)).then(() => res.end('id: 2\ndata: {"secret":"another"}\n\n'));
        return;
      }
      if (path.startsWith('/status/')) {
        res.writeHead(Number(path.slice(8)), { 'content-type': 'text/plain' });
        return res.end('status body');
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(path === '/big' ? 'x'.repeat(100_000) : 'hello world');
    });
    gw = await startTestGateway({ extraPlugins: [jsonRpcEcho] });
  });
  after(async () => {
    releaseSecondEvent();
    await gw.stop();
    await upstream.close();
  });

  describe('schema', () => {
    it('refuses a status_code outside 200-598 (APISIX TEST 2, 3)', async () => {
      for (const status_code of [100, 599]) expect((await route('bad', { status_code })).status, String(status_code)).to.equal(400);
    });

    it('refuses body_base64 without well-formed base64 (APISIX TEST 14, 21, 22)', async () => {
      for (const conf of [{ body: '1', body_base64: true }, { body: '', body_base64: true }, { body_base64: true }]) {
        const res = await route('bad', conf);
        expect(res.status, JSON.stringify(conf)).to.equal(400);
        expect(res.json.error_msg).to.equal('failed to check the configuration of plugin response-rewrite err: invalid base64 content');
      }
    });

    it("refuses vars that do not compile, with APISIX's message (APISIX TEST 16, 17)", async () => {
      const res = await route('bad', { vars: [[]] });
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.equal("failed to check the configuration of plugin response-rewrite err: failed to validate the 'vars' expression: rule too short");
      expect((await route('ok', { vars: [['status', '==', 200]], body: 'x' })).status).to.equal(201);
    });

    it('refuses filters without replace, with a bad scope, an empty regex, an unknown option (APISIX 2/TEST 3-6)', async () => {
      expect((await route('bad', { filters: [{ regex: 'Hello' }] })).json.error_msg).to.match(/replace.*is required/);
      expect((await route('bad', { filters: [{ regex: 'Hello', scope: 'two', replace: 'World' }] })).status).to.equal(400);
      expect((await route('bad', { filters: [{ regex: '', replace: 'world' }] })).status).to.equal(400);
      const flag = await route('bad', { filters: [{ regex: 'hello', replace: 'HELLO', options: 'h' }] });
      expect(flag.status).to.equal(400);
      expect(flag.json.error_msg).to.include('regex "hello" validation failed: unknown flag "h" (flags "h")');
    });

    it('refuses patterns RE2 cannot run, replacements naming missing groups, body with filters', async () => {
      expect((await route('bad', { filters: [{ regex: '(a)\\1', replace: '' }] })).json.error_msg).to.include('backreferences');
      expect((await route('bad', { filters: [{ regex: '(a)', replace: '$2' }] })).json.error_msg).to.include('refers to group $2');
      expect((await route('bad', { body: 'x', filters: [{ regex: 'a', replace: 'b' }] })).json.error_msg).to.include('"body" and "filters" cannot be used together');
    });

    it('refuses headers that could never be sent (APISIX 2/TEST 19, APISIX TEST 10, 11)', async () => {
      const cases: unknown[] = [
        { add: ['headers:'] },
        { remove: ['headers:'] },
        { set: { '': 1 } },
        { set: { a: true } },
        { '': 2 },
        { 'X-Name': [] },
        { set: { 'X Bad': '1' } },
        { set: { 'X-A': 'a\r\nSet-Cookie: x=1' } },
        { set: { 'Content-Length': '5' } },
        { add: ['Transfer-Encoding: chunked'] },
      ];
      for (const headers of cases) expect((await route('bad', { headers })).status, JSON.stringify(headers)).to.equal(400);
      expect((await gw.admin('GET', '/routes/bad')).status).to.equal(404);
    });
  });

  describe('happy path: status and headers', () => {
    it('sets headers and the body; an empty value removes a header (APISIX TEST 4, 5)', async () => {
      await route('h', { headers: { 'X-Server-id': 3, 'X-Server-status': 'on', 'Content-Type': '' }, body: 'new body\n' }, '/with_header');
      const res = await gw.get('/with_header');
      expect(res.status).to.equal(200);
      expect(res.text).to.equal('new body\n');
      expect(res.headers['content-type']).to.equal(undefined);
      expect(res.headers['x-server-status']).to.equal('on');
      expect(res.headers['x-server-id']).to.equal('3');
    });

    it('a new body drops what described the old one, other headers stay (APISIX TEST 6, 7)', async () => {
      await route('h', { body: 'new body2\n' }, '/with_header');
      const res = await gw.get('/with_header');
      expect(res.text).to.equal('new body2\n');
      expect(res.headers['x-server-id']).to.equal('100');
      expect(res.headers['content-type']).to.equal('application/xml');
      for (const gone of ['etag', 'last-modified', 'content-encoding']) expect(res.headers[gone], gone).to.equal(undefined);
    });

    it('a redirect: Location with 302 (APISIX TEST 8, 9)', async () => {
      await route('hello', { headers: { Location: 'https://www.iresty.com' }, status_code: 302 });
      const res = await gw.get('/hello');
      expect(res.status).to.equal(302);
      expect(res.headers.location).to.equal('https://www.iresty.com');
    });

    it('a base64 body is decoded (APISIX TEST 12, 13), an empty body is empty (APISIX TEST 25, 26)', async () => {
      await route('hello', { body: Buffer.from('hello world\n').toString('base64'), body_base64: true });
      expect((await gw.get('/hello')).text).to.equal('hello world\n');
      await route('hello', { body: '' });
      const empty = await gw.get('/hello');
      expect(empty.status).to.equal(200);
      expect(empty.text).to.equal('');
    });

    it('vars decide on the upstream status (APISIX TEST 18-20)', async () => {
      await gw.admin('PUT', '/routes/status', { uri: '/status/*', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'response-rewrite': { vars: [['status', '==', 200]], body: 'rewritten', status_code: 201 } } });
      const hit = await gw.get('/status/200');
      expect(hit.status).to.equal(201);
      expect(hit.text).to.equal('rewritten');
      const miss = await gw.get('/status/404');
      expect(miss.status).to.equal(404);
      expect(miss.text).to.equal('status body');
    });

    it('header values take $variables (APISIX TEST 23, 24)', async () => {
      await route('hello', { headers: { 'X-A': '$remote_addr', 'X-B': 'from $remote_addr for $arg_who', 'X-Node': 'to $balancer_ip:$balancer_port' } });
      const res = await gw.get('/hello?who=me');
      expect(res.headers['x-a']).to.equal('127.0.0.1');
      expect(res.headers['x-b']).to.equal('from 127.0.0.1 for me');
      // The upstream node that answered.
      expect(res.headers['x-node']).to.equal(`to ${upstream.address}`);
    });

    it('add appends, set replaces, remove removes, in that order (APISIX TEST 27, APISIX 2/TEST 20-25)', async () => {
      await route('hello', { headers: { add: ['X-Server-test:a'] } });
      expect((await gw.get('/hello')).headers['x-server-test']).to.equal('a');
      await route('hello', { headers: { add: ['Cache-Control: no-cache', 'Cache-Control : max-age=0, must-revalidate'] } });
      // Two header lines, which a client reads as one list.
      expect([(await gw.get('/hello')).headers['cache-control']].flat().join(', ')).to.equal('no-cache, max-age=0, must-revalidate');
      await route('hello', { headers: { add: ['Cache-Control: no-cache'], set: { 'Cache-Control': 'max-age=0, must-revalidate' } } });
      expect((await gw.get('/hello')).headers['cache-control']).to.equal('max-age=0, must-revalidate');
      await route('hello', { headers: { add: ['Set-Cookie: <cookie-name>=<cookie-value>; Max-Age=<number>'], set: { 'Cache-Control': 'max-age=0' }, remove: ['Set-Cookie', 'Cache-Control'] } });
      const removed = await gw.get('/hello');
      expect(removed.headers['cache-control']).to.equal(undefined);
      expect(removed.headers['set-cookie']).to.equal(undefined);
    });

    it('headers and status only: the body and its Content-Length and Content-Encoding are kept (APISIX 3/TEST 11-14)', async () => {
      await route('gzip', { headers: { set: { 'X-A': '1' } } });
      const res = await gw.get('/gzip');
      expect(res.headers['content-encoding']).to.equal('gzip');
      expect(res.headers['content-length']).to.be.a('string');
    });
  });

  describe('happy path: filters', () => {
    it('once, global, empty replacement, captures, several in order, no match (APISIX 2/TEST 7-18)', async () => {
      const cases: Array<[unknown[], string]> = [
        [[{ regex: 'hello', replace: 'test' }], 'test world'],
        [[{ regex: 'l', replace: 't', scope: 'global' }], 'hetto wortd'],
        [[{ regex: 'hello', replace: '' }], ' world'],
        [[{ regex: '\\w\\S+$', replace: '*' }], 'hello *'],
        [[{ regex: 'hello', replace: 'HELLO' }, { regex: 'L', replace: 'T' }], 'HETLO world'],
        [[{ regex: 'test', replace: 'TEST' }], 'hello world'],
        [[{ regex: '(\\w+) (\\w+)', replace: '$2 ${1}$$' }], 'world hello$'],
        [[{ regex: 'WORLD', replace: 'there', options: 'i' }], 'hello there'],
      ];
      for (const [filters, expected] of cases) {
        await route('hello', { vars: [['status', '==', 200]], filters });
        const res = await gw.get('/hello');
        expect(res.text, JSON.stringify(filters)).to.equal(expected);
        expect(res.headers['content-length'], 'the length is the new body\'s or absent').to.be.oneOf([undefined, String(Buffer.byteLength(expected))]);
      }
    });

    it('gzip and brotli bodies are decoded, rewritten and sent without Content-Encoding (APISIX 3/TEST 3-6, 15-20)', async () => {
      for (const path of ['gzip', 'br']) {
        await route(path, { filters: [{ regex: 'hello', replace: 'HELLO' }] });
        const res = await gw.get(`/${path}`);
        expect(res.text, path).to.equal('HELLO world');
        expect(res.headers['content-encoding'], path).to.equal(undefined);
        await route(path, { body: 'replaced' });
        const replaced = await gw.get(`/${path}`);
        expect(replaced.text, path).to.equal('replaced');
        expect(replaced.headers['content-encoding'], path).to.equal(undefined);
      }
    });

    it('an encoding the filters cannot read leaves the body and its headers alone; body replaces it anyway (APISIX 3/TEST 7-10)', async () => {
      await route('zstd', { filters: [{ regex: 'really', replace: 'REALLY' }] });
      const res = await gw.get('/zstd');
      expect(res.text).to.equal('not really zstd');
      expect(res.headers['content-encoding']).to.equal('zstd');
      await route('zstd', { body: 'plain' });
      const replaced = await gw.get('/zstd');
      expect(replaced.text).to.equal('plain');
      expect(replaced.headers['content-encoding']).to.equal(undefined);
    });

    it('an event stream is filtered event by event, as the events arrive', async () => {
      await route('sse', { filters: [{ regex: '"secret":"[^"]*"', replace: '"secret":"***"', scope: 'global' }] });
      const res = await fetch(`${gw.url}/sse`);
      expect(res.headers.get('content-type')).to.equal('text/event-stream');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let seen = '';
      // The first event, reassembled from two pieces, arrives while the upstream still holds the second.
      while (!seen.includes('\n\n')) seen += decoder.decode((await reader.read()).value);
      expect(seen).to.equal('id: 1\ndata: {"secret":"***"}\n\n');
      releaseSecondEvent();
      for (let next = await reader.read(); !next.done; next = await reader.read()) seen += decoder.decode(next.value);
      expect(seen).to.equal('id: 1\ndata: {"secret":"***"}\n\nid: 2\ndata: {"secret":"***"}\n\n');
    });
  });

  describe('local replies and MCP', () => {
    it('rewrites an error the gateway answers itself (a 401 from key-auth)', async () => {
      await putConsumer(gw, 'jack', { 'key-auth': { key: 'jack-key' } });
      await route('authed', { vars: [['status', '==', 401]], status_code: 403, body: '{"message":"go away"}', headers: { set: { 'Content-Type': 'application/json' } } }, '/authed', { 'key-auth': {} });
      const refused = await gw.get('/authed');
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ message: 'go away' });
      expect(refused.headers['content-length']).to.equal(String('{"message":"go away"}'.length));
      expect((await gw.get('/authed', { apikey: 'jack-key' })).text).to.equal('hello world');
    });

    it('on an MCP route, vars can pick JSON-RPC messages by method and tool; filters rewrite that message only', async () => {
      const put = await gw.admin('PUT', '/routes/mcp', {
        uri: '/mcp/*',
        plugins: {
          'test-jsonrpc-echo': { base_uri: '/mcp' },
          'response-rewrite': {
            vars: [['mcp_tool', '==', 'lookup']],
            headers: { set: { 'X-Tool': '$mcp_tool' } },
            filters: [{ regex: '"tool":"lookup"', replace: '"tool":"redacted"' }],
          },
        },
      });
      expect(put.status, put.text).to.equal(201);
      const json = { 'content-type': 'application/json' };
      const hit = await gw.request('POST', '/mcp/mcp', toolCall(1, 'lookup'), json);
      expect(hit.json.result.tool).to.equal('redacted');
      expect(hit.headers['x-tool']).to.equal('lookup');
      const miss = await gw.request('POST', '/mcp/mcp', toolCall(2, 'other'), json);
      expect(miss.json.result.tool).to.equal('other');
      expect(miss.headers['x-tool']).to.equal(undefined);
    });
  });

  describe('faults', () => {
    it('a body larger than max_resp_body_size aborts the response instead of truncating it (APISIX TEST 28, 29), and the gateway keeps serving', async () => {
      await route('hello', { max_resp_body_size: 5, filters: [{ regex: 'hello', replace: 'HELLO' }] });
      let failed = false;
      try {
        const res = await fetch(`${gw.url}/hello`);
        await res.text();
      } catch {
        failed = true;
      }
      expect(failed, 'the client sees an incomplete response').to.equal(true);
      expect(gw.logs.some((line) => line.includes('larger than max_resp_body_size (5 bytes)'))).to.equal(true);
      await route('hello', { filters: [{ regex: 'hello', replace: 'HELLO' }] });
      expect((await gw.get('/hello')).text).to.equal('HELLO world');
    });

    it('a gzip body that expands beyond max_resp_body_size is not decompressed past it', async () => {
      await route('bomb', { max_resp_body_size: 65536, filters: [{ regex: 'a', replace: 'b' }] });
      const outcome = await fetch(`${gw.url}/bomb`).then((res) => res.text()).then(() => 'complete', () => 'aborted');
      expect(outcome).to.equal('aborted');
      expect(gw.logs.some((line) => line.includes('could not be decoded within max_resp_body_size'))).to.equal(true);
    });

    it('a body that is not text goes out as it came', async () => {
      await route('binary', { filters: [{ regex: 'hello', replace: 'HELLO' }] });
      const res = await fetch(`${gw.url}/binary`);
      expect(Buffer.from(await res.arrayBuffer())).to.deep.equal(Buffer.from([0xff, 0xfe, 0x68, 0x65, 0x6c, 0x6c, 0x6f]));
    });
  });
});
