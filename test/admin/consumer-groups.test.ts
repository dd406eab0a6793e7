/**
 * Consumer groups (`/apisix/admin/consumer_groups/{id}`, a consumer's `group_id`), on both
 * catalogs, mirroring APISIX's t/admin/consumer-group.t, t/admin/consumer-group-force-delete.t and
 * t/node/consumer-group.t: the Admin API's shapes and texts, reference integrity inside the
 * catalog's write step, and the merge order Consumer > Consumer Group > Route at runtime.
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sharedRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const backends = [
  { name: 'embedded', options: async () => ({}) },
  { name: 'redis', options: async () => ({ redisUrl: (await sharedRedis()).url, keyPrefix: `groups${Date.now()}${Math.random().toString(36).slice(2, 7)}` }) },
];

for (const backend of backends) {
  describe(`consumer groups (${backend.name} catalog)`, () => {
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

    const limitCount = { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } };

    describe('Admin API (t/admin/consumer-group.t)', () => {
      it('TEST 1-3: PUT creates with 201, GET one and GET all answer it', async () => {
        const put = await gw.admin('PUT', '/consumer_groups/company_a', { plugins: limitCount });
        expect(put.status).to.equal(201);
        expect(put.json.key).to.equal('/apisix/consumer_groups/company_a');
        expect(put.json.value).to.deep.include({ id: 'company_a', plugins: limitCount });
        expect(put.json.value.create_time).to.be.a('number');
        expect(put.json.value.update_time).to.be.a('number');
        const one = await gw.admin('GET', '/consumer_groups/company_a');
        expect(one.status).to.equal(200);
        expect(one.json.value.plugins).to.deep.equal(limitCount);
        const all = await gw.admin('GET', '/consumer_groups');
        expect(all.json.total).to.equal(1);
        expect(all.json.list[0].key).to.equal('/apisix/consumer_groups/company_a');
      });

      it('TEST 4-5: PATCH merges, and a sub-path PATCH replaces one attribute', async () => {
        const patched = await gw.admin('PATCH', '/consumer_groups/company_a', { plugins: { 'limit-count': { count: 3, time_window: 60, rejected_code: 503, key: 'remote_addr' } } });
        expect(patched.status).to.equal(200);
        expect(patched.json.value.plugins['limit-count'].count).to.equal(3);
        const sub = await gw.admin('PATCH', '/consumer_groups/company_a/plugins', limitCount);
        expect(sub.status).to.equal(200);
        expect(sub.json.value.plugins['limit-count'].count).to.equal(2);
      });

      it('TEST 6: an invalid plugin config is 400', async () => {
        const res = await gw.admin('PUT', '/consumer_groups/company_a', { plugins: { 'limit-count': { count: -1, time_window: 60 } } });
        expect(res.status).to.equal(400);
        expect(res.json.error_msg).to.match(/^failed to check the configuration of plugin limit-count err: /);
      });

      it('TEST 7-9: name, desc and labels are kept; a malformed label is 400', async () => {
        const res = await gw.admin('PUT', '/consumer_groups/company_a', { name: 'Company A', desc: 'group', labels: { tier: 'gold' }, plugins: limitCount });
        expect(res.status).to.equal(200);
        expect(res.json.value).to.deep.include({ name: 'Company A', desc: 'group', labels: { tier: 'gold' } });
        const bad = await gw.admin('PUT', '/consumer_groups/company_a', { labels: 'gold', plugins: limitCount });
        expect(bad.status).to.equal(400);
        expect(bad.json.error_msg).to.match(/^invalid configuration: property "\/labels" validation failed/);
      });

      it('POST is 405, as in APISIX (resource.lua: unsupported_methods = {"post"})', async () => {
        const res = await gw.admin('POST', '/consumer_groups', { plugins: {} });
        expect(res.status).to.equal(405);
        expect(res.json.error_msg).to.equal('not supported `POST` method for consumer group');
      });

      it('plugins must be given; an auth plugin or a plugin that answers requests is refused with the reason', async () => {
        expect((await gw.admin('PUT', '/consumer_groups/empty', {})).status).to.equal(400);
        const auth = await gw.admin('PUT', '/consumer_groups/auth', { plugins: { 'key-auth': {} } });
        expect(auth.status).to.equal(400);
        expect(auth.json.error_msg).to.match(/key-auth authenticates consumers: it has no effect on a consumer group/);
        const content = await gw.admin('PUT', '/consumer_groups/content', { plugins: { 'mcp-bridge': { command: 'node' } } });
        expect(content.status).to.equal(400);
        expect(content.json.error_msg).to.match(/only works on a route, service or plugin config, not on a consumer group/);
      });

      it('TEST 11-14: a group in use cannot be deleted; once unused it can', async () => {
        expect((await gw.admin('PUT', '/consumers/foobar', { username: 'foobar', group_id: 'company_a', plugins: { 'key-auth': { key: 'auth-two' } } })).status).to.equal(201);
        const refused = await gw.admin('DELETE', '/consumer_groups/company_a');
        expect(refused.status).to.equal(400);
        expect(refused.json).to.deep.equal({ error_msg: 'can not delete this consumer group, consumer [foobar] is still using it now' });
        expect((await gw.admin('DELETE', '/consumers/foobar')).status).to.equal(200);
        expect((await gw.admin('DELETE', '/consumer_groups/company_a')).status).to.equal(200);
      });

      it('TEST 15: a consumer naming a missing group is refused', async () => {
        const res = await gw.admin('PUT', '/consumers/foobar', { username: 'foobar', group_id: 'invalid_group', plugins: { 'key-auth': { key: 'auth-two' } } });
        expect(res.status).to.equal(400);
        expect(res.json.error_msg).to.equal('failed to fetch consumer group info by consumer group id [invalid_group], response code: 404');
        expect((await gw.admin('GET', '/consumers/foobar')).status).to.equal(404);
      });

      it('consumer-group-force-delete.t: ?force=true deletes a group in use', async () => {
        await gw.admin('PUT', '/consumer_groups/forced', { plugins: limitCount });
        await gw.admin('PUT', '/consumers/stays', { username: 'stays', group_id: 'forced' });
        expect((await gw.admin('DELETE', '/consumer_groups/forced')).status).to.equal(400);
        expect((await gw.admin('DELETE', '/consumer_groups/forced?force=true')).status).to.equal(200);
        await gw.admin('DELETE', '/consumers/stays');
      });

      it('a DELETE of a group racing PUTs of consumers naming it never leaves a consumer in a missing group', async () => {
        for (let round = 0; round < 6; round++) {
          const group = `race${round}`;
          expect((await gw.admin('PUT', `/consumer_groups/${group}`, { plugins: {} })).status).to.equal(201);
          const users = Array.from({ length: 4 }, (_, i) => `racer${round}x${i}`);
          const put = (username: string) => gw.admin('PUT', '/consumers', { username, group_id: group });
          // Sent in either order, so that both sides win some rounds.
          const putsFirst = round % 2 === 1 ? users.map(put) : undefined;
          const removal = gw.admin('DELETE', `/consumer_groups/${group}`);
          const stored = await Promise.all(putsFirst ?? users.map(put));
          const deleted = await removal;
          const storedUsers = users.filter((_, i) => stored[i].status === 201);
          if (deleted.status === 200) expect(storedUsers, `round ${round}`).to.deep.equal([]);
          else expect(deleted.json.error_msg).to.match(/^can not delete this consumer group, consumer \[racer/);
          for (const res of stored.filter((r) => r.status !== 201)) {
            expect(res.json.error_msg).to.equal(`failed to fetch consumer group info by consumer group id [${group}], response code: 404`);
          }
          for (const username of storedUsers) await gw.admin('DELETE', `/consumers/${username}`);
          await gw.admin('DELETE', `/consumer_groups/${group}`);
        }
      });
    });

    describe('runtime (t/node/consumer-group.t)', () => {
      const route = (id: string, uri: string) =>
        gw.admin('PUT', `/routes/${id}`, { uri, plugins: { 'key-auth': {} }, upstream: { nodes: { [upstream.address]: 1 } } });
      const setHeader = (value: string) => ({ 'proxy-rewrite': { headers: { set: { 'x-from': value } } } });
      const call = (uri: string, key: string) => gw.get(uri, { apikey: key });

      before(async () => {
        await route('grouped', '/grouped');
      });

      it('TEST 1: the group plugins run for its consumers, and a change of the group takes effect', async () => {
        await gw.admin('PUT', '/consumer_groups/bar', { plugins: setHeader('hello') });
        await gw.admin('PUT', '/consumers', { username: 'foo', group_id: 'bar', plugins: { 'key-auth': { key: 'foo-key' } } });
        expect((await call('/grouped', 'foo-key')).json.headers['x-from']).to.equal('hello');
        await gw.admin('PATCH', '/consumer_groups/bar', { plugins: setHeader('world') });
        expect((await call('/grouped', 'foo-key')).json.headers['x-from']).to.equal('world');
      });

      it("TEST 3: the consumer's own plugin is not overridden by its group's", async () => {
        await gw.admin('PUT', '/consumers', { username: 'foo', group_id: 'bar', plugins: { 'key-auth': { key: 'foo-key' }, ...setHeader('consumer') } });
        expect((await call('/grouped', 'foo-key')).json.headers['x-from']).to.equal('consumer');
      });

      it('TEST 4: consumer_group_id is a request variable', async () => {
        await gw.admin('PUT', '/consumer_groups/bar', { plugins: setHeader('$consumer_group_id') });
        await gw.admin('PUT', '/consumers', { username: 'foo', group_id: 'bar', plugins: { 'key-auth': { key: 'foo-key' } } });
        expect((await call('/grouped', 'foo-key')).json.headers['x-from']).to.equal('bar');
      });

      it("a group's limit-count applies to each of its consumers; a consumer's own limit-count overrides it", async () => {
        await gw.admin('PUT', '/consumer_groups/limited', { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 429, key: 'consumer_name' } } });
        await gw.admin('PUT', '/consumers', { username: 'ann', group_id: 'limited', plugins: { 'key-auth': { key: 'ann-key' } } });
        await gw.admin('PUT', '/consumers', { username: 'ben', group_id: 'limited', plugins: { 'key-auth': { key: 'ben-key' } } });
        await gw.admin('PUT', '/consumers', {
          username: 'cid',
          group_id: 'limited',
          plugins: { 'key-auth': { key: 'cid-key' }, 'limit-count': { count: 4, time_window: 60, rejected_code: 429, key: 'consumer_name' } },
        });
        await route('limited', '/limited');
        const statuses = async (key: string, n: number) => {
          const out: number[] = [];
          for (let i = 0; i < n; i++) out.push((await call('/limited', key)).status);
          return out;
        };
        expect(await statuses('ann-key', 3)).to.deep.equal([200, 200, 429]);
        expect(await statuses('ben-key', 3)).to.deep.equal([200, 200, 429]);
        expect(await statuses('cid-key', 5)).to.deep.equal([200, 200, 200, 200, 429]);
      });

      it('a consumer whose group was force-deleted answers 503; other consumers are unaffected', async () => {
        await gw.admin('PUT', '/consumer_groups/doomed', { plugins: setHeader('doomed') });
        await gw.admin('PUT', '/consumers', { username: 'orphan', group_id: 'doomed', plugins: { 'key-auth': { key: 'orphan-key' } } });
        await gw.admin('PUT', '/consumers', { username: 'loner', plugins: { 'key-auth': { key: 'loner-key' } } });
        expect((await call('/grouped', 'orphan-key')).json.headers['x-from']).to.equal('doomed');
        expect((await gw.admin('DELETE', '/consumer_groups/doomed?force=true')).status).to.equal(200);
        const res = await call('/grouped', 'orphan-key');
        expect(res.status).to.equal(503);
        expect(res.json.code).to.equal('GW_CONSUMER_BROKEN');
        expect((await call('/grouped', 'loner-key')).status).to.equal(200);
        const status = (await fetch(`${gw.statusUrl}/status`).then((r) => r.json())) as { invalid_entries: Array<Record<string, string>> };
        expect(status.invalid_entries).to.deep.include({ kind: 'consumers', id: 'orphan', error: 'consumer group doomed does not exist', effect: 'answers 503' });
      });
    });
  });
}
