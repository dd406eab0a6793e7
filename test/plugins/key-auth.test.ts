import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putConsumer, putRoute } from './support.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

describe('plugin key-auth', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { admin: { keys: [{ name: 'ro', key: VIEWER_KEY, role: 'viewer' }] } } });
    await putConsumer(gw, 'jack', { 'key-auth': { key: 'jack-secret-key' } });
    await putConsumer(gw, 'rose', { 'key-auth': { key: 'rose-secret-key' } });
    await putRoute(gw, 'protected', '/protected', upstream, { 'key-auth': {} });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  describe('schema', () => {
    it('stores the route config as sent; its defaults apply when the route runs (APISIX 3.14, no unwanted data)', async () => {
      const res = await gw.admin('GET', '/routes/protected');
      expect(res.json.value.plugins['key-auth']).to.deep.equal({});
      expect((await gw.get('/protected', { apikey: 'jack-secret-key' })).status).to.equal(200);
      const schema = await gw.admin('GET', '/plugins/key-auth');
      expect(schema.json.properties.header.default).to.equal('apikey');
    });

    it('refuses a consumer without a key, and unknown fields', async () => {
      const missing = await putConsumer(gw, 'nokey', { 'key-auth': {} });
      expect(missing.status).to.equal(400);
      expect(missing.json.error_msg).to.match(/^invalid plugins configuration: .*key-auth.*\/key.*required/);
      expect((await putConsumer(gw, 'empty', { 'key-auth': { key: '' } })).status).to.equal(400);
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'key-auth': { header: 'api key' } })).status).to.equal(400);
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'key-auth': { key: 'on-a-route' } })).json.error_msg).to.match(/\/key.*unknown property/);
    });

    it('refuses a key another consumer already holds', async () => {
      const dup = await putConsumer(gw, 'copycat', { 'key-auth': { key: 'jack-secret-key' } });
      expect(dup.status).to.equal(400);
      expect(dup.json.error_msg).to.equal('duplicate key of plugin key-auth found with consumer: jack');
      expect((await gw.admin('GET', '/consumers/copycat')).status).to.equal(404);
      // The holder itself may be written again with its own key.
      expect((await putConsumer(gw, 'jack', { 'key-auth': { key: 'jack-secret-key' } })).status).to.equal(200);
    });

    it('shows the key to admins and masks it for viewers, one by one and in lists', async () => {
      expect((await gw.admin('GET', '/consumers/jack')).json.value.plugins['key-auth'].key).to.equal('jack-secret-key');
      const one = await gw.admin('GET', '/consumers/jack', undefined, VIEWER_KEY);
      expect(one.status).to.equal(200);
      expect(one.json.value.plugins['key-auth'].key).to.equal('******');
      const list = await gw.admin('GET', '/consumers', undefined, VIEWER_KEY);
      expect(list.text).to.not.include('secret-key');
      expect(list.json.list.map((item: any) => item.value.plugins['key-auth'].key)).to.deep.equal(['******', '******']);
    });
  });

  describe('happy path', () => {
    it('names the consumer to the upstream, and drops identity headers the client sent (B-07)', async () => {
      const res = await gw.get('/protected', { apikey: 'jack-secret-key', 'x-consumer-username': 'admin', 'X-Consumer-Id': 'admin', 'x-credential-identifier': 'x' });
      expect(res.status).to.equal(200);
      expect(res.json.headers['x-consumer-username']).to.equal('jack');
      expect(res.json.headers).to.not.have.property('x-consumer-id');
      expect(res.json.headers).to.not.have.property('x-credential-identifier');
      expect(res.json.headers.apikey).to.equal('jack-secret-key');
      expect((await gw.get('/protected', { apikey: 'rose-secret-key' })).json.headers['x-consumer-username']).to.equal('rose');
    });

    it('reads the key from a configured header or, only when enabled, the query string', async () => {
      await putRoute(gw, 'custom', '/custom', upstream, { 'key-auth': { header: 'X-Api-Token' } });
      expect((await gw.get('/custom', { 'x-api-token': 'jack-secret-key' })).status).to.equal(200);
      expect((await gw.get('/custom?apikey=jack-secret-key')).status).to.equal(401);
      await putRoute(gw, 'query', '/query', upstream, { 'key-auth': { query: 'token' } });
      expect((await gw.get('/query?token=rose-secret-key')).json.headers['x-consumer-username']).to.equal('rose');
    });

    it('hides the credential from the upstream when asked, keeping everything else', async () => {
      await putRoute(gw, 'hide', '/hide', upstream, { 'key-auth': { query: 'apikey', hide_credentials: true } });
      const header = await gw.get('/hide?x=1', { apikey: 'jack-secret-key' });
      expect(header.json.headers).to.not.have.property('apikey');
      expect(header.json.url).to.equal('/hide?x=1');
      const query = await gw.get('/hide?a=1&apikey=jack-secret-key&b=%20two');
      expect(query.status).to.equal(200);
      expect(query.json.url).to.equal('/hide?a=1&b=%20two');
    });

    it('hides every copy of the key: every header line, every query parameter of that name, on the anonymous fallback too', async () => {
      await putRoute(gw, 'hide-all', '/hide-all', upstream, { 'key-auth': { query: 'apikey', hide_credentials: true } });
      // The key in the header, and copies of it (however spelled) in the query string.
      const both = await gw.get('/hide-all?apikey=jack-secret-key&x=1&apikey=again&%61pikey=third', { apikey: 'jack-secret-key' });
      expect(both.status).to.equal(200);
      expect(both.json.headers).to.not.have.property('apikey');
      expect(both.json.url).to.equal('/hide-all?x=1');
      // A failed key that falls back to the anonymous consumer is hidden as well (APISIX 3.17),
      // here sent on two header lines and in the query string.
      await putConsumer(gw, 'visitor', {});
      await putRoute(gw, 'hide-anon', '/hide-anon', upstream, { 'key-auth': { query: 'apikey', hide_credentials: true, anonymous_consumer: 'visitor' } });
      const raw = await rawRequest(gw.url, 'GET /hide-anon?apikey=wrong&y=2 HTTP/1.1\r\nHost: t\r\napikey: wrong-1\r\nApiKey: wrong-2\r\nConnection: close\r\n\r\n');
      const seen = JSON.parse(parseRawResponse(raw).body) as { url: string; headers: Record<string, string> };
      expect(seen.headers['x-consumer-username']).to.equal('visitor');
      expect(seen.headers).to.not.have.property('apikey');
      expect(seen.url).to.equal('/hide-anon?y=2');
    });

    it('follows consumer changes: a new key works, a removed consumer does not', async () => {
      await putConsumer(gw, 'temp', { 'key-auth': { key: 'temp-key-1' } });
      expect((await gw.get('/protected', { apikey: 'temp-key-1' })).status).to.equal(200);
      await putConsumer(gw, 'temp', { 'key-auth': { key: 'temp-key-2' } });
      expect((await gw.get('/protected', { apikey: 'temp-key-1' })).status).to.equal(401);
      expect((await gw.get('/protected', { apikey: 'temp-key-2' })).status).to.equal(200);
      await gw.admin('DELETE', '/consumers/temp');
      expect((await gw.get('/protected', { apikey: 'temp-key-2' })).status).to.equal(401);
    });

    it('resolves a key written as a secret reference ($env://NAME, APISIX key-auth.t TEST 26, 27), keeping the reference stored', async () => {
      process.env.TOLLGATE_TEST_KEYAUTH_SECRET = 'env-held-key';
      process.env.TOLLGATE_TEST_KEYAUTH_JSON = JSON.stringify({ key: 'json-held-key' });
      try {
        expect((await putConsumer(gw, 'env-user', { 'key-auth': { key: '$env://TOLLGATE_TEST_KEYAUTH_SECRET' } })).status).to.equal(201);
        expect((await putConsumer(gw, 'json-user', { 'key-auth': { key: '$env://TOLLGATE_TEST_KEYAUTH_JSON/key' } })).status).to.equal(201);
        const res = await gw.get('/protected', { apikey: 'env-held-key' });
        expect(res.status).to.equal(200);
        expect(res.json.headers['x-consumer-username']).to.equal('env-user');
        expect((await gw.get('/protected', { apikey: 'json-held-key' })).json.headers['x-consumer-username']).to.equal('json-user');
        // The reference is what was written, and what the Admin API answers.
        expect((await gw.admin('GET', '/consumers/env-user')).json.value.plugins['key-auth'].key).to.equal('$env://TOLLGATE_TEST_KEYAUTH_SECRET');
        expect((await gw.get('/protected', { apikey: '$env://TOLLGATE_TEST_KEYAUTH_SECRET' })).status).to.equal(401);
      } finally {
        delete process.env.TOLLGATE_TEST_KEYAUTH_SECRET;
        delete process.env.TOLLGATE_TEST_KEYAUTH_JSON;
        await gw.admin('DELETE', '/consumers/env-user');
        await gw.admin('DELETE', '/consumers/json-user');
      }
    });

    it('never takes the text of a reference that does not resolve as a key (APISIX key-auth.t TEST 33, 34)', async () => {
      try {
        expect((await putConsumer(gw, 'unset-user', { 'key-auth': { key: '$env://TOLLGATE_TEST_KEYAUTH_UNSET' } })).status).to.equal(201);
        expect((await putConsumer(gw, 'vault-user', { 'key-auth': { key: '$secret://vault/keys/one' } })).status).to.equal(201);
        for (const literal of ['$env://TOLLGATE_TEST_KEYAUTH_UNSET', '$secret://vault/keys/one']) {
          const res = await gw.get('/protected', { apikey: literal });
          expect(res.status, literal).to.equal(401);
          expect(res.json).to.deep.equal({ message: 'Invalid API key in request' });
        }
        expect(gw.logs.some((line) => line.includes('environment variable TOLLGATE_TEST_KEYAUTH_UNSET'))).to.equal(true);
        // The others still authenticate.
        expect((await gw.get('/protected', { apikey: 'jack-secret-key' })).status).to.equal(200);
      } finally {
        await gw.admin('DELETE', '/consumers/unset-user');
        await gw.admin('DELETE', '/consumers/vault-user');
      }
    });

    it('falls back to the anonymous consumer when one is configured', async () => {
      await putConsumer(gw, 'guest', {});
      await putRoute(gw, 'anon', '/anon', upstream, { 'key-auth': { anonymous_consumer: 'guest' } });
      expect((await gw.get('/anon')).json.headers['x-consumer-username']).to.equal('guest');
      expect((await gw.get('/anon', { apikey: 'jack-secret-key' })).json.headers['x-consumer-username']).to.equal('jack');
      await putRoute(gw, 'anon-missing', '/anon-missing', upstream, { 'key-auth': { anonymous_consumer: 'nobody' } });
      const res = await gw.get('/anon-missing');
      expect(res.status).to.equal(401);
      expect(res.json).to.deep.equal({ message: 'Invalid user authorization' });
    });
  });

  describe('rejections', () => {
    it('answers 401 with APISIX messages and a challenge, without calling the upstream', async () => {
      const seen = upstream.seen.length;
      const missing = await gw.get('/protected');
      expect(missing.status).to.equal(401);
      expect(missing.json).to.deep.equal({ message: 'Missing API key in request' });
      expect(missing.headers['www-authenticate']).to.equal('apikey realm="key"');
      const wrong = await gw.get('/protected', { apikey: 'jack-secret-kez' });
      expect(wrong.status).to.equal(401);
      expect(wrong.json).to.deep.equal({ message: 'Invalid API key in request' });
      expect((await gw.get('/protected', { apikey: '' })).json.message).to.equal('Missing API key in request');
      expect(upstream.seen.length).to.equal(seen);
    });

    it('never writes a key to the log', async () => {
      await gw.get('/protected', { apikey: 'wrong-secret-in-flight' });
      await putConsumer(gw, 'logged', { 'key-auth': { key: 'written-secret-key' } });
      const logs = gw.logs.join('\n');
      expect(logs).to.not.include('wrong-secret-in-flight');
      expect(logs).to.not.include('written-secret-key');
      expect(logs).to.not.include('jack-secret-key');
    });
  });
});
