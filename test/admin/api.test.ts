/**
 * The Admin API speaks APISIX v3: envelopes, status codes and error texts, so APISIX users'
 * scripts carry over. A bad request never changes the catalog.
 */
import { expect } from 'chai';
import { startTestGateway, http, TEST_ADMIN_KEY, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

describe('Admin API', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  const route = (extra: Record<string, unknown> = {}) => ({ uri: '/hello', upstream: { type: 'roundrobin', nodes: { [upstream.address]: 1 } }, ...extra });

  describe('create, read, replace, delete', () => {
    it('PUT creates with 201 and the {key, value} envelope, the value as sent', async () => {
      const res = await gw.admin('PUT', '/routes/r1', route());
      expect(res.status).to.equal(201);
      expect(res.json.key).to.equal('/apisix/routes/r1');
      expect(res.json.value).to.include({ id: 'r1', uri: '/hello' });
      expect(res.json.value).to.not.have.any.keys('priority', 'status');
      expect(res.json.value.create_time).to.be.a('number');
      expect(res.headers['x-api-version']).to.equal('v3');
    });

    it('PUT on an existing id replaces with 200 and keeps create_time', async () => {
      const first = await gw.admin('GET', '/routes/r1');
      const res = await gw.admin('PUT', '/routes/r1', route({ uri: '/hello2' }));
      expect(res.status).to.equal(200);
      expect(res.json.value.uri).to.equal('/hello2');
      expect(res.json.value.create_time).to.equal(first.json.value.create_time);
    });

    it('GET one returns {key, value, createdIndex, modifiedIndex}', async () => {
      const res = await gw.admin('GET', '/routes/r1');
      expect(res.status).to.equal(200);
      expect(res.json).to.have.keys('key', 'value', 'createdIndex', 'modifiedIndex');
      expect(res.json.modifiedIndex).to.be.greaterThan(res.json.createdIndex);
    });

    it('POST generates a 20-digit id and refuses an id in the body', async () => {
      const res = await gw.admin('POST', '/routes', route({ uri: '/posted' }));
      expect(res.status).to.equal(201);
      expect(res.json.value.id).to.match(/^\d{20}$/);
      const withId = await gw.admin('POST', '/routes', route({ id: 'x' }));
      expect(withId.status).to.equal(400);
      expect(withId.json.error_msg).to.equal('wrong route id, do not need it');
      await gw.admin('DELETE', `/routes/${res.json.value.id}`);
    });

    it('PUT on the collection takes the id from the body; a mismatched id is refused', async () => {
      expect((await gw.admin('PUT', '/routes', route({ id: 'r2' }))).status).to.equal(201);
      expect((await gw.admin('PUT', '/routes', route())).json.error_msg).to.equal('missing route id');
      expect((await gw.admin('PUT', '/routes/r3', route({ id: 'r4' }))).json.error_msg).to.equal('wrong route id');
      await gw.admin('DELETE', '/routes/r2');
    });

    it('DELETE answers {deleted, key}; a second DELETE is 404 Key not found', async () => {
      await gw.admin('PUT', '/routes/gone', route({ uri: '/gone' }));
      const res = await gw.admin('DELETE', '/routes/gone');
      expect(res.status).to.equal(200);
      expect(res.json).to.deep.equal({ deleted: '1', key: '/apisix/routes/gone' });
      const again = await gw.admin('DELETE', '/routes/gone');
      expect(again.status).to.equal(404);
      expect(again.json).to.deep.equal({ message: 'Key not found' });
      expect((await gw.admin('GET', '/routes/gone')).status).to.equal(404);
    });

    it('consumers are keyed by username', async () => {
      const res = await gw.admin('PUT', '/consumers', { username: 'jack', desc: 'a consumer' });
      expect(res.status).to.equal(201);
      expect(res.json.key).to.equal('/apisix/consumers/jack');
      expect((await gw.admin('GET', '/consumers/jack')).json.value.username).to.equal('jack');
      expect((await gw.admin('POST', '/consumers', { username: 'x' })).status).to.equal(405);
      await gw.admin('DELETE', '/consumers/jack');
    });

    it('global_rules and plugin_configs accept PUT but not POST', async () => {
      expect((await gw.admin('PUT', '/global_rules/g1', { plugins: { 'request-id': {} } })).status).to.equal(201);
      const post = await gw.admin('POST', '/global_rules', { plugins: {} });
      expect(post.status).to.equal(405);
      expect(post.json.error_msg).to.equal('not supported `POST` method for global rule');
      await gw.admin('DELETE', '/global_rules/g1');
      // APISIX's plugin_config.lua: unsupported_methods = {"post"}.
      expect((await gw.admin('POST', '/plugin_configs', { plugins: {} })).json).to.deep.equal({ error_msg: 'not supported `POST` method for plugin config' });
    });

    it('POST names no id, in the body or the path (t/admin/routes.t TEST 17-18)', async () => {
      const inPath = await gw.admin('POST', '/routes/1', route());
      expect(inPath.status).to.equal(400);
      expect(inPath.json).to.deep.equal({ error_msg: 'wrong route id, do not need it' });
      expect((await gw.admin('GET', '/routes/1')).status).to.equal(404);
      expect((await gw.admin('POST', '/consumers/jack', { username: 'jack' })).status).to.equal(405);
    });
  });

  describe('PATCH', () => {
    before(async () => {
      await gw.admin('PUT', '/routes/p', route({ uri: '/p', methods: ['GET', 'POST'], labels: { team: 'a', env: 'dev' }, desc: 'patched' }));
    });

    it('merges objects, replaces arrays and deletes keys set to null', async () => {
      const res = await gw.admin('PATCH', '/routes/p', { methods: ['PUT'], labels: { env: null, tier: 'gold' }, desc: null });
      expect(res.status).to.equal(200);
      expect(res.json.value.methods).to.deep.equal(['PUT']);
      expect(res.json.value.labels).to.deep.equal({ team: 'a', tier: 'gold' });
      expect(res.json.value).to.not.have.property('desc');
      expect(res.json.value.uri).to.equal('/p');
    });

    it('a sub-path PATCH replaces that attribute', async () => {
      const res = await gw.admin('PATCH', '/routes/p/methods', ['DELETE']);
      expect(res.json.value.methods).to.deep.equal(['DELETE']);
    });

    it('an invalid PATCH is refused and changes nothing', async () => {
      const before = await gw.admin('GET', '/routes/p');
      const res = await gw.admin('PATCH', '/routes/p', { methods: ['FETCH'] });
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.match(/^invalid configuration: property "\/methods\/0"/);
      expect((await gw.admin('GET', '/routes/p')).json.modifiedIndex).to.equal(before.json.modifiedIndex);
    });

    it('PATCH of a missing id is 404', async () => {
      expect((await gw.admin('PATCH', '/routes/nope', { desc: 'x' })).status).to.equal(404);
    });
  });

  describe('references', () => {
    it('a route naming a missing upstream is refused', async () => {
      const res = await gw.admin('PUT', '/routes/ref', { uri: '/ref', upstream_id: 'missing' });
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.equal('failed to fetch upstream info by upstream id [missing], response code: 404');
    });

    it('DELETE of an upstream in use is refused unless ?force=true', async () => {
      await gw.admin('PUT', '/upstreams/u1', { nodes: { [upstream.address]: 1 } });
      await gw.admin('PUT', '/routes/uses-u1', { uri: '/uses', upstream_id: 'u1' });
      const refused = await gw.admin('DELETE', '/upstreams/u1');
      expect(refused.status).to.equal(400);
      expect(refused.json.error_msg).to.equal('can not delete this upstream, route [uses-u1] is still using it now');
      expect((await gw.admin('DELETE', '/upstreams/u1?force=true')).status).to.equal(200);
      // The orphaned route answers 503 instead of falling through to another route.
      expect((await gw.get('/uses')).status).to.equal(503);
      await gw.admin('DELETE', '/routes/uses-u1');
    });
  });

  describe('validation: a bad body never changes the catalog', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['a wrong type', { uri: 42, upstream_id: 'x' }, /invalid configuration: property "\/uri" validation failed/],
      ['an unknown property', { uri: '/x', plugins: {}, colour: 'red' }, /property "\/colour" validation failed: is not allowed/],
      ['an unknown plugin', { uri: '/x', plugins: { 'no-such-plugin': {} } }, /unknown plugin \[no-such-plugin\]/],
      ['a bad plugin config', { uri: '/x', plugins: { 'proxy-rewrite': { uri: 5 } } }, /failed to check the configuration of plugin proxy-rewrite err: property "\/uri"/],
      ['both host and hosts', { uri: '/x', plugins: {}, host: 'a.com', hosts: ['b.com'] }, /only one of host or hosts is allowed/],
      ['neither uri nor uris', { plugins: {} }, /invalid configuration/],
      ['a regex RE2 cannot run', { uri: '/x', plugins: { 'proxy-rewrite': { regex_uri: ['^(a+)\\1$', '/'] } } }, /regex_uri\[0\] .*backreferences/],
      ['server timestamps', { uri: '/x', plugins: {}, create_time: 1 }, /^the property is forbidden: {2}create_time$/],
      ['a bad id', { uri: '/x', plugins: {} }, /invalid configuration/],
    ];
    for (const [name, body, message] of cases) {
      it(`refuses ${name} with 400`, async () => {
        const before = (await gw.admin('GET', '/routes')).json.total;
        const path = name === 'a bad id' ? '/routes/bad%20id' : '/routes/invalid';
        const res = await gw.admin('PUT', path, body);
        expect(res.status).to.equal(400);
        expect(res.json.error_msg).to.match(message);
        expect((await gw.admin('GET', '/routes')).json.total).to.equal(before);
      });
    }

    it('refuses route-only plugins in a global rule or on a consumer, where they would do nothing', async () => {
      const rule = await gw.admin('PUT', '/global_rules/g-body', { plugins: { 'client-control': { max_body_size: 10 } } });
      expect(rule.status).to.equal(400);
      expect(rule.json.error_msg).to.match(/only works on a route/);
      const consumer = await gw.admin('PUT', '/consumers', { username: 'cc', plugins: { 'client-control': { max_body_size: 10 } } });
      expect(consumer.status).to.equal(400);
    });

    it('refuses bodies that are not JSON, poisoned or absurdly deep', async () => {
      const notJson = await http('PUT', `${gw.adminUrl}/routes/j`, '{"uri": ', { 'x-api-key': TEST_ADMIN_KEY });
      expect(notJson.status).to.equal(400);
      expect(notJson.json.error_msg).to.match(/^invalid request body/);
      const poisoned = await http('PUT', `${gw.adminUrl}/routes/j`, '{"uri":"/j","plugins":{},"__proto__":{"admin":true}}', { 'x-api-key': TEST_ADMIN_KEY });
      expect(poisoned.status).to.equal(400);
      const deep = `{"uri":"/j","plugins":{},"labels":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
      const tooDeep = await http('PUT', `${gw.adminUrl}/routes/j`, deep, { 'x-api-key': TEST_ADMIN_KEY });
      expect(tooDeep.status).to.equal(400);
      expect(tooDeep.json.error_msg).to.match(/nested deeper/);
      expect((await gw.admin('GET', '/routes/j')).status).to.equal(404);
    });

    it("refuses a body over the admin limit with APISIX's 400 (routes4.t TEST 16)", async () => {
      const body = { uri: '/big', plugins: {}, desc: 'x'.repeat(2 * 1024 * 1024) };
      const res = await gw.admin('PUT', '/routes/big', body);
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.equal(`invalid request body: request size ${Buffer.byteLength(JSON.stringify(body))} is greater than the maximum size 1572864 allowed`);
      expect((await gw.admin('GET', '/routes/big')).status).to.equal(404);
    });

    it('/schema/validate checks without storing', async () => {
      const ok = await gw.admin('POST', '/schema/validate/routes', route());
      expect(ok.status).to.equal(200);
      const bad = await gw.admin('POST', '/schema/validate/routes', { uri: 1 });
      expect(bad.status).to.equal(400);
    });
  });

  describe('lists', () => {
    before(async () => {
      for (let i = 0; i < 25; i++) {
        await gw.admin('PUT', `/routes/list${String(i).padStart(2, '0')}`, route({ uri: `/list/${i}`, name: i % 2 ? `odd-${i}` : `even-${i}`, labels: { parity: i % 2 ? 'odd' : 'even' } }));
      }
    });

    it('returns {total, list} with every item enveloped', async () => {
      const res = await gw.admin('GET', '/routes?label=parity');
      expect(res.json.total).to.equal(25);
      expect(res.json.list[0]).to.have.keys('key', 'value', 'createdIndex', 'modifiedIndex');
    });

    it('pages with page and page_size (10..500)', async () => {
      const page2 = await gw.admin('GET', '/routes?label=parity&page=2&page_size=10');
      expect(page2.json.total).to.equal(25);
      expect(page2.json.list.map((i: { value: { id: string } }) => i.value.id)[0]).to.equal('list10');
      expect(page2.json.list).to.have.length(10);
      expect((await gw.admin('GET', '/routes?page=1&page_size=5')).status).to.equal(400);
    });

    it('filters by name, label and uri', async () => {
      expect((await gw.admin('GET', '/routes?name=odd')).json.total).to.equal(12);
      expect((await gw.admin('GET', '/routes?label=parity:even')).json.total).to.equal(13);
      expect((await gw.admin('GET', '/routes?uri=/list/1')).json.total).to.equal(11);
      expect((await gw.admin('GET', '/routes?name=odd&label=parity:even')).json.total).to.equal(0);
    });
  });

  describe('plugins', () => {
    it('lists plugin names by priority', async () => {
      const res = await gw.admin('GET', '/plugins/list');
      expect(res.status).to.equal(200);
      expect(res.json).to.include.members(['request-id', 'proxy-rewrite']);
      expect(res.json.indexOf('request-id')).to.be.lessThan(res.json.indexOf('proxy-rewrite'));
    });

    it('serves a plugin schema with the injected _meta, and 404 for an unknown plugin', async () => {
      const res = await gw.admin('GET', '/plugins/proxy-rewrite');
      expect(res.json.properties).to.have.property('_meta');
      expect(res.json.properties).to.have.property('regex_uri');
      expect((await gw.admin('GET', '/plugins/nope')).status).to.equal(404);
    });

    it('plugin_metadata is validated against the plugin', async () => {
      const res = await gw.admin('PUT', '/plugin_metadata/proxy-rewrite', { anything: true });
      expect(res.status).to.equal(400);
      // t/admin/plugin-metadata.t TEST 7
      expect((await gw.admin('PUT', '/plugin_metadata/nope', {})).json).to.deep.equal({ error_msg: 'invalid plugin name' });
    });
  });

  describe('unknown things', () => {
    it('an unknown resource type is 404 Unsupported resource type', async () => {
      const res = await gw.admin('GET', '/widgets');
      expect(res.status).to.equal(404);
      expect(res.json.error_msg).to.equal('Unsupported resource type: widgets');
    });
  });
});
