import { expect } from 'chai';
import { request } from 'undici';
import { storeFailureCount } from '../../plugins/kit/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { adopt, waitFor } from '../helpers/processes.js';
import { sharedRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { firstAnswerOtherThan, jsonRpcEcho, putRoute, sleep, statuses, toolCall, pluginsInUse } from './support.js';

describe('plugin limit-req', function () {
  this.timeout(30_000);
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  describe('on one gateway', () => {
    let gw: TestGateway;
    let redis: TestRedis;
    const prefix = `lr${Date.now()}`;
    before(async () => {
      redis = await sharedRedis();
      gw = await startTestGateway({ overrides: { redis: { url: redis.url, key_prefix: prefix } }, extraPlugins: [jsonRpcEcho] });
    });
    after(async () => {
      await gw.stop();
    });

    const timed = async (path: string, headers?: Record<string, string>) => {
      const started = performance.now();
      const res = await gw.get(path, headers);
      return { status: res.status, ms: performance.now() - started, res };
    };

    describe('schema', () => {
      it('fills APISIX defaults and refuses bad configs', async () => {
        const ok = await putRoute(gw, 'defaults', '/defaults', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr' } });
        expect(ok.status).to.equal(201);
        expect((await pluginsInUse(gw, 'defaults'))['limit-req']).to.deep.equal({
          rate: 1,
          burst: 0,
          key: 'remote_addr',
          key_type: 'var',
          rejected_code: 503,
          nodelay: false,
          policy: 'local',
          allow_degradation: false,
        });
        const bad = async (conf: unknown) => (await putRoute(gw, 'bad', '/bad', upstream, { 'limit-req': conf })).json.error_msg as string;
        expect(await bad({ burst: 0, key: 'remote_addr' })).to.match(/\/rate.*required/);
        expect(await bad({ rate: 0, burst: 0, key: 'remote_addr' })).to.match(/\/rate/);
        expect(await bad({ rate: 1, burst: -1, key: 'remote_addr' })).to.match(/\/burst/);
        expect(await bad({ rate: 1, burst: 0 })).to.match(/\/key.*required/);
        expect(await bad({ rate: 1, burst: 0, key: 'x', key_type: 'constant' })).to.match(/\/key_type/);
      });
    });

    describe('happy path', () => {
      it('lets `rate` requests a second through and rejects the excess when there is no burst', async () => {
        await putRoute(gw, 'rate', '/rate', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr' } });
        const firstSent = Date.now();
        expect(await statuses(gw, 2, '/rate')).to.deep.equal([200, 503]);
        // The bucket drains at 1/s from the first admission, which came after firstSent.
        const next = await firstAnswerOtherThan(gw, '/rate', 503);
        expect(next.res.status).to.equal(200);
        expect(next.at - firstSent, 'one request a second').to.be.at.least(1000);
      });

      it('delays requests within the burst by excess / rate, or lets them straight through with nodelay', async () => {
        await putRoute(gw, 'burst', '/burst', upstream, { 'limit-req': { rate: 2, burst: 1, key: 'remote_addr' } });
        expect((await timed('/burst')).status).to.equal(200);
        const delayed = await timed('/burst');
        expect(delayed.status).to.equal(200);
        // One request ahead at 2/s: it waited about half a second for its turn.
        expect(delayed.ms).to.be.at.least(350);

        await putRoute(gw, 'nodelay', '/nodelay', upstream, { 'limit-req': { rate: 2, burst: 1, key: 'remote_addr', nodelay: true } });
        const results = await Promise.all([timed('/nodelay'), timed('/nodelay'), timed('/nodelay')]);
        expect(results.map((r) => r.status).sort()).to.deep.equal([200, 200, 503]);
        expect(Math.max(...results.map((r) => r.ms))).to.be.lessThan(400);
      });

      it('keys on a header, on MCP tool names, and not on spoofed forwarding headers (B-07)', async () => {
        await putRoute(gw, 'hdr', '/hdr', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'http_x_client', nodelay: true } });
        expect(await statuses(gw, 2, '/hdr', { 'x-client': 'a' })).to.deep.equal([200, 503]);
        expect(await statuses(gw, 1, '/hdr', { 'x-client': 'b' })).to.deep.equal([200]);

        await putRoute(gw, 'ip', '/ip', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr', nodelay: true } });
        expect((await gw.get('/ip')).status).to.equal(200);
        expect((await gw.get('/ip', { 'x-real-ip': '192.0.2.1', 'x-forwarded-for': '192.0.2.2' })).status).to.equal(503);

        await gw.admin('PUT', '/routes/mcp', {
          uri: '/mcp-req/*',
          plugins: { 'limit-req': { rate: 1, burst: 0, key: '$mcp_method $mcp_tool', key_type: 'var_combination', nodelay: true }, 'test-jsonrpc-echo': { base_uri: '/mcp-req' } },
        });
        const call = (body: unknown) => gw.request('POST', '/mcp-req/mcp', body, { 'content-type': 'application/json' });
        expect((await call(toolCall(1, 'a'))).status).to.equal(200);
        expect((await call(toolCall(2, 'a'))).status).to.equal(503);
        expect((await call(toolCall(3, 'b'))).status).to.equal(200);
      });

      it('keeps its bucket in Redis with policy redis', async () => {
        await putRoute(gw, 'redis', '/redis', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr', policy: 'redis' } });
        expect(await statuses(gw, 2, '/redis')).to.deep.equal([200, 503]);
        const keys = await redis.client().keys(`${prefix}:limit-req:route:redis:*`);
        expect(keys).to.have.length(1);
        expect(await redis.client().pttl(keys[0])).to.be.within(1, 3000);
      });
    });

    describe('rejections', () => {
      it('answers rejected_code and rejected_msg with Retry-After, without calling the upstream', async () => {
        await putRoute(gw, 'reject', '/reject', upstream, { 'limit-req': { rate: 0.5, burst: 0, key: 'remote_addr', rejected_code: 429, rejected_msg: 'too fast' } });
        await gw.get('/reject');
        const seen = upstream.seen.length;
        const res = await gw.get('/reject');
        expect(res.status).to.equal(429);
        expect(res.json).to.deep.equal({ error_msg: 'too fast' });
        expect(Number(res.headers['retry-after'])).to.be.within(1, 2);
        expect(upstream.seen.length).to.equal(seen);
      });

      it('copes with a client that leaves while its request is delayed', async () => {
        await putRoute(gw, 'leave', '/leave', upstream, { 'limit-req': { rate: 1, burst: 5, key: 'remote_addr' } });
        await gw.get('/leave');
        // The first admission came before this: the second request's turn is at most 1 s after it.
        const firstAnswered = Date.now();
        const seen = upstream.seen.length;
        const controller = new AbortController();
        const pending = request(`${gw.url}/leave`, { signal: controller.signal }).catch(() => undefined);
        // Leave once the gateway holds the request (a fixed pause could leave before it arrives)...
        expect(await waitFor(() => gw.running.dataPlane.activeRequests === 1, 3000), 'the request reached the gateway').to.equal(true);
        controller.abort();
        await pending;
        // ...and check it is not sent on when its turn comes: the one wait that must be real.
        await sleep(Math.max(0, firstAnswered + 1200 - Date.now()));
        expect(upstream.seen.length).to.equal(seen);
        expect((await gw.get('/defaults')).status).to.equal(200);
      });
    });
  });

  describe('faults', () => {
    let gw: TestGateway;
    let redis: TestRedis;
    before(async () => {
      redis = await startRedis();
      gw = await startTestGateway({ overrides: { redis: { url: redis.url, key_prefix: 'lrfaults' }, log: { level: 'warn' } } });
      await putRoute(gw, 'closed', '/closed', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr', policy: 'redis', nodelay: true } });
      await putRoute(gw, 'open', '/open', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr', policy: 'redis', nodelay: true, allow_degradation: true } });
    });
    after(async () => {
      await gw?.stop();
      await redis?.stop();
    });

    it('fails closed while Redis is down, passes with allow_degradation, and limits again after it returns', async () => {
      expect((await gw.get('/closed')).status).to.equal(200);
      await redis.kill();
      const started = performance.now();
      const closed = await gw.get('/closed');
      expect(closed.status).to.equal(503);
      expect(closed.json.code).to.equal('GW_RATE_LIMIT_STORE_UNAVAILABLE');
      expect(closed.headers['retry-after']).to.equal('1');
      expect(performance.now() - started).to.be.lessThan(1000);
      const allowed = await storeFailureCount(gw.running.metrics, 'limit-req', 'allowed');
      expect(await statuses(gw, 3, '/open')).to.deep.equal([200, 200, 200]);
      expect(await storeFailureCount(gw.running.metrics, 'limit-req', 'allowed')).to.equal(allowed + 3);
      expect(gw.logs.filter((l) => l.includes('letting requests through') && l.includes('limit-req')).length).to.equal(1);

      await redis.restart();
      adopt(redis.pid);
      expect(await waitFor(async () => (await gw.get('/closed')).status === 200, 10_000, 100)).to.equal(true);
      expect((await gw.get('/closed')).status).to.equal(503);
      expect(await statuses(gw, 2, '/open')).to.deep.equal([200, 503]);
    });
  });
});
