/**
 * `Expect: 100-continue` (curl sends it for any body over 1 MiB) and failures caused by the
 * request itself: they proxy or get a 4xx, and never count against the upstream in api-breaker
 * (issue 10, item 3).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const run = promisify(execFile);
const BREAKER = { break_response_code: 599, unhealthy: { http_statuses: [502, 504], failures: 2 } };

describe('Expect: 100-continue and request-caused failures', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-expect-'));
    upstream = await startUpstream((_req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes: body.length, sha: createHash('sha256').update(body).digest('hex') }));
    });
    gw = await startTestGateway({ overrides: { timeouts: { request_body_idle: 0.5 } } });
    const nodes = { [upstream.address]: 1 };
    await gw.admin('PUT', '/routes/upload', { uri: '/upload', upstream: { nodes }, plugins: { 'api-breaker': BREAKER } });
    await gw.admin('PUT', '/routes/small', {
      uri: '/small',
      upstream: { nodes },
      plugins: { 'api-breaker': BREAKER, 'client-control': { max_body_size: 1000 } },
    });
    await gw.admin('PUT', '/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
    await gw.admin('PUT', '/routes/guarded', { uri: '/guarded', upstream: { nodes }, plugins: { 'key-auth': {} } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });

  it('proxies a 2 MB POST from curl, which sends Expect: 100-continue', async function () {
    const file = join(dir, 'two-mb.bin');
    const payload = Buffer.alloc(2 * 1024 * 1024, 'z');
    writeFileSync(file, payload);
    const { stdout, stderr } = await run('curl', ['-sv', '-X', 'POST', '--data-binary', `@${file}`, `${gw.url}/upload`]).catch((err: { stdout: string; stderr: string }) => err);
    expect(stderr).to.match(/> Expect: 100-continue/i);
    expect(stderr).to.match(/< HTTP\/1.1 100 Continue/);
    expect(JSON.parse(stdout)).to.deep.equal({ bytes: payload.length, sha: createHash('sha256').update(payload).digest('hex') });
    expect(upstream.seen[0].headers).to.not.have.property('expect');
  });

  it('answers 100 Continue before the body is sent, then proxies it (raw socket)', async () => {
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    socket.on('error', () => {});
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.write('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    expect(await waitFor(() => answer.length > 0, 3000)).to.equal(true);
    expect(answer).to.equal('HTTP/1.1 100 Continue\r\n\r\n');
    socket.write('hello');
    await new Promise((r) => socket.once('close', r));
    const res = parseRawResponse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.body).bytes).to.equal(5);
  });

  it('refuses an unauthenticated request without asking for its body', async () => {
    const raw = await rawRequest(gw.url, 'POST /guarded HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n');
    expect(raw).to.not.include('100 Continue');
    expect(parseRawResponse(raw).status).to.equal(401);
    expect(upstream.seen).to.have.length(0);
  });

  it('three Expect POSTs do not open api-breaker for everyone', async () => {
    for (let i = 0; i < 3; i++) {
      const raw = await rawExpectPost(gw.url, '/upload', Buffer.alloc(1000, 'e'));
      expect(parseRawResponse(raw).status).to.equal(200);
    }
    expect((await gw.request('POST', '/upload', 'after')).status).to.equal(200);
  });

  it('uploads that fail through the client (cut, stalled, too large) never open api-breaker', async () => {
    const port = Number(new URL(gw.url).port);
    for (let i = 0; i < 3; i++) {
      // Cut mid-body.
      const cut = connect(port, '127.0.0.1');
      cut.on('error', () => {});
      cut.write('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n' + 'c'.repeat(5000));
      await new Promise((r) => setTimeout(r, 30));
      cut.destroy();
      // Stalled: 408.
      const stalled = parseRawResponse(await rawRequest(gw.url, 'POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npart', 4000));
      expect(stalled.status).to.equal(408);
      // Chunked past the route's limit: 413.
      const chunk = 'x'.repeat(600);
      const big = `POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${(600).toString(16)}\r\n${chunk}\r\n${(600).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
      expect(parseRawResponse(await rawRequest(gw.url, big)).status).to.equal(413);
    }
    expect((await gw.request('POST', '/upload', 'after')).status).to.equal(200);
    expect((await gw.request('POST', '/small', 'after')).status).to.equal(200);
  });
});

/** A POST that waits for `100 Continue` before sending its body, as curl does. */
function rawExpectPost(baseUrl: string, path: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1');
    let answer = '';
    let sent = false;
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      answer += d.toString();
      if (!sent && answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sent = true;
        answer = '';
        socket.write(body);
      }
    });
    socket.on('close', () => resolve(answer));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
  });
}
