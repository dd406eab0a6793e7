/**
 * Stored as sent (APISIX 3.14, #12603): GET answers what was PUT. Defaults are applied when a
 * record is used, never written back; ids keep their JSON type; timestamps only where APISIX adds
 * them. Mirrors t/admin/upstream2.t and t/admin/routes2.t ("not unwanted data"), on both catalogs,
 * and checks that records stored by older versions, defaults written in, still load and PATCH.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sharedRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** A value without the server's times, for comparing with what was sent. */
function withoutTimes(value: Record<string, unknown>): Record<string, unknown> {
  const { create_time: createTime, update_time: updateTime, ...rest } = value;
  expect(createTime, 'create_time').to.be.a('number');
  expect(updateTime, 'update_time').to.be.a('number');
  return rest;
}

const backends = [
  { name: 'embedded', options: async () => ({}) },
  { name: 'redis', options: async () => ({ redisUrl: (await sharedRedis()).url, keyPrefix: `sent${Date.now()}${Math.random().toString(36).slice(2, 7)}` }) },
];

for (const backend of backends) {
  describe(`stored as sent (${backend.name} catalog)`, () => {
    let gw: TestGateway;
    let upstream: TestUpstream;

    before(async () => {
      upstream = await startUpstream();
      gw = await startTestGateway(await backend.options());
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    const nodes = () => ({ [upstream.address]: 1 });

    it('upstream2.t TEST 1: POST answers what was sent, with a generated id and times', async () => {
      const res = await gw.admin('POST', '/upstreams', { nodes: nodes(), type: 'roundrobin' });
      expect(res.status).to.equal(201);
      const { id, ...rest } = withoutTimes(res.json.value);
      expect(id).to.match(/^\d{20}$/);
      expect(rest).to.deep.equal({ nodes: nodes(), type: 'roundrobin' });
    });

    it('upstream2.t TEST 2-5: PUT, PATCH and GET answer the fields sent and no default; DELETE its envelope', async () => {
      const put = await gw.admin('PUT', '/upstreams/unwanted', { nodes: nodes() });
      expect(put.status).to.equal(201);
      expect(put.json.key).to.equal('/apisix/upstreams/unwanted');
      expect(withoutTimes(put.json.value)).to.deep.equal({ id: 'unwanted', nodes: nodes() });
      const patch = await gw.admin('PATCH', '/upstreams/unwanted', { type: 'roundrobin' });
      expect(withoutTimes(patch.json.value)).to.deep.equal({ id: 'unwanted', nodes: nodes(), type: 'roundrobin' });
      const get = await gw.admin('GET', '/upstreams/unwanted');
      expect(withoutTimes(get.json.value)).to.deep.equal({ id: 'unwanted', nodes: nodes(), type: 'roundrobin' });
      expect((await gw.admin('DELETE', '/upstreams/unwanted')).json).to.deep.equal({ deleted: '1', key: '/apisix/upstreams/unwanted' });
    });

    it('upstream4.t TEST 12, 13: a PATCH may set create_time and update_time, a PUT may not', async () => {
      expect((await gw.admin('PUT', '/upstreams/timed', { nodes: nodes(), create_time: 1705252779 })).json.error_msg).to.equal('the property is forbidden:  create_time');
      const put = await gw.admin('PUT', '/upstreams/timed', { nodes: nodes() });
      const created = put.json.value.create_time;
      const patched = await gw.admin('PATCH', '/upstreams/timed', { nodes: nodes(), desc: 'new upstream', create_time: 1705252779 });
      expect(patched.status, patched.text).to.equal(200);
      expect(patched.json.value).to.include({ desc: 'new upstream', create_time: 1705252779 });
      expect(patched.json.value.update_time).to.be.at.least(created);
      const again = await gw.admin('PATCH', '/upstreams/timed', { update_time: 1705252780 });
      expect(again.json.value).to.include({ create_time: 1705252779, update_time: 1705252780 });
      // What the catalog stored, not only what the write answered.
      expect((await gw.admin('GET', '/upstreams/timed')).json.value).to.include({ create_time: 1705252779, update_time: 1705252780 });
      // The next write without them: create_time stays, update_time is now.
      const later = await gw.admin('PATCH', '/upstreams/timed', { desc: 'later' });
      expect(later.json.value.create_time).to.equal(1705252779);
      expect(later.json.value.update_time).to.be.at.least(created);
      expect((await gw.admin('PATCH', '/upstreams/timed', { create_time: 'yesterday' })).status).to.equal(400);
    });

    it('routes2.t TEST 6-8: an id sent as a number stays a number; a PATCH through the path makes it the path\'s string', async () => {
      const sent = { id: 1, methods: ['GET'], upstream: { nodes: nodes(), type: 'roundrobin' }, uri: '/index.html' };
      const put = await gw.admin('PUT', '/routes', sent);
      expect(put.status).to.equal(201);
      expect(put.json.key).to.equal('/apisix/routes/1');
      expect(withoutTimes(put.json.value)).to.deep.equal(sent);
      expect((await gw.get('/index.html')).status).to.equal(200);
      const patch = await gw.admin('PATCH', '/routes/1', { uri: '/index' });
      expect(withoutTimes(patch.json.value)).to.deep.equal({ ...sent, id: '1', uri: '/index' });
      expect(withoutTimes((await gw.admin('GET', '/routes/1')).json.value)).to.deep.equal({ ...sent, id: '1', uri: '/index' });
      // PUT /routes/1 stores the path's string, whatever the body's type.
      expect((await gw.admin('PUT', '/routes/1', { ...sent, id: 1 })).json.value.id).to.equal('1');
      await gw.admin('DELETE', '/routes/1');
    });

    it('plugin configs are stored as sent; their defaults apply when the route runs', async () => {
      const limit = { count: 1, time_window: 60 };
      const put = await gw.admin('PUT', '/routes/limited', { uri: '/limited', plugins: { 'limit-count': limit }, upstream: { nodes: nodes() } });
      expect(put.json.value.plugins).to.deep.equal({ 'limit-count': limit });
      expect((await gw.get('/limited')).status).to.equal(200);
      // The default rejected_code (503) and the default key (the client address) are in force.
      expect((await gw.get('/limited')).status).to.equal(503);
      await gw.admin('PUT', '/consumers', { username: 'sent', plugins: { 'jwt-auth': { key: 'sent-key', secret: 'sent-secret-0123456789' } } });
      expect((await gw.admin('GET', '/consumers/sent')).json.value.plugins).to.deep.equal({ 'jwt-auth': { key: 'sent-key', secret: 'sent-secret-0123456789' } });
      const group = await gw.admin('PUT', '/consumer_groups/company_a', { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } } });
      expect(group.json.value.plugins).to.deep.equal({ 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } });
    });

    it('references keep their JSON type too', async () => {
      await gw.admin('PUT', '/upstreams/7', { nodes: nodes() });
      const res = await gw.admin('PUT', '/routes/numeric-ref', { uri: '/numeric-ref', upstream_id: 7 });
      expect(res.json.value.upstream_id).to.equal(7);
      expect((await gw.get('/numeric-ref')).status).to.equal(200);
      expect((await gw.admin('DELETE', '/upstreams/7')).json.error_msg).to.equal('can not delete this upstream, route [numeric-ref] is still using it now');
      await gw.admin('DELETE', '/routes/numeric-ref');
      await gw.admin('DELETE', '/upstreams/7');
    });

    it('timestamps where APISIX adds them: not on plugin metadata', async () => {
      const metadata = await gw.admin('PUT', '/plugin_metadata/limit-count', { limit_header: 'X-Quota-Limit' });
      expect(metadata.json.value).to.deep.equal({ limit_header: 'X-Quota-Limit', id: 'limit-count' });
      expect((await gw.admin('GET', '/plugin_metadata/limit-count')).json.value).to.deep.equal({ limit_header: 'X-Quota-Limit', id: 'limit-count' });
      const rule = await gw.admin('PUT', '/global_rules/g', { plugins: { 'request-id': {} } });
      expect(withoutTimes(rule.json.value)).to.deep.equal({ id: 'g', plugins: { 'request-id': {} } });
      await gw.admin('DELETE', '/global_rules/g');
      await gw.admin('DELETE', '/plugin_metadata/limit-count');
    });

    it('/schema/validate shows the body with its defaults filled, and stores nothing', async () => {
      const res = await gw.admin('POST', '/schema/validate/upstreams', { nodes: nodes() });
      expect(res.status).to.equal(200);
      expect(res.json.value).to.include({ type: 'roundrobin', scheme: 'http', pass_host: 'pass' });
    });
  });
}

