import { expect } from 'chai';
import type { ServerResponse } from 'node:http';
import { request } from 'undici';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { adopt, waitFor } from '../helpers/processes.js';
import { sharedRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putRoute, sleep, pluginsInUse } from './support.js';

/**
 * An upstream whose /hold… responses stay open until the test releases them, and whose
 * /stream/open response is an SSE stream that never ends by itself.
 */
async function holdingUpstream() {
  const held: ServerResponse[] = [];
  const upstream = await startUpstream((req, res) => {
    if (req.url === '/stream/open') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: hello\ndata: {}\n\n');
      held.push(res);
      return;
    }
    if (req.url?.startsWith('/hold')) {
      held.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  return {
    upstream,
    held,
    release() {
      for (const res of held.splice(0)) {
        if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"released":true}');
      }
    },
    waitHeld: (n: number) => waitFor(() => held.length >= n, 5000, 5),
  };
}

describe('plugin limit-conn', function () {
  this.timeout(30_000);
  let hold: Awaited<ReturnType<typeof holdingUpstream>>;
  let upstream: TestUpstream;
  before(async () => {
    hold = await holdingUpstream();
    upstream = hold.upstream;
  });
  afterEach(() => hold.release());
  after(async () => {
    await upstream.close();
  });

  describe('on one gateway', () => {
    let gw: TestGateway;
    let redis: TestRedis;
    const prefix = `lcn${Date.now()}`;
    before(async () => {
      redis = await sharedRedis();
      gw = await startTestGateway({ overrides: { redis: { url: redis.url, key_prefix: prefix } } });
    });
    after(async () => {
      await gw.stop();
    });

    describe('schema', () => {
      it('fills APISIX defaults and refuses bad configs', async () => {
        const ok = await putRoute(gw, 'defaults', '/defaults', upstream, { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' } });
        expect(ok.status).to.equal(201);
        expect((await pluginsInUse(gw, 'defaults'))['limit-conn']).to.deep.equal({
          conn: 1,
          burst: 0,
          default_conn_delay: 0.1,
          key: 'remote_addr',
          key_type: 'var',
          only_use_default_delay: false,
          rejected_code: 503,
          key_ttl: 3600,
          policy: 'local',
          allow_degradation: false,
        });
        const bad = async (conf: unknown) => (await putRoute(gw, 'bad', '/bad', upstream, { 'limit-conn': conf })).json.error_msg as string;
        expect(await bad({ burst: 0, default_conn_delay: 0.1, key: 'remote_addr' })).to.match(/\/conn.*required/);
        expect(await bad({ conn: 0, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' })).to.match(/\/conn/);
        expect(await bad({ conn: 1, burst: 0, default_conn_delay: 0, key: 'remote_addr' })).to.match(/\/default_conn_delay/);
        expect(await bad({ conn: 1, burst: 0, default_conn_delay: 1 })).to.match(/\/key.*required/);
      });
    });

    describe('happy path', () => {
      it('admits `conn` requests at once per key and frees the slot when a response ends', async () => {
        await putRoute(gw, 'hold', '/hold', upstream, { 'limit-conn': { conn: 2, burst: 0, default_conn_delay: 0.1, key: 'http_x_user' } });
        const a = gw.get('/hold', { 'x-user': 'a' });
        const b = gw.get('/hold', { 'x-user': 'a' });
        expect(await hold.waitHeld(2)).to.equal(true);
        const third = await gw.get('/hold', { 'x-user': 'a' });
        expect(third.status).to.equal(503);
        expect(third.json.code).to.equal('GW_CONN_LIMITED');
        expect(third.headers['retry-after']).to.equal('1');
        // Another key has its own slots.
        const other = gw.get('/hold', { 'x-user': 'b' });
        expect(await hold.waitHeld(3)).to.equal(true);
        hold.release();
        expect((await a).status).to.equal(200);
        expect((await b).status).to.equal(200);
        expect((await other).status).to.equal(200);
        const again = gw.get('/hold', { 'x-user': 'a' });
        expect(await hold.waitHeld(1)).to.equal(true);
        hold.release();
        expect((await again).status).to.equal(200);
      });

      it('holds a slot for as long as an SSE stream is open, and frees it when the client goes away', async () => {
        await putRoute(gw, 'stream', '/stream/*', upstream, { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' } });
        const controller = new AbortController();
        const stream = await request(`${gw.url}/stream/open`, { signal: controller.signal });
        expect(stream.statusCode).to.equal(200);
        const firstEvent = await new Promise<string>((resolve) => stream.body.once('data', (d: Buffer) => resolve(d.toString())));
        expect(firstEvent).to.include('event: hello');
        await sleep(200);
        expect((await gw.get('/stream/other')).status).to.equal(503);
        controller.abort();
        stream.body.on('error', () => undefined);
        expect(await waitFor(async () => (await gw.get('/stream/probe')).status === 200, 3000, 20)).to.equal(true);
      });

      it('frees the slot when the upstream fails or the client leaves before the response', async () => {
        await putRoute(gw, 'fail', '/fail', upstream, { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' } });
        upstream.behaviour = 'reset';
        try {
          expect((await gw.get('/fail')).status).to.equal(502);
        } finally {
          upstream.behaviour = 'echo';
        }
        expect((await gw.get('/fail')).status).to.equal(200);
        await putRoute(gw, 'gone', '/hold-gone', upstream, { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' } });
        const controller = new AbortController();
        const pending = request(`${gw.url}/hold-gone`, { signal: controller.signal }).catch(() => undefined);
        expect(await hold.waitHeld(1)).to.equal(true);
        controller.abort();
        await pending;
        hold.release();
        expect(await waitFor(async () => {
          const probe = gw.get('/hold-gone');
          await hold.waitHeld(1);
          hold.release();
          return (await probe).status === 200;
        }, 3000)).to.equal(true);
      });

      it('delays requests within the burst by default_conn_delay, and rejects past conn + burst', async () => {
        await putRoute(gw, 'burst', '/hold-burst', upstream, {
          'limit-conn': { conn: 1, burst: 1, default_conn_delay: 0.4, only_use_default_delay: true, key: 'remote_addr' },
        });
        const first = gw.get('/hold-burst');
        expect(await hold.waitHeld(1)).to.equal(true);
        const started = performance.now();
        const second = gw.get('/hold-burst');
        await sleep(50);
        expect((await gw.get('/hold-burst')).status).to.equal(503);
        expect(await hold.waitHeld(2)).to.equal(true);
        expect(performance.now() - started).to.be.at.least(350);
        hold.release();
        expect((await first).status).to.equal(200);
        expect((await second).status).to.equal(200);
      });

      it('counts in Redis with policy redis, back to nothing when requests end', async () => {
        await putRoute(gw, 'redis', '/hold-redis', upstream, { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', policy: 'redis' } });
        const first = gw.get('/hold-redis');
        expect(await hold.waitHeld(1)).to.equal(true);
        const keys = await redis.client().keys(`${prefix}:limit-conn:route:redis:*`);
        expect(keys).to.have.length(1);
        expect(await redis.client().get(keys[0])).to.equal('1');
        expect(await redis.client().ttl(keys[0])).to.be.within(3500, 3600);
        expect((await gw.get('/hold-redis')).status).to.equal(503);
        hold.release();
        expect((await first).status).to.equal(200);
        expect(await waitFor(async () => (await redis.client().exists(keys[0])) === 0, 2000)).to.equal(true);
      });
    });
  });

  describe('faults', () => {
    let gw: TestGateway;
    let redis: TestRedis;
    before(async () => {
      redis = await startRedis();
      gw = await startTestGateway({ overrides: { redis: { url: redis.url, key_prefix: 'lcnfaults' }, log: { level: 'warn' } } });
      const conf = { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', policy: 'redis' };
      await putRoute(gw, 'closed', '/closed', upstream, { 'limit-conn': conf });
      await putRoute(gw, 'open', '/open', upstream, { 'limit-conn': { ...conf, allow_degradation: true } });
    });
    after(async () => {
      await gw?.stop();
      await redis?.stop();
    });

    it('fails closed while Redis is down, passes uncounted with allow_degradation, and counts again after', async () => {
      expect((await gw.get('/closed')).status).to.equal(200);
      await redis.kill();
      const closed = await gw.get('/closed');
      expect(closed.status).to.equal(503);
      expect(closed.json.code).to.equal('GW_RATE_LIMIT_STORE_UNAVAILABLE');
      expect(closed.headers['retry-after']).to.equal('1');
      expect((await gw.get('/open')).status).to.equal(200);
      expect((await gw.get('/open')).status).to.equal(200);
      await redis.restart();
      adopt(redis.pid);
      expect(await waitFor(async () => (await gw.get('/closed')).status === 200, 10_000, 100)).to.equal(true);
      // A slot released while Redis was down would linger until key_ttl; none was held here.
      expect(await redis.client().keys('lcnfaults:*')).to.deep.equal([]);
    });
  });
});
