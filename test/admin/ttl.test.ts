/**
 * `?ttl=` on Admin writes (APISIX: an etcd lease), on both catalogs: the record is deleted by
 * itself when it runs out, as a change every gateway follows. Mirrors t/admin/routes4.t TEST 1-3.
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { sharedRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const backends = [
  { name: 'embedded', options: async () => ({}) },
  { name: 'redis', options: async () => ({ redisUrl: (await sharedRedis()).url, keyPrefix: `ttl${Date.now()}${Math.random().toString(36).slice(2, 7)}` }) },
];

for (const backend of backends) {
  describe(`Admin API ttl (${backend.name} catalog)`, () => {
    let gw: TestGateway;
    let upstream: TestUpstream;
    let options: Awaited<ReturnType<typeof backend.options>>;

    before(async () => {
      upstream = await startUpstream();
      options = await backend.options();
      gw = await startTestGateway(options);
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    const route = (uri: string) => ({ uri, upstream: { nodes: { [upstream.address]: 1 }, type: 'roundrobin' } });
    const gone = (path: string) => waitFor(async () => (await gw.admin('GET', path)).status === 404, 15_000);
    /**
     * For records the next steps must still find (read back, served, referred to): long enough
     * for a few writes and requests on a loaded machine. Records only waited out use 0.4-0.5 s.
     */
    const LIVES = 2;

    it('routes4.t TEST 1: PUT ?ttl= stores the route, which is gone (404 Key not found) once the ttl runs out', async () => {
      expect((await gw.admin('PUT', `/routes/1?ttl=${LIVES}`, route('/index.html'))).status).to.equal(201);
      const get = await gw.admin('GET', '/routes/1?ttl=1');
      expect(get.status).to.equal(200);
      expect(get.json.value.uri).to.equal('/index.html');
      expect((await gw.get('/index.html')).status).to.equal(200);
      expect(await gone('/routes/1')).to.equal(true);
      expect((await gw.admin('GET', '/routes/1')).json).to.deep.equal({ message: 'Key not found' });
      expect((await gw.get('/index.html')).status).to.equal(404);
    });

    it('routes4.t TEST 2: POST ?ttl= too', async () => {
      const res = await gw.admin('POST', '/routes?ttl=0.5', { methods: ['GET'], ...route('/posted') });
      expect(res.status).to.equal(201);
      expect(await gone(`/routes/${res.json.value.id}`)).to.equal(true);
    });

    it('routes4.t TEST 3: a ttl that is not a number is 400, on any method', async () => {
      for (const [method, path] of [
        ['PUT', '/routes?ttl=xxx'],
        ['GET', '/routes?ttl=xxx'],
        ['DELETE', '/routes/nope?ttl=xxx'],
      ] as const) {
        const res = await gw.admin(method, path, method === 'PUT' ? { id: 'x', ...route('/x') } : undefined);
        expect(res.status, `${method} ${path}`).to.equal(400);
        expect(res.json).to.deep.equal({ error_msg: 'invalid argument ttl: should be a number' });
      }
      expect((await gw.admin('PUT', '/routes/x?ttl=', route('/x'))).json).to.deep.equal({ error_msg: 'invalid argument ttl: should be a number' });
      for (const ttl of ['0', '-5', '1e12']) {
        const res = await gw.admin('PUT', `/routes/x?ttl=${ttl}`, route('/x'));
        expect(res.status, ttl).to.equal(400);
        expect(res.json.error_msg).to.match(/^invalid argument ttl: should be a number of seconds above 0 and at most 2147483647$/);
      }
      expect((await gw.admin('GET', '/routes/x')).status).to.equal(404);
    });

    it('a write without ttl keeps the record; PATCH takes a ttl too', async () => {
      await gw.admin('PUT', '/upstreams/kept?ttl=0.4', { nodes: { [upstream.address]: 1 } });
      await gw.admin('PUT', '/upstreams/kept', { nodes: { [upstream.address]: 1 }, desc: 'for good' });
      await gw.admin('PUT', '/upstreams/patched', { nodes: { [upstream.address]: 1 } });
      expect((await gw.admin('PATCH', '/upstreams/patched?ttl=0.4', { desc: 'short-lived now' })).status).to.equal(200);
      expect(await gone('/upstreams/patched')).to.equal(true);
      expect((await gw.admin('GET', '/upstreams/kept')).status).to.equal(200);
    });

    it('an expiring upstream leaves its route answering 503, as ?force=true would; a consumer takes its credentials', async () => {
      await gw.admin('PUT', `/upstreams/brief?ttl=${LIVES}`, { nodes: { [upstream.address]: 1 } });
      expect((await gw.admin('PUT', '/routes/via-brief', { uri: '/via-brief', upstream_id: 'brief' })).status).to.equal(201);
      expect((await gw.get('/via-brief')).status).to.equal(200);
      await gw.admin('PUT', `/consumers?ttl=${LIVES}`, { username: 'visitor' });
      expect((await gw.admin('PUT', '/consumers/visitor/credentials/pass', { plugins: { 'key-auth': { key: 'visitor-pass' } } })).status).to.equal(201);
      await gw.admin('PUT', '/routes/guarded', { uri: '/guarded', plugins: { 'key-auth': {} }, upstream: { nodes: { [upstream.address]: 1 } } });
      expect((await gw.get('/guarded', { apikey: 'visitor-pass' })).status).to.equal(200);
      expect(await gone('/upstreams/brief')).to.equal(true);
      expect(await waitFor(async () => (await gw.get('/via-brief')).status === 503, 10_000)).to.equal(true);
      expect(await gone('/consumers/visitor')).to.equal(true);
      expect((await gw.admin('GET', '/consumers/visitor/credentials/pass')).status).to.equal(404);
      expect((await gw.get('/guarded', { apikey: 'visitor-pass' })).status).to.equal(401);
    });

    it('a credential, a consumer group and plugin metadata take a ttl too', async () => {
      await gw.admin('PUT', '/consumers', { username: 'temp' });
      await gw.admin('PUT', '/consumers/temp/credentials/day-pass?ttl=0.4', { plugins: { 'key-auth': { key: 'day-pass' } } });
      await gw.admin('PUT', '/consumer_groups/trial?ttl=0.4', { plugins: {} });
      await gw.admin('PUT', '/plugin_metadata/limit-count?ttl=0.4', { limit_header: 'X-Trial' });
      expect(await gone('/consumers/temp/credentials/day-pass')).to.equal(true);
      expect(await gone('/consumer_groups/trial')).to.equal(true);
      expect(await gone('/plugin_metadata/limit-count')).to.equal(true);
      expect((await gw.admin('GET', '/consumers/temp')).status).to.equal(200);
    });

    if (backend.name === 'redis') {
      it('every gateway on the catalog follows an expiry', async () => {
        const second = await startTestGateway(options);
        try {
          await gw.admin('PUT', `/routes/shared?ttl=${LIVES}`, route('/shared'));
          expect(await waitFor(async () => (await second.get('/shared')).status === 200, LIVES * 1000)).to.equal(true);
          expect(await waitFor(async () => (await second.get('/shared')).status === 404, 15_000)).to.equal(true);
          expect((await second.admin('GET', '/routes/shared')).status).to.equal(404);
        } finally {
          await second.stop();
        }
      });
    }
  });
}