describe('stored as sent: records written by older versions, defaults included', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream.close());

  /** A route as an older version stored it: every default written in. */
  const legacyRoute = (address: string) => ({
    id: 'legacy',
    uri: '/legacy',
    priority: 0,
    status: 1,
    plugins: { 'key-auth': { header: 'apikey', hide_credentials: false, realm: 'key' } },
    upstream: { nodes: { [address]: 1 }, type: 'roundrobin', hash_on: 'vars', retry_timeout: 0, scheme: 'http', pass_host: 'pass' },
    create_time: 1700000000,
    update_time: 1700000000,
  });
  const legacyConsumer = { username: 'old', plugins: { 'key-auth': { key: 'old-key' } }, create_time: 1700000000, update_time: 1700000000 };

  const check = async (gw: TestGateway) => {
    const get = await gw.admin('GET', '/routes/legacy');
    expect(get.json.value).to.deep.equal(legacyRoute(upstream.address));
    expect((await gw.get('/legacy', { apikey: 'old-key' })).status).to.equal(200);
    expect((await gw.get('/legacy')).status).to.equal(401);
    // A PATCH merges into what is stored, defaults and all, and keeps create_time.
    const patch = await gw.admin('PATCH', '/routes/legacy', { desc: 'patched', plugins: { 'key-auth': { hide_credentials: true } } });
    expect(patch.status).to.equal(200);
    expect(patch.json.value.plugins['key-auth']).to.deep.equal({ header: 'apikey', hide_credentials: true, realm: 'key' });
    expect(patch.json.value.create_time).to.equal(1700000000);
    const seen = await gw.get('/legacy', { apikey: 'old-key' });
    expect(seen.status).to.equal(200);
    expect(seen.json.headers).to.not.have.property('apikey');
  };

  it('embedded catalog: a catalog file written by an older version', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-legacy-'));
    mkdirSync(dataDir, { recursive: true });
    const record = (value: Record<string, unknown>, index: number) => ({ value, createdIndex: index, modifiedIndex: index });
    writeFileSync(
      join(dataDir, 'catalog.json'),
      JSON.stringify({ revision: 2, resources: { routes: { legacy: record(legacyRoute(upstream.address), 1) }, consumers: { old: record(legacyConsumer, 2) } } }),
    );
    const gw = await startTestGateway({ overrides: { gateway: { data_dir: dataDir } } });
    try {
      await check(gw);
    } finally {
      await gw.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('redis catalog: records an older version wrote', async () => {
    const redis = await sharedRedis();
    const keyPrefix = `legacy${Date.now()}`;
    const client = redis.client();
    const stored = (value: Record<string, unknown>, index: number) => {
      const { create_time: createTime, update_time: updateTime, ...rest } = value;
      return JSON.stringify({ createdIndex: index, modifiedIndex: index, create_time: createTime, update_time: updateTime, value: rest });
    };
    await client.hset(`{${keyPrefix}}:routes`, 'legacy', stored(legacyRoute(upstream.address), 1));
    await client.hset(`{${keyPrefix}}:consumers`, 'old', stored(legacyConsumer, 2));
    await client.set(`{${keyPrefix}}:revision`, '2');
    const gw = await startTestGateway({ redisUrl: redis.url, keyPrefix });
    try {
      await check(gw);
    } finally {
      await gw.stop();
    }
  });
});
