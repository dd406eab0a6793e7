/**
 * HTTP upstream proxying against real upstream servers on loopback: the README walkthrough,
 * load balancing, retries, timeouts, streaming and the headers a proxy must get right.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { request } from 'undici';
import { REPO_ROOT, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { freePort } from '../helpers/ports.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';

describe('HTTP proxying', () => {
  let gw: TestGateway;
  let a: TestUpstream;
  let b: TestUpstream;

  before(async () => {
    a = await startUpstream(undefined, 'a');
    b = await startUpstream(undefined, 'b');
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await a.close();
    await b.close();
  });
  afterEach(() => {
    a.behaviour = b.behaviour = 'echo';
  });

  it('serves the README walkthrough: upstream + route with regex_uri, no restart', async () => {
    expect((await gw.admin('PUT', '/upstreams/httpbin', { type: 'roundrobin', nodes: { [a.address]: 1 } })).status).to.equal(201);
    const route = await gw.admin('PUT', '/routes/1', {
      uri: '/anything/*',
      methods: ['GET', 'POST'],
      upstream_id: 'httpbin',
      plugins: { 'proxy-rewrite': { regex_uri: ['^/anything/(.*)', '/$1'] } },
    });
    expect(route.status).to.equal(201);
    const res = await gw.get('/anything/get?x=1');
    expect(res.status).to.equal(200);
    expect(res.json.url).to.equal('/get?x=1');
    expect((await gw.request('DELETE', '/anything/get')).status).to.equal(404);
  });

  it('balances round-robin by weight', async () => {
    await gw.admin('PUT', '/routes/rr', { uri: '/rr', upstream: { type: 'roundrobin', nodes: { [a.address]: 3, [b.address]: 1 } } });
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 40; i++) counts[(await gw.get('/rr')).json.upstream] += 1;
    expect(counts).to.deep.equal({ a: 30, b: 10 });
  });

  it('pins a key to one node with chash', async () => {
    await gw.admin('PUT', '/routes/ch', {
      uri: '/ch',
      upstream: { type: 'chash', hash_on: 'header', key: 'x-user', nodes: { [a.address]: 1, [b.address]: 1 } },
    });
    const seen = new Map<string, Set<string>>();
    for (let i = 0; i < 40; i++) {
      const user = `user-${i % 8}`;
      const res = await gw.get('/ch', { 'x-user': user });
      if (!seen.has(user)) seen.set(user, new Set());
      seen.get(user)!.add(res.json.upstream);
    }
    for (const nodes of seen.values()) expect(nodes.size).to.equal(1);
    const used = new Set([...seen.values()].flatMap((s) => [...s]));
    expect(used.size).to.equal(2);
  });

  it('retries the next node when a node refuses connections', async () => {
    const dead = await freePort();
    await gw.admin('PUT', '/routes/retry', { uri: '/retry', upstream: { nodes: { [`127.0.0.1:${dead}`]: 100, [a.address]: 1 } } });
    for (let i = 0; i < 5; i++) {
      const res = await gw.get('/retry');
      expect(res.status).to.equal(200);
      expect(res.json.upstream).to.equal('a');
    }
  });

  it('answers 502 when every node refuses, with a request id and no internals', async () => {
    const dead = await freePort();
    await gw.admin('PUT', '/routes/dead', { uri: '/dead', upstream: { nodes: { [`127.0.0.1:${dead}`]: 1 } } });
    const res = await gw.get('/dead');
    expect(res.status).to.equal(502);
    expect(res.json.error_msg).to.equal('Bad Gateway');
    expect(res.json.request_id).to.be.a('string');
    expect(res.text).to.not.include('ECONNREFUSED');
  });

  it('answers 504 when the upstream hangs past the read timeout, and keeps serving', async () => {
    await gw.admin('PUT', '/routes/slow', { uri: '/slow', upstream: { nodes: { [b.address]: 1 }, timeout: { connect: 1, send: 1, read: 0.3 } } });
    b.behaviour = 'hang';
    const res = await gw.get('/slow');
    expect(res.status).to.equal(504);
    b.behaviour = 'echo';
    expect((await gw.get('/slow')).status).to.equal(200);
  });

  it('answers 504 when the upstream stops reading the request body for longer than timeout.send', async () => {
    // An upstream that accepts the connection and never reads: TCP backpressure stalls the upload.
    const sockets: Socket[] = [];
    const deaf = createServer((socket) => {
      socket.pause();
      sockets.push(socket);
    });
    await new Promise<void>((r) => deaf.listen(0, '127.0.0.1', r));
    try {
      const port = (deaf.address() as AddressInfo).port;
      await gw.admin('PUT', '/routes/deaf', {
        uri: '/deaf',
        upstream: { nodes: { [`127.0.0.1:${port}`]: 1 }, retries: 0, timeout: { connect: 1, send: 0.5, read: 5 } },
        plugins: { 'client-control': { max_body_size: 64 * 1024 * 1024 } },
      });
      const started = Date.now();
      const res = await request(`${gw.url}/deaf`, { method: 'POST', body: Buffer.alloc(32 * 1024 * 1024, 1) }).catch((err: Error) => err);
      if (res instanceof Error) throw res;
      expect(res.statusCode).to.equal(504);
      expect(((await res.body.json()) as { code: string }).code).to.equal('GW_UPSTREAM_SEND_TIMEOUT');
      expect(Date.now() - started).to.be.lessThan(4000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => deaf.close(r));
    }
  });

  it('answers 502 when the upstream resets the connection', async () => {
    await gw.admin('PUT', '/routes/reset', { uri: '/reset', upstream: { nodes: { [b.address]: 1 }, retries: 0 } });
    b.behaviour = 'reset';
    expect((await gw.get('/reset')).status).to.equal(502);
  });

  it('sets X-Forwarded-* and X-Real-IP, drops hop-by-hop headers, passes the Host', async () => {
    await gw.admin('PUT', '/routes/hdr', { uri: '/hdr', upstream: { nodes: { [a.address]: 1 } } });
    // A raw request: HTTP client libraries rewrite the Connection header.
    const raw = await rawRequest(
      gw.url,
      'GET /hdr HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-For: 203.0.113.9\r\nX-Real-IP: 6.6.6.6\r\n' +
        'Connection: close, x-secret-hop\r\nX-Secret-Hop: do-not-forward\r\nProxy-Connection: keep-alive\r\n\r\n',
    );
    const headers = JSON.parse(parseRawResponse(raw).body).headers;
    expect(headers.host).to.equal('shop.example.com');
    expect(headers['x-real-ip']).to.equal('127.0.0.1');
    expect(headers['x-forwarded-for']).to.equal('203.0.113.9, 127.0.0.1');
    expect(headers['x-forwarded-proto']).to.equal('http');
    expect(headers['x-forwarded-host']).to.equal('shop.example.com');
    expect(headers).to.not.have.property('x-secret-hop');
    expect(headers).to.not.have.property('proxy-connection');
  });

  it('never forwards identity headers a client sends, on routes without auth too', async () => {
    await gw.admin('PUT', '/routes/ident', { uri: '/ident', upstream: { nodes: { [a.address]: 1 } } });
    const res = await gw.get('/ident', { 'x-consumer-username': 'admin', 'X-Consumer-Custom-Id': '1', 'x-credential-identifier': 'k' });
    expect(res.json.headers).to.not.have.any.keys('x-consumer-username', 'x-consumer-custom-id', 'x-credential-identifier');
  });

  it('proxies to an https upstream, verifying its certificate unless tls.verify is false', async () => {
    const server = createHttpsServer(
      { key: readFileSync(join(REPO_ROOT, 'test/fixtures/tls/key.pem')), cert: readFileSync(join(REPO_ROOT, 'test/fixtures/tls/cert.pem')) },
      (req, res) => res.end(JSON.stringify({ secure: true, url: req.url })),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const node = { [`127.0.0.1:${(server.address() as AddressInfo).port}`]: 1 };
      await gw.admin('PUT', '/routes/tls-off', { uri: '/tls-off', upstream: { scheme: 'https', nodes: node, tls: { verify: false } } });
      await gw.admin('PUT', '/routes/tls-on', { uri: '/tls-on', upstream: { scheme: 'https', nodes: node, retries: 0 } });
      expect((await gw.get('/tls-off')).json).to.deep.equal({ secure: true, url: '/tls-off' });
      // A self-signed certificate fails verification: the gateway answers 502, not the upstream's body.
      expect((await gw.get('/tls-on')).status).to.equal(502);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('honours pass_host node and rewrite', async () => {
    await gw.admin('PUT', '/routes/ph-node', { uri: '/ph-node', upstream: { nodes: { [a.address]: 1 }, pass_host: 'node' } });
    await gw.admin('PUT', '/routes/ph-rw', { uri: '/ph-rw', upstream: { nodes: { [a.address]: 1 }, pass_host: 'rewrite', upstream_host: 'internal.svc' } });
    expect((await gw.get('/ph-node', { host: 'public.example' })).json.headers.host).to.equal(a.address);
    expect((await gw.get('/ph-rw', { host: 'public.example' })).json.headers.host).to.equal('internal.svc');
  });

  it('streams large bodies both ways intact', async () => {
    const big = await startUpstream((req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-request-sha': createHash('sha256').update(body).digest('hex') });
      // 16 MiB in 64 KiB chunks, respecting backpressure.
      let sent = 0;
      const chunk = Buffer.alloc(65536, 7);
      const pump = () => {
        while (sent < 256) {
          sent += 1;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    try {
      await gw.admin('PUT', '/routes/big', { uri: '/big', upstream: { nodes: { [big.address]: 1 } } });
      const upload = Buffer.alloc(5 * 1024 * 1024, 3);
      const res = await request(`${gw.url}/big`, { method: 'POST', body: upload });
      expect(res.headers['x-request-sha']).to.equal(createHash('sha256').update(upload).digest('hex'));
      let total = 0;
      for await (const part of res.body) total += (part as Buffer).length;
      expect(total).to.equal(16 * 1024 * 1024);
    } finally {
      await big.close();
    }
  });

  it('survives clients that leave mid-response, and ends their upstream requests', async () => {
    let upstreamClosed = 0;
    // An endless response: only the gateway aborting its upstream request ends it.
    const slow = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed += 1;
      });
    });
    try {
      await gw.admin('PUT', '/routes/stream', { uri: '/stream', upstream: { nodes: { [slow.address]: 1 } } });
      for (let i = 0; i < 20; i++) {
        const controller = new AbortController();
        const res = await request(`${gw.url}/stream`, { signal: controller.signal });
        for await (const _ of res.body) {
          controller.abort();
          break;
        }
      }
      expect((await gw.get('/anything/still-ok')).status).to.equal(200);
      // Upstream connections of aborted responses are closed, not leaked.
      await new Promise((r) => setTimeout(r, 200));
      expect(gw.running.dataPlane.activeRequests).to.equal(0);
      expect(upstreamClosed).to.equal(20);
    } finally {
      await slow.close();
    }
  });

  it('answers HEAD without a body', async () => {
    await gw.admin('PUT', '/routes/head', { uri: '/head', upstream: { nodes: { [a.address]: 1 } } });
    const res = await gw.request('HEAD', '/head');
    expect(res.status).to.equal(200);
    expect(res.text).to.equal('');
  });
});
