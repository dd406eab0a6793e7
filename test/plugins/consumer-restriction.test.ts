/**
 * consumer-restriction against a real gateway and upstream, with key-auth as the authentication
 * (APISIX's tests use basic-auth and hmac-auth, which Tollgate does not have; the plugin only
 * reads the consumer). Cases from APISIX's t/plugin/consumer-restriction.t are marked "APISIX TEST n".
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putConsumer, putRoute } from './support.js';

const JACK1 = { apikey: 'jack1-key' };
const JACK2 = { apikey: 'jack2-key' };

describe('plugin consumer-restriction', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  const restrict = (conf: Record<string, unknown>, id = 'r', extra: Record<string, unknown> = {}) =>
    putRoute(gw, id, `/${id}`, upstream, { 'key-auth': {}, 'consumer-restriction': conf }, extra);

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
    for (const group of ['gold', 'silver']) expect((await gw.admin('PUT', `/consumer_groups/${group}`, { plugins: {} })).status).to.equal(201);
    await gw.admin('PUT', '/consumers', { username: 'jack1', group_id: 'gold', plugins: { 'key-auth': { key: 'jack1-key' } } });
    await gw.admin('PUT', '/consumers', { username: 'jack2', group_id: 'silver', plugins: { 'key-auth': { key: 'jack2-key' } } });
    await putConsumer(gw, 'jack3', { 'key-auth': { key: 'jack3-key' } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  describe('schema', () => {
    it('needs a whitelist, a blacklist or allowed_by_methods, and any of them together (APISIX TEST 2)', async () => {
      expect((await restrict({})).status).to.equal(400);
      expect((await restrict({ whitelist: ['jack1'], blacklist: ['jack2'], allowed_by_methods: [] })).status).to.equal(201);
    });

    it('refuses empty lists, unknown types and methods, and a rejected_code below 200', async () => {
      expect((await restrict({ whitelist: [] })).status).to.equal(400);
      expect((await restrict({ whitelist: ['a'], type: 'consumer' })).status).to.equal(400);
      expect((await restrict({ allowed_by_methods: [{ user: 'jack1', methods: ['FETCH'] }] })).status).to.equal(400);
      expect((await restrict({ allowed_by_methods: [{ user: 'jack1', methods: [] }] })).status).to.equal(400);
      const code = await restrict({ whitelist: ['a'], rejected_code: 199 });
      expect(code.status).to.equal(400);
      expect(code.json.error_msg).to.include('rejected_code');
    });
  });

  describe('consumer_name (the default)', () => {
    it('whitelist: the listed consumer passes, another is refused (APISIX TEST 5, 7, 8)', async () => {
      await restrict({ whitelist: ['jack1'] });
      expect((await gw.get('/r', JACK1)).status).to.equal(200);
      const refused = await gw.get('/r', JACK2);
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ message: 'The consumer_name is forbidden.' });
    });

    it('no credentials: authentication answers first (APISIX TEST 6)', async () => {
      expect((await gw.get('/r')).status).to.equal(401);
    });

    it('blacklist with rejected_msg (APISIX TEST 9, 11, 12)', async () => {
      await restrict({ blacklist: ['jack1'], rejected_msg: 'request is forbidden' });
      const refused = await gw.get('/r', JACK1);
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ message: 'request is forbidden' });
      expect((await gw.get('/r', JACK2)).status).to.equal(200);
    });

    it('without an authentication plugin there is no consumer: 401 for everyone (APISIX TEST 13-20)', async () => {
      const message = { message: 'The request is rejected, please check the consumer_name for this request' };
      for (const conf of [{ whitelist: ['jack1', 'jack2'] }, { blacklist: ['jack1'] }]) {
        await putRoute(gw, 'open', '/open', upstream, { 'consumer-restriction': conf });
        for (const headers of [{}, JACK1, JACK2]) {
          const res = await gw.get('/open', headers);
          expect(res.status).to.equal(401);
          expect(res.json).to.deep.equal(message);
        }
      }
    });

    it('allowed_by_methods limits a listed consumer to its methods (APISIX TEST 21-24)', async () => {
      await restrict({ allowed_by_methods: [{ user: 'jack1', methods: ['POST'] }] });
      const refused = await gw.get('/r', JACK1);
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ message: 'The consumer_name is forbidden.' });
      expect((await gw.request('POST', '/r', { a: 1 }, JACK1)).status).to.equal(200);
      expect((await gw.get('/r', JACK2)).status, 'a consumer without an entry may use any method').to.equal(200);
      await restrict({ allowed_by_methods: [{ user: 'jack1', methods: ['POST', 'GET'] }] });
      expect((await gw.get('/r', JACK1)).status).to.equal(200);
    });

    it('the blacklist wins over allowed_by_methods (APISIX TEST 25-27)', async () => {
      await restrict({ blacklist: ['jack1'], allowed_by_methods: [{ user: 'jack1', methods: ['POST', 'GET'] }] });
      expect((await gw.get('/r', JACK1)).status).to.equal(403);
      expect((await gw.get('/r', JACK2)).status).to.equal(200);
    });

    it('a whitelisted consumer is not held to allowed_by_methods; others are refused by the whitelist (APISIX TEST 28-30)', async () => {
      await restrict({ whitelist: ['jack1'], allowed_by_methods: [{ user: 'jack1', methods: ['POST'] }] });
      expect((await gw.get('/r', JACK1)).status).to.equal(200);
      expect((await gw.get('/r', JACK2)).status).to.equal(403);
    });

    it('without the plugin everyone authenticated passes (APISIX TEST 31-34)', async () => {
      await putRoute(gw, 'r', '/r', upstream, { 'key-auth': {} });
      expect((await gw.get('/r', JACK1)).status).to.equal(200);
      expect((await gw.get('/r', JACK2)).status).to.equal(200);
    });
  });

  describe('on a consumer: which services and routes it may use', () => {
    before(async () => {
      for (const id of ['1', '2']) {
        const res = await gw.admin('PUT', `/services/${id}`, { upstream: { nodes: { [upstream.address]: 1 } } });
        expect(res.status, res.text).to.be.oneOf([200, 201]);
      }
      await gw.admin('PUT', '/routes/svc1', { uri: '/svc1', service_id: '1', plugins: { 'key-auth': {} } });
      await gw.admin('PUT', '/routes/svc2', { uri: '/svc2', service_id: '2', plugins: { 'key-auth': {} } });
      await putRoute(gw, 'plain', '/plain', upstream, { 'key-auth': {} });
    });

    it('service_id whitelist with rejected_code 401 (APISIX TEST 36-41)', async () => {
      await putConsumer(gw, 'svc-user', { 'key-auth': { key: 'svc-key' }, 'consumer-restriction': { type: 'service_id', whitelist: ['1'], rejected_code: 401 } });
      expect((await gw.get('/svc1', { apikey: 'svc-key' })).status).to.equal(200);
      const refused = await gw.get('/svc2', { apikey: 'svc-key' });
      expect(refused.status).to.equal(401);
      expect(refused.json).to.deep.equal({ message: 'The service_id is forbidden.' });
      // A route without a service has no service_id to judge.
      const none = await gw.get('/plain', { apikey: 'svc-key' });
      expect(none.status).to.equal(401);
      expect(none.json).to.deep.equal({ message: 'The request is rejected, please check the service_id for this request' });
      expect((await gw.get('/svc2', JACK1)).status, 'other consumers are not restricted').to.equal(200);
    });

    it('service_id blacklist (APISIX TEST 42-44)', async () => {
      await putConsumer(gw, 'svc-user', { 'key-auth': { key: 'svc-key' }, 'consumer-restriction': { type: 'service_id', blacklist: ['1'], rejected_code: 401 } });
      expect((await gw.get('/svc1', { apikey: 'svc-key' })).status).to.equal(401);
      expect((await gw.get('/svc2', { apikey: 'svc-key' })).status).to.equal(200);
    });

    it('route_id whitelist', async () => {
      await putConsumer(gw, 'route-user', { 'key-auth': { key: 'route-key' }, 'consumer-restriction': { type: 'route_id', whitelist: ['plain'] } });
      expect((await gw.get('/plain', { apikey: 'route-key' })).status).to.equal(200);
      const refused = await gw.get('/svc1', { apikey: 'route-key' });
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ message: 'The route_id is forbidden.' });
    });
  });

  describe('consumer_group_id', () => {
    it('judges the consumer\'s group; a consumer in no group has nothing to judge', async () => {
      await restrict({ type: 'consumer_group_id', whitelist: ['gold'] });
      expect((await gw.get('/r', JACK1)).status).to.equal(200);
      const refused = await gw.get('/r', JACK2);
      expect(refused.status).to.equal(403);
      expect(refused.json).to.deep.equal({ message: 'The consumer_group_id is forbidden.' });
      const none = await gw.get('/r', { apikey: 'jack3-key' });
      expect(none.status).to.equal(401);
      expect(none.json).to.deep.equal({ message: 'The request is rejected, please check the consumer_group_id for this request' });
    });
  });

  describe('faults', () => {
    it('on a global rule with no authentication anywhere, every request is refused, never let through', async () => {
      const rule = await gw.admin('PUT', '/global_rules/cr', { plugins: { 'consumer-restriction': { blacklist: ['jack2'] } } });
      expect(rule.status, rule.text).to.be.oneOf([200, 201]);
      try {
        await putRoute(gw, 'public', '/public', upstream, {});
        expect((await gw.get('/public')).status).to.equal(401);
        // On an authenticated route the global rule sees the consumer (access runs after rewrite).
        expect((await gw.get('/plain', JACK1)).status).to.equal(200);
        expect((await gw.get('/plain', JACK2)).status).to.equal(403);
      } finally {
        await gw.admin('DELETE', '/global_rules/cr');
      }
      expect((await gw.get('/public')).status).to.equal(200);
    });
  });
});
