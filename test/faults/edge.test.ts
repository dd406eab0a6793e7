/**
 * Bad input at the HTTP edge (faults checklist B-01..B-07): each gets a clear 4xx, the upstream
 * is not bothered, and the gateway keeps serving everyone else.
 */
import { expect } from 'chai';
import { connect } from 'node:net';
import { request } from 'undici';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/processes.js';

describe('faults: HTTP edge', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({
      overrides: {
        limits: { max_body_bytes: 1024 * 1024, max_headers: 50 },
        timeouts: { headers: 0.5, request_body_idle: 0.5 },
      },
    });
    await gw.admin('PUT', '/routes/echo', { uri: '/echo/*', upstream: { nodes: { [upstream.address]: 1 } } });
    await gw.admin('PUT', '/routes/small', { uri: '/small', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'client-control': { max_body_size: 100 } } });
    await gw.admin('PUT', '/routes/large', { uri: '/large', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'client-control': { max_body_size: 4 * 1024 * 1024 } } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });
  afterEach(async () => {
    // Whatever the previous case did, a normal request still works.
    expect((await gw.get('/echo/ok')).status).to.equal(200);
  });

  it('B-01: a declared body over the limit gets 413 before it is read; the upstream is not called', async () => {
    const raw = await rawRequest(gw.url, `POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    const res = parseRawResponse(raw);
    expect(res.status).to.equal(413);
    expect(JSON.parse(res.body).code).to.equal('GW_BODY_TOO_LARGE');
    expect(upstream.seen).to.have.length(0);
  });

  it('B-02: an undeclared (chunked) body is cut off with 413 once it passes the limit', async () => {
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => {});
    socket.write('POST /echo/chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 40 && !answer; i++) {
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      socket.write('\r\n');
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => answer.length > 0, 3000);
    socket.destroy();
    expect(parseRawResponse(answer).status).to.equal(413);
  });

  it('honours a per-route body limit, lower or higher than the global one', async () => {
    expect((await gw.request('POST', '/small', 'x'.repeat(101))).status).to.equal(413);
    expect((await gw.request('POST', '/small', 'x'.repeat(100))).status).to.equal(200);
    expect((await gw.request('POST', '/large', Buffer.alloc(2 * 1024 * 1024))).status).to.equal(200);
    // 0 means no limit, as in APISIX: a body over the global 1 MiB passes.
    await gw.admin('PUT', '/routes/unlimited', { uri: '/unlimited', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'client-control': { max_body_size: 0 } } });
    expect((await gw.request('POST', '/unlimited', Buffer.alloc(2 * 1024 * 1024))).status).to.equal(200);
  });

  it('B-03: oversized headers and too many headers get 431', async () => {
    const big = await rawRequest(gw.url, `GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(parseRawResponse(big).status).to.equal(431);
    const many = Array.from({ length: 60 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const tooMany = await rawRequest(gw.url, `GET /echo/x HTTP/1.1\r\nHost: t\r\n${many}\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(tooMany).status).to.equal(431);
    const longUrl = await rawRequest(gw.url, `GET /echo/${'u'.repeat(20 * 1024)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    expect(parseRawResponse(longUrl).status).to.equal(431);
    expect(upstream.seen).to.have.length(0);
  });

  it('B-04: a client sending headers too slowly is cut off; others are unaffected', async () => {
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    socket.on('error', () => {});
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.write('GET /echo/slow HTTP/1.1\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    expect((await gw.get('/echo/meanwhile')).status).to.equal(200);
    const cut = await waitFor(() => closed, 3000);
    clearInterval(drip);
    socket.destroy();
    expect(cut).to.equal(true);
  });

  it('B-04: a body that stalls gets 408', async () => {
    const raw = await rawRequest(gw.url, 'POST /echo/stall HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-part', 4000);
    expect(parseRawResponse(raw).status).to.equal(408);
  });

  it('B-05: ambiguous framing is refused with 400 and never reaches the upstream', async () => {
    const cases = [
      'POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      'GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n',
      'GET /echo/x HTTP/1.1\nHost: t\n\n',
    ];
    for (const bytes of cases) {
      const res = parseRawResponse(await rawRequest(gw.url, bytes));
      expect(res.status, JSON.stringify(bytes)).to.equal(400);
    }
    expect(upstream.seen).to.have.length(0);
  });

  it('B-06: every plugin and the upstream see one normalized path', async () => {
    const cases: Array<[string, string]> = [
      ['//echo//a', '/echo/a'],
      ['/echo/x/../y', '/echo/y'],
      ['/%65cho/%7Euser', '/echo/~user'],
      ['/echo/a%2Fb', '/echo/a%2Fb'],
      ['/echo/./z/.', '/echo/z/'],
    ];
    for (const [sent, seen] of cases) {
      const res = parseRawResponse(await rawRequest(gw.url, `GET ${sent} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`));
      expect(res.status, sent).to.equal(200);
      expect(JSON.parse(res.body).url, sent).to.equal(seen);
    }
    const escaped = parseRawResponse(await rawRequest(gw.url, 'GET /%2e%2e/echo/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'));
    expect(JSON.parse(escaped.body).url).to.equal('/echo/x');
    const malformed = parseRawResponse(await rawRequest(gw.url, 'GET /echo/%zz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'));
    expect(malformed.status).to.equal(400);
  });

  it('survives 200 connect-and-abort cycles with nothing left in flight', async () => {
    for (let i = 0; i < 200; i++) {
      const controller = new AbortController();
      const pending = request(`${gw.url}/echo/abort`, { method: 'POST', body: 'x'.repeat(1000), signal: controller.signal }).catch(() => undefined);
      controller.abort();
      await pending;
    }
    expect(await waitFor(() => gw.running.dataPlane.activeRequests === 0, 3000)).to.equal(true);
  });
});
