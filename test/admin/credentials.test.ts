/**
 * Consumer credentials (`/apisix/admin/consumers/{username}/credentials/{id}`), on both catalogs,
 * mirroring APISIX's t/admin/credentials.t, t/node/credential-plugin-*.t and
 * t/plugin/limit-count-consumer-group-credentials.t: the Admin API's shapes and texts, keys unique
 * across consumers and credentials inside the catalog's write step, several keys per consumer and
 * rotation without downtime, and a consumer's deletion taking its credentials with it.
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { sharedRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const VIEWER_KEY = 'credentials-viewer-key-0123456789';

const backends = [
  { name: 'embedded', options: async () => ({}) },
  { name: 'redis', options: async () => ({ redisUrl: (await sharedRedis()).url, keyPrefix: `creds${Date.now()}${Math.random().toString(36).slice(2, 7)}` }) },
];

for (const backend of backends) {
  describe(`consumer credentials (${backend.name} catalog)`, () => {
    let gw: TestGateway;
    let upstream: TestUpstream;
    let options: Awaited<ReturnType<typeof backend.options>>;

    before(async () => {
      upstream = await startUpstream();
      options = await backend.options();
      gw = await startTestGateway({ ...options, overrides: { admin: { keys: [{ name: 'ro', key: VIEWER_KEY, role: 'viewer' }] } } });
      await gw.admin('PUT', '/routes/hello', { uri: '/hello', plugins: { 'key-auth': {} }, upstream: { nodes: { [upstream.address]: 1 } } });
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    const keyAuth = (key: string) => ({ plugins: { 'key-auth': { key } } });
    const hello = (key: string) => gw.get('/hello', { apikey: key });

    describe('Admin API (t/admin/credentials.t)', () => {
      it('TEST 1: a credential of a consumer that does not exist is 404 consumer not found', async () => {
        const res = await gw.admin('PUT', '/consumers/jack/credentials/credential_a', keyAuth('the-key'));
        expect(res.status).to.equal(404);
        expect(res.json).to.deep.equal({ error_msg: 'consumer not found' });
      });

      it('TEST 2-4: credentials are created under their consumer, with their id and key', async () => {
        expect((await gw.admin('PUT', '/consumers', { username: 'jack', desc: 'new consumer' })).status).to.equal(201);
        const a = await gw.admin('PUT', '/consumers/jack/credentials/credential_a', { desc: 'key-auth for jack', ...keyAuth('the-key-a') });
        expect(a.status).to.equal(201);
        expect(a.json.key).to.equal('/apisix/consumers/jack/credentials/credential_a');
        expect(a.json.value).to.deep.include({ id: 'credential_a', desc: 'key-auth for jack', plugins: { 'key-auth': { key: 'the-key-a' } } });
        expect(a.json.value.create_time).to.be.a('number');
        const b = await gw.admin('PUT', '/consumers/jack/credentials/credential_b', { desc: 'key-auth for jack', ...keyAuth('the-key') });
        expect(b.status).to.equal(201);
      });

      it('TEST 5: a plugin that is not an auth plugin is refused', async () => {
        const res = await gw.admin('PUT', '/consumers/jack/credentials/credential_b', {
          plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, rejected_code: 503, key_type: 'var', key: 'http_a' } },
        });
        expect(res.status).to.equal(400);
        expect(res.json).to.deep.equal({ error_msg: 'only supports auth type plugins in consumer credential' });
      });

      it('TEST 6-7: the consumer list holds no credential; the credential list holds both', async () => {
        const consumers = await gw.admin('GET', '/consumers');
        expect(consumers.json.total).to.equal(1);
        expect(consumers.json.list[0].key).to.equal('/apisix/consumers/jack');
        const list = await gw.admin('GET', '/consumers/jack/credentials');
        expect(list.json.total).to.equal(2);
        expect(list.json.list.map((i: { key: string }) => i.key)).to.deep.equal([
          '/apisix/consumers/jack/credentials/credential_a',
          '/apisix/consumers/jack/credentials/credential_b',
        ]);
      });

      it('TEST 8-9: GET one, and PUT replaces with 200', async () => {
        const one = await gw.admin('GET', '/consumers/jack/credentials/credential_b');
        expect(one.status).to.equal(200);
        expect(one.json).to.have.keys('key', 'value', 'createdIndex', 'modifiedIndex');
        expect(one.json.value.plugins).to.deep.equal({ 'key-auth': { key: 'the-key' } });
        const replaced = await gw.admin('PUT', '/consumers/jack/credentials/credential_b', { desc: 'new description', ...keyAuth('new-key') });
        expect(replaced.status).to.equal(200);
        expect(replaced.json.value).to.deep.include({ desc: 'new description', plugins: { 'key-auth': { key: 'new-key' } } });
        expect(replaced.json.value.create_time).to.equal(one.json.value.create_time);
      });

      it('TEST 10: DELETE removes one credential', async () => {
        expect((await gw.admin('DELETE', '/consumers/jack/credentials/credential_a')).json).to.deep.equal({
          deleted: '1',
          key: '/apisix/consumers/jack/credentials/credential_a',
        });
        const list = await gw.admin('GET', '/consumers/jack/credentials');
        expect(list.json.total).to.equal(1);
        expect((await gw.admin('GET', '/consumers/jack/credentials/credential_a')).status).to.equal(404);
        expect((await gw.admin('DELETE', '/consumers/jack/credentials/credential_a')).json).to.deep.equal({ message: 'Key not found' });
      });

      it('TEST 11: a credential holds one plugin at most', async () => {
        const res = await gw.admin('PUT', '/consumers/jack/credentials/xxx-yyy-zzz', {
          plugins: { 'key-auth': { key: 'the-key' }, 'jwt-auth': { key: 'user-key', secret: 'a-secret-long-enough' } },
        });
        expect(res.status).to.equal(400);
        expect(res.json.error_msg).to.match(/^invalid configuration: property "\/plugins" validation failed: must NOT have more than 1 properties/);
      });

      it('POST and PATCH are 405, as in APISIX', async () => {
        expect((await gw.admin('POST', '/consumers/jack/credentials', keyAuth('posted'))).json).to.deep.equal({ error_msg: 'not supported `POST` method for credential' });
        expect((await gw.admin('PATCH', '/consumers/jack/credentials/credential_b', { desc: 'x' })).status).to.equal(405);
      });

      it('TEST 12-13: deleting the consumer deletes its credentials', async () => {
        expect((await gw.admin('DELETE', '/consumers/jack')).status).to.equal(200);
        const list = await gw.admin('GET', '/consumers/jack/credentials');
        expect(list.status).to.equal(404);
        expect(list.json).to.deep.equal({ message: 'Key not found' });
        expect((await hello('new-key')).status).to.equal(401);
        // Its keys are free again: a consumer of the same name does not inherit them.
        await gw.admin('PUT', '/consumers', { username: 'jack' });
        expect((await gw.admin('GET', '/consumers/jack/credentials')).json.total).to.equal(0);
      });

      it('TEST 15-16: the id may be in the body; with neither, missing credential id', async () => {
        const res = await gw.admin('PUT', '/consumers/jack/credentials', { id: 'd79a5aa3', desc: 'key-auth for jack', ...keyAuth('the-key') });
        expect(res.status).to.equal(201);
        expect(res.json.key).to.equal('/apisix/consumers/jack/credentials/d79a5aa3');
        const missing = await gw.admin('PUT', '/consumers/jack/credentials', keyAuth('the-key'));
        expect(missing.status).to.equal(400);
        expect(missing.json).to.deep.equal({ error_msg: 'missing credential id' });
        const wrong = await gw.admin('PUT', '/consumers/jack/credentials/one', { id: 'two', ...keyAuth('another') });
        expect(wrong.json).to.deep.equal({ error_msg: 'wrong credential id' });
      });

      it('TEST 17-24: a key is unique across consumers and credentials, and a credential keeps its own', async () => {
        await gw.admin('PUT', '/consumers', { username: 'alex' });
        await gw.admin('PUT', '/consumers', { username: 'bob', plugins: { 'key-auth': { key: 'the-key-of-bob' } } });
        expect((await gw.admin('PUT', '/consumers/alex/credentials/cred-alex-a', keyAuth('the-key-of-alex'))).status).to.equal(201);
        const credentialOfAnother = await gw.admin('PUT', '/consumers/bob/credentials/cred-bob-a', keyAuth('the-key-of-alex'));
        expect(credentialOfAnother.status).to.equal(400);
        expect(credentialOfAnother.json).to.deep.equal({ error_msg: 'duplicate key of plugin key-auth found with credential: cred-alex-a of consumer: alex' });
        const consumerKey = await gw.admin('PUT', '/consumers/alex/credentials/cred-alex-b', keyAuth('the-key-of-bob'));
        expect(consumerKey.json).to.deep.equal({ error_msg: 'duplicate key of plugin key-auth found with consumer: bob' });
        const consumerTakingIt = await gw.admin('PUT', '/consumers', { username: 'carol', plugins: { 'key-auth': { key: 'the-key-of-alex' } } });
        expect(consumerTakingIt.json).to.deep.equal({ error_msg: 'duplicate key of plugin key-auth found with credential: cred-alex-a of consumer: alex' });
        expect((await gw.admin('PUT', '/consumers/alex/credentials/cred-alex-a', { desc: 'new description', ...keyAuth('the-key-of-alex') })).status).to.equal(200);
        const sibling = await gw.admin('PUT', '/consumers/alex/credentials/cred-alex-c', keyAuth('the-key-of-alex'));
        expect(sibling.json).to.deep.equal({ error_msg: 'duplicate key of plugin key-auth found with credential: cred-alex-a of consumer: alex' });
        const ownConsumer = await gw.admin('PUT', '/consumers/bob/credentials/cred-bob-b', keyAuth('the-key-of-bob'));
        expect(ownConsumer.json).to.deep.equal({ error_msg: 'duplicate key of plugin key-auth found with consumer: bob' });
      });

      it('a viewer sees credential secrets masked, as consumer ones', async () => {
        const res = await gw.admin('GET', '/consumers/alex/credentials/cred-alex-a', undefined, VIEWER_KEY);
        expect(res.json.value.plugins['key-auth'].key).to.equal('******');
        const list = await gw.admin('GET', '/consumers/alex/credentials', undefined, VIEWER_KEY);
        expect(list.json.list[0].value.plugins['key-auth'].key).to.equal('******');
        expect((await gw.admin('PUT', '/consumers/alex/credentials/v', keyAuth('viewer-key'), VIEWER_KEY)).status).to.equal(401);
      });

      it('the credentials of a username no consumer can have are 404; /apisix/admin/credentials is not a resource', async () => {
        expect((await gw.admin('PUT', '/consumers/a%2Fcredentials%2Fb/credentials/x', keyAuth('odd'))).json).to.deep.equal({ error_msg: 'consumer not found' });
        expect((await gw.admin('GET', '/credentials')).json).to.deep.equal({ error_msg: 'Unsupported resource type: credentials' });
      });
    });

    describe('runtime (t/node/credential-plugin-*.t)', () => {
      it('key-auth and jwt-auth credentials authenticate as their consumer (credential-plugin-key-auth.t, -jwt-auth.t)', async () => {
        await gw.admin('PUT', '/consumers', { username: 'kim' });
        await gw.admin('PUT', '/consumers/kim/credentials/k1', keyAuth('kim-key-1'));
        expect((await hello('kim-key-x')).status).to.equal(401);
        const res = await hello('kim-key-1');
        expect(res.status).to.equal(200);
        expect(res.json.headers['x-consumer-username']).to.equal('kim');
        expect(res.json.headers['x-credential-identifier']).to.equal('k1');

        await gw.admin('PUT', '/routes/jwt', { uri: '/jwt', plugins: { 'jwt-auth': {} }, upstream: { nodes: { [upstream.address]: 1 } } });
        await gw.admin('PUT', '/consumers/kim/credentials/j1', { plugins: { 'jwt-auth': { key: 'kim-jwt', secret: 'kim-secret-0123456789' } } });
        expect((await gw.get('/jwt', { authorization: 'Bearer not.a.token' })).status).to.equal(401);
        const token = jwt.sign({ key: 'kim-jwt', exp: Math.floor(Date.now() / 1000) + 60 }, 'kim-secret-0123456789');
        const ok = await gw.get('/jwt', { authorization: `Bearer ${token}` });
        expect(ok.status).to.equal(200);
        expect(ok.json.headers['x-credential-identifier']).to.equal('j1');
      });

      it('several keys per consumer; deleting one leaves the others (credential-plugin-multi-credentials.t)', async () => {
        await gw.admin('PUT', '/consumers', { username: 'multi' });
        await gw.admin('PUT', '/consumers/multi/credentials/first', keyAuth('multi-first'));
        await gw.admin('PUT', '/consumers/multi/credentials/second', keyAuth('multi-second'));
        expect((await hello('multi-first')).status).to.equal(200);
        expect((await hello('multi-second')).status).to.equal(200);
        await gw.admin('DELETE', '/consumers/multi/credentials/first');
        expect((await hello('multi-first')).status).to.equal(401);
        expect((await hello('multi-second')).status).to.equal(200);
        await gw.admin('DELETE', '/consumers/multi/credentials/second');
        expect((await hello('multi-second')).status).to.equal(401);
      });

      it('rotates a key without downtime: old and new work together until the old credential is deleted', async () => {
        await gw.admin('PUT', '/consumers', { username: 'rot' });
        await gw.admin('PUT', '/consumers/rot/credentials/v1', keyAuth('rot-old'));
        const seen: Array<{ key: string; status: number; start: number; end: number }> = [];
        let running = true;
        const client = (async () => {
          while (running) {
            await Promise.all(
              ['rot-old', 'rot-new'].map(async (key) => {
                const start = performance.now();
                const { status } = await hello(key);
                seen.push({ key, status, start, end: performance.now() });
              }),
            );
          }
        })();
        const pause = async (requests: number) => {
          const target = seen.length + requests;
          while (seen.length < target) await new Promise((r) => setImmediate(r));
        };
        await pause(20);
        expect((await gw.admin('PUT', '/consumers/rot/credentials/v2', keyAuth('rot-new'))).status).to.equal(201);
        const added = performance.now();
        await pause(20);
        const deleting = performance.now();
        expect((await gw.admin('DELETE', '/consumers/rot/credentials/v1')).status).to.equal(200);
        const deleted = performance.now();
        await pause(20);
        running = false;
        await client;
        // The new key works from the moment its PUT answered; the old one until its DELETE was sent.
        const wrong = seen.filter(
          (r) =>
            (r.key === 'rot-new' && r.start > added && r.status !== 200) ||
            (r.key === 'rot-old' && r.end < deleting && r.status !== 200) ||
            (r.key === 'rot-old' && r.start > deleted && r.status !== 401),
        );
        expect(wrong).to.deep.equal([]);
        expect(seen.filter((r) => r.key === 'rot-old' && r.end < deleting && r.start > added).length, 'both keys were used together').to.be.greaterThan(0);
      });

      it('identity headers: X-Credential-Identifier, X-Consumer-Custom-ID from the consumer, never from the client (credential-plugin-set-request-header.t)', async () => {
        await gw.admin('PUT', '/consumers', { username: 'hdr' });
        await gw.admin('PUT', '/consumers/hdr/credentials/c1', { labels: { custom_id: 'from-credential' }, ...keyAuth('hdr-key') });
        let res = await gw.get('/hello', { apikey: 'hdr-key', 'x-consumer-custom-id': 'forged' });
        expect(res.json.headers['x-credential-identifier']).to.equal('c1');
        expect(res.json.headers).to.not.have.property('x-consumer-custom-id');
        await gw.admin('PUT', '/consumers', { username: 'hdr', labels: { custom_id: 'custom-of-hdr' } });
        res = await hello('hdr-key');
        expect(res.json.headers['x-consumer-custom-id']).to.equal('custom-of-hdr');
        await gw.admin('DELETE', '/consumers/hdr/credentials/c1');
        await gw.admin('PUT', '/consumers', { username: 'hdr', plugins: { 'key-auth': { key: 'hdr-own-key' } } });
        res = await gw.get('/hello', { apikey: 'hdr-own-key', 'x-credential-identifier': 'forged' });
        expect(res.json.headers).to.not.have.property('x-credential-identifier');
        expect(res.json.headers['x-consumer-username']).to.equal('hdr');
      });

      it("the consumer's plugins apply through its credentials, one quota for all of them (credential-plugin-work-with-other-plugin.t)", async () => {
        await gw.admin('PUT', '/consumers', { username: 'lim', plugins: { 'limit-count': { count: 3, time_window: 60, rejected_code: 429, key: 'consumer_name' } } });
        await gw.admin('PUT', '/consumers/lim/credentials/a', keyAuth('lim-a'));
        await gw.admin('PUT', '/consumers/lim/credentials/b', keyAuth('lim-b'));
        const statuses = [];
        for (const key of ['lim-a', 'lim-b', 'lim-a', 'lim-b']) statuses.push((await hello(key)).status);
        expect(statuses).to.deep.equal([200, 200, 200, 429]);
      });

      it("a consumer group's limit applies through credentials (limit-count-consumer-group-credentials.t)", async () => {
        await gw.admin('PUT', '/consumer_groups/basic', { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 429, key: 'consumer_name' } } });
        await gw.admin('PUT', '/consumer_groups/premium', { plugins: { 'limit-count': { count: 4, time_window: 60, rejected_code: 429, key: 'consumer_name' } } });
        await gw.admin('PUT', '/consumers', { username: 'grp-basic', group_id: 'basic' });
        await gw.admin('PUT', '/consumers', { username: 'grp-premium', group_id: 'premium' });
        await gw.admin('PUT', '/consumers/grp-basic/credentials/c', keyAuth('grp-basic-key'));
        await gw.admin('PUT', '/consumers/grp-premium/credentials/c', keyAuth('grp-premium-key'));
        const statuses = async (key: string, n: number) => {
          const out: number[] = [];
          for (let i = 0; i < n; i++) out.push((await hello(key)).status);
          return out;
        };
        expect(await statuses('grp-basic-key', 3)).to.deep.equal([200, 200, 429]);
        expect(await statuses('grp-premium-key', 5)).to.deep.equal([200, 200, 200, 200, 429]);
      });
    });

    describe('atomic in the catalog', () => {
      it('parallel PUTs of one key as credentials of several consumers and as consumers: exactly one stored', async () => {
        // On Redis, through two gateways sharing the catalog; the embedded catalog has one writer.
        const second = backend.name === 'redis' ? await startTestGateway(options) : undefined;
        try {
          const admins = second ? [gw, second] : [gw];
          for (let i = 0; i < 4; i++) await gw.admin('PUT', '/consumers', { username: `racer${i}` });
          for (const via of admins) expect(await waitFor(async () => (await via.admin('GET', '/consumers/racer3')).status === 200, 3000)).to.equal(true);
          const writes = Array.from({ length: 16 }, (_, i) => {
            const via = admins[i % admins.length];
            return i % 4 === 0
              ? via.admin('PUT', '/consumers', { username: `racing${i}`, ...keyAuth('raced-key') })
              : via.admin('PUT', `/consumers/racer${i % 4}/credentials/r${i}`, keyAuth('raced-key'));
          });
          const answers = await Promise.all(writes);
          const stored = answers.filter((a) => a.status === 201);
          expect(stored, answers.map((a) => `${a.status} ${a.text}`).join('\n')).to.have.length(1);
          for (const refused of answers.filter((a) => a.status !== 201)) {
            expect(refused.status).to.equal(400);
            expect(refused.json.error_msg).to.match(/^duplicate key of plugin key-auth found with (consumer: racing\d+|credential: r\d+ of consumer: racer\d)$/);
          }
        } finally {
          await second?.stop();
        }
      });

      it('a credential stored without its consumer (written straight into the store) authenticates no one and is listed on /status', async function () {
        if (backend.name !== 'redis') this.skip();
        const client = (await sharedRedis()).client();
        const prefix = (options as { keyPrefix: string }).keyPrefix;
        const record = { createdIndex: 1, modifiedIndex: 1, create_time: 1, update_time: 1, value: { id: 'x', plugins: { 'key-auth': { key: 'ghost-key' } } } };
        await client.hset(`{${prefix}}:credentials`, 'ghost/credentials/x', JSON.stringify(record));
        await client.incr(`{${prefix}}:revision`);
        const listed = async () => {
          const status = (await fetch(`${gw.statusUrl}/status`).then((r) => r.json())) as { invalid_entries: Array<Record<string, string>> };
          return status.invalid_entries.some((e) => e.kind === 'credentials' && e.id === 'ghost/credentials/x');
        };
        expect(await waitFor(listed, 3000)).to.equal(true);
        expect((await hello('ghost-key')).status).to.equal(401);
        // It names its consumer: once that consumer exists, the credential is one of its keys (as in APISIX).
        await gw.admin('PUT', '/consumers', { username: 'ghost' });
        expect((await hello('ghost-key')).status).to.equal(200);
      });

      it('a credential PUT racing the DELETE of its consumer never leaves a credential without its consumer', async () => {
        for (let round = 0; round < 6; round++) {
          await gw.admin('PUT', '/consumers', { username: `owner${round}` });
          const puts = Array.from({ length: 3 }, (_, i) => gw.admin('PUT', `/consumers/owner${round}/credentials/c${i}`, keyAuth(`owner${round}-key${i}`)));
          const removal = gw.admin('DELETE', `/consumers/owner${round}`);
          const answers = await Promise.all(puts);
          expect((await removal).status).to.equal(200);
          for (const res of answers) expect([201, 404], res.text).to.include(res.status);
          expect((await gw.admin('GET', `/consumers/owner${round}/credentials`)).status).to.equal(404);
          for (let i = 0; i < 3; i++) expect((await hello(`owner${round}-key${i}`)).status).to.equal(401);
        }
      });
    });
  });
}
