import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeFailureCount } from '../../plugins/kit/index.js';
import { http, spawnGateway, startTestGateway, type GatewayProcess, type TestGateway } from '../helpers/gateway.js';
import { adopt, waitFor } from '../helpers/processes.js';
import { sharedRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { jsonRpcEcho, putConsumer, putRoute, startFaultProxy, statuses, toolCall, type FaultProxy } from './support.js';

describe('plugin limit-count', function () {
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
    const prefix = `lc${Date.now()}`;
    before(async () => {
      redis = await sharedRedis();
      gw = await startTestGateway({ overrides: { redis: { url: redis.url, key_prefix: prefix } }, extraPlugins: [jsonRpcEcho] });
    });
    after(async () => {
      await gw.stop();
    });

    describe('schema', () => {
      it('stores the config as sent and shows APISIX defaults in its schema; they apply when the route runs', async () => {
        const res = await putRoute(gw, 'defaults', '/defaults', upstream, { 'limit-count': { count: 2, time_window: 60 } });
        expect(res.status).to.equal(201);
        expect(res.json.value.plugins['limit-count']).to.deep.equal({ count: 2, time_window: 60 });
        const { properties } = (await gw.admin('GET', '/plugins/limit-count')).json;
        expect(properties.key.default).to.equal('remote_addr');
        expect(properties.rejected_code.default).to.equal(503);
        expect(properties.show_limit_quota_header.default).to.equal(true);
        const ok = await gw.get('/defaults');
        expect(ok.headers['x-ratelimit-limit']).to.equal('2');
      });

      it('refuses incomplete or wrong configs with a message naming the field', async () => {
        const bad = async (conf: unknown) => (await putRoute(gw, 'bad', '/bad', upstream, { 'limit-count': conf })).json.error_msg as string;
        expect(await bad({ count: 2 })).to.match(/limit-count.*time_window|must match exactly one schema/);
        expect(await bad({ count: 0, time_window: 1 })).to.match(/\/count/);
        expect(await bad({ count: 1, time_window: 1, policy: 'memcached' })).to.match(/\/policy.*one of/);
        expect(await bad({ count: 1, time_window: 1, policy: 'redis-cluster' })).to.match(/redis_cluster_nodes.*required/);
        expect(await bad({ count: 1, time_window: 1, rejected_code: 99 })).to.match(/rejected_code/);
        expect(await bad({ count: 1, time_window: 1, window_type: 'sliding' })).to.match(/window_type/);
        expect(await bad({ count: 1, time_window: 1, colour: 'red' })).to.match(/colour.*unknown property/);
        expect(await bad({ rules: [{ count: 1, time_window: 1, key: '$a' }, { count: 2, time_window: 1, key: '$a' }] })).to.match(/duplicate key/);
        expect((await gw.get('/bad')).status).to.equal(404);
      });
    });

    describe('happy path', () => {
      it('counts per client address and tells the client its quota', async () => {
        await putRoute(gw, 'quota', '/quota', upstream, { 'limit-count': { count: 3, time_window: 60 } });
        const seen = upstream.seen.length;
        const remaining: string[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await gw.get('/quota');
          expect(res.status).to.equal(200);
          expect(res.headers['x-ratelimit-limit']).to.equal('3');
          expect(Number(res.headers['x-ratelimit-reset'])).to.be.within(1, 60);
          remaining.push(String(res.headers['x-ratelimit-remaining']));
        }
        expect(remaining).to.deep.equal(['2', '1', '0']);
        expect(upstream.seen.length - seen).to.equal(3);
      });

      it('keys on a header, falling back to the client address when it is absent', async () => {
        await putRoute(gw, 'by-header', '/by-header', upstream, { 'limit-count': { count: 1, time_window: 60, key: 'http_x_tenant' } });
        expect(await statuses(gw, 2, '/by-header', { 'x-tenant': 'a' })).to.deep.equal([200, 503]);
        expect(await statuses(gw, 1, '/by-header', { 'x-tenant': 'b' })).to.deep.equal([200]);
        expect(await statuses(gw, 2, '/by-header')).to.deep.equal([200, 503]);
      });

      it('does not believe X-Real-IP or X-Forwarded-For from a client that is not a trusted proxy (B-07)', async () => {
        await putRoute(gw, 'spoof', '/spoof', upstream, { 'limit-count': { count: 1, time_window: 60 } });
        expect((await gw.get('/spoof')).status).to.equal(200);
        const spoofs: Array<Record<string, string>> = [{ 'x-real-ip': '10.1.1.1' }, { 'X-REAL-IP': '10.1.1.2' }, { 'x-forwarded-for': '10.1.1.3' }];
        for (const headers of spoofs) {
          expect((await gw.get('/spoof', headers)).status).to.equal(503);
        }
      });

      it('limits each MCP tool per consumer, leaving other tools, methods and consumers alone', async () => {
        // On a consumer, the counter is that consumer's; a rule keyed on $mcp_tool skips requests that are not tool calls.
        const perTool = { 'limit-count': { rules: [{ count: 2, time_window: 60, key: '$mcp_tool', header_prefix: 'Tool' }] } };
        await putConsumer(gw, 'mcp-jack', { 'key-auth': { key: 'mcp-jack-key' }, ...perTool });
        await putConsumer(gw, 'mcp-rose', { 'key-auth': { key: 'mcp-rose-key' }, ...perTool });
        await gw.admin('PUT', '/routes/mcp-tools', {
          uri: '/tools/*',
          plugins: { 'key-auth': {}, 'test-jsonrpc-echo': { base_uri: '/tools' } },
        });
        const call = (key: string, body: unknown) =>
          gw.request('POST', '/tools/mcp', body, { apikey: key, 'content-type': 'application/json', accept: 'application/json, text/event-stream' });
        expect((await call('mcp-jack-key', toolCall(1, 'run_query'))).json.result.tool).to.equal('run_query');
        const second = await call('mcp-jack-key', toolCall(2, 'run_query'));
        expect(second.headers['x-tool-ratelimit-remaining']).to.equal('0');
        const third = await call('mcp-jack-key', toolCall(3, 'run_query'));
        expect(third.status).to.equal(503);
        expect(third.headers['retry-after']).to.match(/^\d+$/);
        expect((await call('mcp-jack-key', toolCall(4, 'list_tables'))).status).to.equal(200);
        expect((await call('mcp-rose-key', toolCall(5, 'run_query'))).status).to.equal(200);
        for (let i = 0; i < 3; i++) {
          const list = await call('mcp-jack-key', { jsonrpc: '2.0', id: 10 + i, method: 'tools/list' });
          expect(list.status).to.equal(200);
          expect(list.headers).to.not.have.property('x-tool-ratelimit-remaining');
        }
      });

      it('shares one counter between the routes of a group', async () => {
        const conf = { count: 2, time_window: 60, group: 'shared-group' };
        await putRoute(gw, 'group-a', '/group-a', upstream, { 'limit-count': conf });
        await putRoute(gw, 'group-b', '/group-b', upstream, { 'limit-count': conf });
        expect([(await gw.get('/group-a')).status, (await gw.get('/group-b')).status, (await gw.get('/group-a')).status]).to.deep.equal([200, 200, 503]);
        expect((await gw.get('/group-b')).status).to.equal(503);
      });

      it('refuses a route whose config disagrees with its group (APISIX limit-count2.t TEST 19); key order and defaults do not count', async () => {
        await putRoute(gw, 'agree-a', '/agree-a', upstream, { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, group: 'agreeing' } });
        const refused = await putRoute(gw, 'agree-b', '/agree-b', upstream, { 'limit-count': { count: 1, time_window: 60, rejected_code: 503, group: 'agreeing' } });
        expect(refused.status).to.equal(400);
        expect(refused.json.error_msg).to.equal('failed to check the configuration of plugin limit-count err: group conf mismatched');
        // A service holds the group to it too.
        expect((await gw.admin('PUT', '/services/agree', { plugins: { 'limit-count': { count: 5, time_window: 60, group: 'agreeing' } } })).status).to.equal(400);
        // The same limit, written in another order and leaning on a default, joins the group.
        const same = await putRoute(gw, 'agree-b', '/agree-b', upstream, { 'limit-count': { group: 'agreeing', time_window: 60, count: 2 } });
        expect(same.status, same.text).to.equal(201);
        expect([(await gw.get('/agree-a')).status, (await gw.get('/agree-b')).status, (await gw.get('/agree-a')).status]).to.deep.equal([200, 200, 503]);
        // A group's only route may change its own limit.
        await gw.admin('DELETE', '/routes/agree-b');
        expect((await putRoute(gw, 'agree-a', '/agree-a', upstream, { 'limit-count': { count: 9, time_window: 60, group: 'agreeing' } })).status).to.equal(200);
      });

      it('keeps counting across an unrelated edit of the route, and starts over when its config changes', async () => {
        const plugins = { 'limit-count': { count: 2, time_window: 60 } };
        await putRoute(gw, 'edit', '/edit', upstream, plugins);
        expect(await statuses(gw, 1, '/edit')).to.deep.equal([200]);
        await putRoute(gw, 'edit', '/edit', upstream, plugins, { desc: 'renamed' });
        expect(await statuses(gw, 2, '/edit')).to.deep.equal([200, 503]);
        await putRoute(gw, 'edit', '/edit', upstream, { 'limit-count': { count: 3, time_window: 60 } });
        expect(await statuses(gw, 4, '/edit')).to.deep.equal([200, 200, 200, 503]);
      });

      it('names its headers as plugin_metadata says', async () => {
        const meta = await gw.admin('PUT', '/plugin_metadata/limit-count', { limit_header: 'X-Quota', remaining_header: 'X-Quota-Left' });
        expect(meta.status).to.be.oneOf([200, 201]);
        try {
          await putRoute(gw, 'meta', '/meta', upstream, { 'limit-count': { count: 5, time_window: 60 } });
          const res = await gw.get('/meta');
          expect(res.headers['x-quota']).to.equal('5');
          expect(res.headers['x-quota-left']).to.equal('4');
          expect(res.headers['x-ratelimit-reset']).to.match(/^\d+$/);
          expect(res.headers).to.not.have.property('x-ratelimit-limit');
        } finally {
          await gw.admin('DELETE', '/plugin_metadata/limit-count');
        }
      });

      it("applies a consumer's own limit-count over the route's, counting that consumer across routes", async () => {
        await putConsumer(gw, 'limited', { 'key-auth': { key: 'limited-key' }, 'limit-count': { count: 2, time_window: 60, key: 'consumer_name' } });
        await putConsumer(gw, 'regular', { 'key-auth': { key: 'regular-key' } });
        const plugins = { 'key-auth': {}, 'limit-count': { count: 4, time_window: 60, key: 'consumer_name' } };
        await putRoute(gw, 'merge-a', '/merge-a', upstream, plugins);
        await putRoute(gw, 'merge-b', '/merge-b', upstream, plugins);
        const limited = { apikey: 'limited-key' };
        const a = await gw.get('/merge-a', limited);
        expect(a.headers['x-ratelimit-limit']).to.equal('2');
        expect((await gw.get('/merge-b', limited)).status).to.equal(200);
        expect((await gw.get('/merge-a', limited)).status).to.equal(503);
        expect((await gw.get('/merge-b', limited)).status).to.equal(503);
        // Everyone else gets the route's quota, per route.
        expect(await statuses(gw, 5, '/merge-a', { apikey: 'regular-key' })).to.deep.equal([200, 200, 200, 200, 503]);
        expect((await gw.get('/merge-b', { apikey: 'regular-key' })).headers['x-ratelimit-limit']).to.equal('4');
      });

      it('counts in Redis with policy redis, under the configured key prefix', async () => {
        await putRoute(gw, 'in-redis', '/in-redis', upstream, { 'limit-count': { count: 2, time_window: 60, policy: 'redis' } });
        expect(await statuses(gw, 3, '/in-redis')).to.deep.equal([200, 200, 503]);
        const keys = await redis.client().keys(`${prefix}:limit-count:route:in-redis:*`);
        expect(keys).to.have.length(1);
        expect(await redis.client().get(keys[0])).to.equal('3');
      });
    });

    describe('rejections', () => {
      it('answers 503 with Retry-After and Remaining 0, without calling the upstream', async () => {
        await putRoute(gw, 'reject', '/reject', upstream, { 'limit-count': { count: 1, time_window: 30 } });
        await gw.get('/reject');
        const seen = upstream.seen.length;
        const res = await gw.get('/reject');
        expect(res.status).to.equal(503);
        expect(res.json.code).to.equal('GW_RATE_LIMITED');
        expect(Number(res.headers['retry-after'])).to.be.within(1, 30);
        expect(res.headers['x-ratelimit-remaining']).to.equal('0');
        expect(res.headers['x-ratelimit-limit']).to.equal('1');
        expect(upstream.seen.length).to.equal(seen);
      });

      it('answers rejected_code with rejected_msg, and hides the headers when asked', async () => {
        await putRoute(gw, 'custom', '/custom', upstream, {
          'limit-count': { count: 1, time_window: 60, rejected_code: 429, rejected_msg: 'slow down', show_limit_quota_header: false },
        });
        expect((await gw.get('/custom')).headers).to.not.have.property('x-ratelimit-limit');
        const res = await gw.get('/custom');
        expect(res.status).to.equal(429);
        expect(res.json).to.deep.equal({ error_msg: 'slow down' });
        expect(res.headers).to.not.have.property('x-ratelimit-remaining');
      });

      it('counts nothing for a request that failed authentication (B-17)', async () => {
        await putConsumer(gw, 'b17', { 'key-auth': { key: 'b17-key' } });
        await putRoute(gw, 'b17', '/b17', upstream, { 'key-auth': {}, 'limit-count': { count: 2, time_window: 60, key: 'remote_addr' } });
        const seen = upstream.seen.length;
        expect(await statuses(gw, 3, '/b17', { apikey: 'wrong' })).to.deep.equal([401, 401, 401]);
        expect(upstream.seen.length).to.equal(seen);
        const ok = await gw.get('/b17', { apikey: 'b17-key' });
        expect(ok.headers['x-ratelimit-remaining']).to.equal('1');
      });
    });
  });

  describe('policy redis across gateway processes', function () {
    this.timeout(60_000);
    let redis: TestRedis;
    let a: GatewayProcess;
    let b: GatewayProcess;
    const dirs: string[] = [];
    const KEY = 'limit-count-admin-key-0123456789';
    before(async () => {
      redis = await startRedis();
      const env = () => {
        const dir = mkdtempSync(join(tmpdir(), 'tollgate-lc-'));
        dirs.push(dir);
        return { TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url, TOLLGATE_ADMIN_KEY: KEY, TOLLGATE_DATA_DIR: dir };
      };
      [a, b] = await Promise.all([spawnGateway(env()), spawnGateway(env())]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    it('shares one counter between two gateways on one Redis', async () => {
      const put = await a.admin('PUT', '/routes/shared', {
        uri: '/shared',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: { 'limit-count': { count: 5, time_window: 60, policy: 'redis' } },
      });
      expect(put.status).to.equal(201);
      expect(await waitFor(async () => (await http('GET', `${b.url}/shared-probe`)).status === 404 && (await b.admin('GET', '/routes/shared')).status === 200, 5000)).to.equal(true);
      const results: Array<[number, string | undefined]> = [];
      for (let i = 0; i < 6; i++) {
        const res = await http('GET', `${(i % 2 === 0 ? a : b).url}/shared`);
        results.push([res.status, res.headers['x-ratelimit-remaining'] as string | undefined]);
      }
      expect(results).to.deep.equal([
        [200, '4'],
        [200, '3'],
        [200, '2'],
        [200, '1'],
        [200, '0'],
        [503, '0'],
      ]);
      expect((await http('GET', `${a.url}/shared`)).status).to.equal(503);
    });
  });

  describe('faults', function () {
    this.timeout(40_000);
    let gw: TestGateway;
    let redis: TestRedis;
    let proxy: FaultProxy;
    before(async () => {
      redis = await startRedis();
      proxy = await startFaultProxy(redis.port);
      gw = await startTestGateway({ overrides: { redis: { url: proxy.url, key_prefix: 'lcfaults', command_timeout: 0.2 }, log: { level: 'warn' } } });
    });
    after(async () => {
      await gw?.stop();
      await proxy?.close();
      await redis?.stop();
    });

    const routes = async () => {
      await putRoute(gw, 'closed', '/closed', upstream, { 'limit-count': { count: 3, time_window: 60, policy: 'redis' } });
      await putRoute(gw, 'open', '/open', upstream, { 'limit-count': { count: 3, time_window: 60, policy: 'redis', allow_degradation: true } });
    };

    it('fails closed with 503 and Retry-After within the command timeout when Redis stops answering (B-19)', async () => {
      await routes();
      expect((await gw.get('/closed')).status).to.equal(200);
      proxy.blackhole();
      try {
        const before = await storeFailureCount(gw.running.metrics, 'limit-count', 'rejected');
        const started = performance.now();
        const res = await gw.get('/closed');
        const took = performance.now() - started;
        expect(res.status).to.equal(503);
        expect(res.json.code).to.equal('GW_RATE_LIMIT_STORE_UNAVAILABLE');
        expect(res.headers['retry-after']).to.equal('1');
        // command_timeout is 200 ms; ioredis's defaults would wait for ever.
        expect(took).to.be.lessThan(1500);
        expect(await storeFailureCount(gw.running.metrics, 'limit-count', 'rejected')).to.be.greaterThan(before);
        // Degraded routes pass in the meantime.
        expect((await gw.get('/open')).status).to.equal(200);
      } finally {
        proxy.restore();
      }
      expect(await waitFor(async () => (await gw.get('/closed')).status === 200, 5000)).to.equal(true);
    });

    it('fails closed at once while Redis is down, and limits again once it is back (B-19, B-20)', async () => {
      await routes();
      await redis.kill();
      const started = performance.now();
      const res = await gw.get('/closed');
      expect(res.status).to.equal(503);
      expect(res.headers['retry-after']).to.equal('1');
      expect(performance.now() - started).to.be.lessThan(1000);

      // allow_degradation: traffic passes, one warning however many requests, the metric counts them.
      const warnings = () => gw.logs.filter((l) => l.includes('letting requests through')).length;
      const logged = warnings();
      const allowed = await storeFailureCount(gw.running.metrics, 'limit-count', 'allowed');
      expect(await statuses(gw, 6, '/open')).to.deep.equal([200, 200, 200, 200, 200, 200]);
      expect(warnings() - logged).to.be.at.most(1);
      expect(await storeFailureCount(gw.running.metrics, 'limit-count', 'allowed')).to.equal(allowed + 6);
      expect(gw.logs.join('\n')).to.not.include('password');

      await redis.restart();
      adopt(redis.pid);
      // Back within the reconnect backoff: the route counts in Redis again. (A request that timed
      // out on a slow reconnect may still have been counted, so the exact remaining varies.)
      expect(await waitFor(async () => (await gw.get('/closed')).headers['x-ratelimit-remaining'] !== undefined, 10_000, 100)).to.equal(true);
      // The window after recovery allows the configured count (3), not more: one request is
      // already counted, so of the next four at most two pass and the last is refused.
      const closed = await statuses(gw, 4, '/closed');
      expect(closed.filter((s) => s === 200).length).to.be.at.most(2);
      expect(closed[3]).to.equal(503);
      const open = await statuses(gw, 5, '/open');
      expect(open[4]).to.equal(503);
    });
  });
});
