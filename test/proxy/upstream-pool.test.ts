/**
 * Upstream connections as APISIX means `keepalive_pool.size`: the number of idle connections kept
 * per node, not a cap on requests in flight (issue 10, item 2). Slow clients holding connections
 * never make other requests wait; waiting for a connection is bounded by `timeout.connect`.
 */
import { expect } from 'chai';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { request } from 'undici';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { unacceptingListener } from '../helpers/upstream.js';

/** An upstream that counts its open connections and the requests it is serving at once. */
async function countingUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  const stats = { connections: 0, opened: 0, inFlight: 0, maxInFlight: 0 };
  const server = createServer((req, res) => {
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.once('close', () => (stats.inFlight -= 1));
    handler(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    stats.opened += 1;
    stats.connections = sockets.size;
    socket.once('close', () => {
      sockets.delete(socket);
      stats.connections = sockets.size;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    address,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('upstream connections', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
  });

  it('serves a request at once while 128 slow clients hold uploads to the same node (default pool)', async function () {
    this.timeout(30_000);
    const upstream = await countingUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const trickling: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    try {
      await gw.admin('PUT', '/routes/upload', { uri: '/upload', upstream: { nodes: { [upstream.address]: 1 } } });
      await gw.admin('PUT', '/routes/quick', { uri: '/quick', upstream: { nodes: { [upstream.address]: 1 }, timeout: { connect: 6, send: 3, read: 3 } } });
      const port = Number(new URL(gw.url).port);
      for (let i = 0; i < 128; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        socket.write('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nx');
        // A byte every 200 ms: always moving, never done.
        timers.push(setInterval(() => socket.write('x'), 200));
        trickling.push(socket);
      }
      expect(await waitFor(() => upstream.stats.inFlight === 128, 10_000)).to.equal(true, `upstream saw ${upstream.stats.inFlight} uploads`);
      const started = Date.now();
      const res = await request(`${gw.url}/quick`, { headersTimeout: 5000 }).catch((err: Error) => err);
      if (res instanceof Error) throw new Error(`no answer after ${Date.now() - started} ms: ${res.message}`);
      expect(res.statusCode).to.equal(200);
      expect(await res.body.text()).to.equal('ok');
      expect(Date.now() - started).to.be.lessThan(2000);
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of trickling) s.destroy();
      await upstream.close();
    }
  });

  it('lets requests beyond keepalive_pool.size run at once, and keeps only size idle connections', async () => {
    let release: () => void = () => {};
    const allArrived = new Promise<void>((r) => (release = r));
    const upstream = await countingUpstream((_req, res) => {
      if (upstream.stats.inFlight >= 10) release();
      // Held until all ten are in (or 2 s pass: a capped pool never gets there).
      Promise.race([allArrived, new Promise((r) => setTimeout(r, 2000))]).then(() => res.end('ok'));
    });
    try {
      await gw.admin('PUT', '/routes/pool2', { uri: '/pool2', upstream: { nodes: { [upstream.address]: 1 }, keepalive_pool: { size: 2 } } });
      const results = await Promise.all(Array.from({ length: 10 }, () => request(`${gw.url}/pool2`).then((r) => r.body.text())));
      expect(results).to.deep.equal(Array(10).fill('ok'));
      expect(upstream.stats.maxInFlight).to.equal(10);
      // The eight connections past the idle pool are closed; two stay for reuse.
      expect(await waitFor(() => upstream.stats.connections === 2, 3000)).to.equal(true, `${upstream.stats.connections} connections open`);
      const opened = upstream.stats.opened;
      for (let i = 0; i < 5; i++) expect(await (await request(`${gw.url}/pool2`)).body.text()).to.equal('ok');
      expect(upstream.stats.opened).to.equal(opened);
    } finally {
      release();
      await upstream.close();
    }
  });

  it("a route's own timeout.connect applies on an upstream it shares with other routes", async () => {
    const { child, port } = await unacceptingListener();
    const filler = connect(port, '127.0.0.1');
    filler.on('error', () => {});
    try {
      await new Promise((r) => filler.once('connect', r));
      await gw.admin('PUT', '/upstreams/shared-stuck', { nodes: { [`127.0.0.1:${port}`]: 1 }, retries: 0 });
      await gw.admin('PUT', '/routes/fast-fail', { uri: '/fast-fail', upstream_id: 'shared-stuck', timeout: { connect: 0.5, send: 5, read: 5 } });
      await gw.admin('PUT', '/routes/patient', { uri: '/patient', upstream_id: 'shared-stuck', timeout: { connect: 2, send: 5, read: 5 } });
      expect((await gw.get('/fast-fail')).status).to.equal(504);
      const started = Date.now();
      expect((await gw.get('/patient')).status).to.equal(504);
      expect(Date.now() - started).to.be.greaterThan(1800);
    } finally {
      filler.destroy();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('a request waiting for its connection gets 504 after timeout.connect', async function () {
    // A node whose listen queue is full: connection attempts are neither accepted nor refused.
    const { child, port } = await unacceptingListener();
    const filler = connect(port, '127.0.0.1');
    filler.on('error', () => {});
    try {
      await new Promise((r) => filler.once('connect', r));
      await gw.admin('PUT', '/routes/stuck', {
        uri: '/stuck',
        upstream: { nodes: { [`127.0.0.1:${port}`]: 1 }, retries: 0, timeout: { connect: 0.5, send: 5, read: 5 } },
      });
      const started = Date.now();
      const res = await gw.get('/stuck');
      const took = Date.now() - started;
      expect(res.status).to.equal(504);
      expect(res.json.code).to.equal('GW_UPSTREAM_CONNECT_TIMEOUT');
      // undici checks connect timeouts on a coarse (half-second) timer.
      expect(took).to.be.within(400, 3000);
    } finally {
      filler.destroy();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
