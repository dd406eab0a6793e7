import { expect } from 'chai';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putConsumer, putRoute } from './support.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';
const SECRET = 'jack-hmac-secret-0123456789';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = (key: { export(o: object): string | Buffer }, type: 'spki' | 'pkcs8') => key.export({ type, format: 'pem' }).toString();
const RSA_PUBLIC = pem(rsa.publicKey, 'spki');
const EC_PUBLIC = pem(ec.publicKey, 'spki');

const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('plugin jwt-auth', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { admin: { keys: [{ name: 'ro', key: VIEWER_KEY, role: 'viewer' }] } } });
    await putConsumer(gw, 'jack', { 'jwt-auth': { key: 'jack-key', secret: SECRET } });
    await putConsumer(gw, 'hs512', { 'jwt-auth': { key: 'hs512-key', secret: 'aGVsbG8gd29ybGQgc2VjcmV0', base64_secret: true, algorithm: 'HS512' } });
    await putConsumer(gw, 'rsa', { 'jwt-auth': { key: 'rsa-key', public_key: RSA_PUBLIC, algorithm: 'RS256' } });
    await putConsumer(gw, 'ec', { 'jwt-auth': { key: 'ec-key', public_key: EC_PUBLIC, algorithm: 'ES256', lifetime_grace_period: 30 } });
    await putRoute(gw, 'jwt', '/jwt', upstream, { 'jwt-auth': {} });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  describe('schema', () => {
    it('stores configs as sent; defaults (the route\'s header, the consumer\'s algorithm) apply when they are used', async () => {
      expect((await gw.admin('GET', '/routes/jwt')).json.value.plugins['jwt-auth']).to.deep.equal({});
      expect((await gw.admin('GET', '/consumers/jack')).json.value.plugins['jwt-auth']).to.deep.equal({ key: 'jack-key', secret: SECRET });
      const token = jwt.sign({ key: 'jack-key', exp: Math.floor(Date.now() / 1000) + 60 }, SECRET, { algorithm: 'HS256' });
      expect((await gw.get('/jwt', { authorization: `Bearer ${token}` })).status).to.equal(200);
    });

    it('refuses a consumer that could never verify a token, saying why', async () => {
      const error = async (conf: unknown) => (await putConsumer(gw, 'broken', { 'jwt-auth': conf })).json.error_msg as string;
      expect(await error({ secret: SECRET })).to.match(/\/key.*required/);
      expect(await error({ key: 'k1' })).to.match(/\/secret.*required/);
      expect(await error({ key: 'k1', algorithm: 'RS256', secret: SECRET })).to.match(/\/public_key.*required/);
      expect(await error({ key: 'k1', algorithm: 'RS256', public_key: 'not a pem' })).to.match(/public_key is not a valid PEM public key/);
      expect(await error({ key: 'k1', algorithm: 'ES256', public_key: RSA_PUBLIC })).to.match(/public_key is a rsa key; ES256 needs ec/);
      expect(await error({ key: 'k1', algorithm: 'none', secret: SECRET })).to.match(/\/algorithm/);
      // Not base64 (APISIX jwt-auth.t TEST 42): Node would decode it to some bytes all the same.
      for (const secret of ['{^c0j4&]2!=J=', 'abc', 'aGVsbG8=x']) {
        expect(await error({ key: 'k1', secret, base64_secret: true }), secret).to.match(/base64_secret required but the secret is not in base64 format/);
      }
      expect((await gw.admin('GET', '/consumers/broken')).status).to.equal(404);
    });

    it('refuses a key another consumer holds, and masks secrets for viewers', async () => {
      const dup = await putConsumer(gw, 'copycat', { 'jwt-auth': { key: 'jack-key', secret: 'other' } });
      expect(dup.json.error_msg).to.equal('duplicate key of plugin jwt-auth found with consumer: jack');
      const seen = await gw.admin('GET', '/consumers/jack', undefined, VIEWER_KEY);
      expect(seen.json.value.plugins['jwt-auth']).to.deep.include({ key: 'jack-key', secret: '******' });
      expect((await gw.admin('GET', '/consumers', undefined, VIEWER_KEY)).text).to.not.include(SECRET);
    });
  });

  describe('happy path', () => {
    it('accepts HS256, HS512 (base64 secret), RS256 and ES256 tokens and names the consumer upstream', async () => {
      const tokens: Array<[string, string]> = [
        ['jack', jwt.sign({ key: 'jack-key', exp: now() + 60 }, SECRET)],
        ['hs512', jwt.sign({ key: 'hs512-key' }, Buffer.from('aGVsbG8gd29ybGQgc2VjcmV0', 'base64'), { algorithm: 'HS512' })],
        ['rsa', jwt.sign({ key: 'rsa-key' }, rsa.privateKey, { algorithm: 'RS256', expiresIn: 60 })],
        ['ec', jwt.sign({ key: 'ec-key' }, ec.privateKey, { algorithm: 'ES256', expiresIn: 60 })],
      ];
      for (const [consumer, token] of tokens) {
        const res = await gw.get('/jwt', { ...bearer(token), 'x-consumer-username': 'admin' });
        expect(res.status, consumer).to.equal(200);
        expect(res.json.headers['x-consumer-username']).to.equal(consumer);
      }
    });

    it('reads the token from the header (with or without Bearer), then ?jwt=, then the jwt cookie', async () => {
      const token = jwt.sign({ key: 'jack-key' }, SECRET);
      expect((await gw.get('/jwt', { authorization: token })).status).to.equal(200);
      expect((await gw.get('/jwt', { authorization: `bearer ${token}` })).status).to.equal(200);
      expect((await gw.get(`/jwt?jwt=${token}`)).status).to.equal(200);
      expect((await gw.get('/jwt', { cookie: `theme=dark; jwt=${token}` })).status).to.equal(200);
    });

    it('hides the token from the upstream when asked, leaving other cookies and parameters', async () => {
      await putRoute(gw, 'hide', '/hide', upstream, { 'jwt-auth': { hide_credentials: true } });
      const token = jwt.sign({ key: 'jack-key' }, SECRET);
      expect((await gw.get('/hide', bearer(token))).json.headers).to.not.have.property('authorization');
      expect((await gw.get(`/hide?a=1&jwt=${token}`)).json.url).to.equal('/hide?a=1');
      expect((await gw.get('/hide', { cookie: `theme=dark; jwt=${token}; lang=en` })).json.headers.cookie).to.equal('theme=dark; lang=en');
    });

    it('hides every copy of the token: every header line, query parameter and cookie, on the anonymous fallback too', async () => {
      const send = (path: string, token: string) =>
        rawRequest(
          gw.url,
          `GET ${path}?jwt=${token}&a=1&jwt=copy HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer other\r\n` +
            `Cookie: theme=dark; jwt=${token}\r\nCookie: jwt=again; lang=en\r\nConnection: close\r\n\r\n`,
        ).then((raw) => JSON.parse(parseRawResponse(raw).body) as { url: string; headers: Record<string, string> });
      const seen = await send('/hide', jwt.sign({ key: 'jack-key' }, SECRET));
      expect(seen.headers['x-consumer-username']).to.equal('jack');
      expect(seen.headers).to.not.have.property('authorization');
      expect(seen.url).to.equal('/hide?a=1');
      expect(seen.headers.cookie).to.equal('theme=dark; lang=en');
      // A token that fails falls back to the anonymous consumer, and is hidden as well.
      await putConsumer(gw, 'visitor', {});
      await putRoute(gw, 'hide-anon', '/hide-anon', upstream, { 'jwt-auth': { hide_credentials: true, anonymous_consumer: 'visitor' } });
      const anonymous = await send('/hide-anon', jwt.sign({ key: 'jack-key' }, 'not-the-secret'));
      expect(anonymous.headers['x-consumer-username']).to.equal('visitor');
      expect(anonymous.headers).to.not.have.property('authorization');
      expect(anonymous.url).to.equal('/hide-anon?a=1');
      expect(anonymous.headers.cookie).to.equal('theme=dark; lang=en');
    });

    it('checks exp and nbf present in a token when claims_to_verify is empty, as when it is unset (APISIX 3.17)', async () => {
      await putRoute(gw, 'noclaims', '/noclaims', upstream, { 'jwt-auth': { claims_to_verify: [] } });
      const get = (payload: Record<string, unknown>) => gw.get('/noclaims', bearer(jwt.sign({ key: 'jack-key', ...payload }, SECRET)));
      const expired = await get({ exp: now() - 5 });
      expect(expired.status).to.equal(401);
      expect(expired.json.message).to.match(/^'exp' claim expired at /);
      expect((await get({ nbf: now() + 300 })).json.message).to.match(/^'nbf' claim not valid until /);
      // jsonwebtoken will not sign a string `exp`; signed by hand, it is refused rather than skipped.
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ key: 'jack-key', exp: 'tomorrow' })}`;
      const stringExp = `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
      expect((await gw.get('/noclaims', bearer(stringExp))).status).to.equal(401);
      expect((await get({})).status).to.equal(200);
      expect((await get({ exp: now() + 60, nbf: now() - 60 })).status).to.equal(200);
      // A token this gateway verified before (its cache) is held to the same rule.
      const once = jwt.sign({ key: 'jack-key', exp: now() + 1 }, SECRET);
      expect((await gw.get('/noclaims', bearer(once))).status).to.equal(200);
      expect(await waitFor(async () => (await gw.get('/noclaims', bearer(once))).status === 401, 4000, 100)).to.equal(true);
    });

    it('allows the consumer lifetime_grace_period of clock skew, and skips claims not verified', async () => {
      const late = jwt.sign({ key: 'ec-key', exp: now() - 10 }, ec.privateKey, { algorithm: 'ES256' });
      expect((await gw.get('/jwt', bearer(late))).status).to.equal(200);
      const expired = jwt.sign({ key: 'jack-key', exp: now() - 10 }, SECRET);
      expect((await gw.get('/jwt', bearer(expired))).status).to.equal(401);
      await putRoute(gw, 'noexp', '/noexp', upstream, { 'jwt-auth': { claims_to_verify: ['nbf'] } });
      expect((await gw.get('/noexp', bearer(expired))).status).to.equal(200);
    });

    it('finds the consumer by another claim when key_claim_name says so', async () => {
      await putRoute(gw, 'claim', '/claim', upstream, { 'jwt-auth': { key_claim_name: 'iss' } });
      expect((await gw.get('/claim', bearer(jwt.sign({ iss: 'jack-key' }, SECRET)))).json.headers['x-consumer-username']).to.equal('jack');
    });
  });

  describe('rejections', () => {
    const reject = async (headers: Record<string, string>, message: string | RegExp) => {
      const seen = upstream.seen.length;
      const res = await gw.get('/jwt', headers);
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="jwt"');
      if (typeof message === 'string') expect(res.json).to.deep.equal({ message });
      else expect(res.json.message).to.match(message);
      expect(upstream.seen.length).to.equal(seen);
      expect(res.text).to.not.include(SECRET);
      return res;
    };

    it('names what is wrong with the token: missing, malformed, no key, unknown key', async () => {
      await reject({}, 'Missing JWT token in request');
      await reject(bearer('not.a.token'), 'JWT token invalid');
      await reject(bearer(jwt.sign({ sub: 'x' }, SECRET)), 'missing user key in JWT token');
      await reject(bearer(jwt.sign({ key: 'nobody' }, SECRET)), 'Invalid user key in JWT token');
    });

    it('refuses a bad signature, another algorithm and alg none with one message', async () => {
      await reject(bearer(jwt.sign({ key: 'jack-key' }, 'not-the-secret')), 'failed to verify jwt');
      await reject(bearer(jwt.sign({ key: 'jack-key' }, SECRET, { algorithm: 'HS384' })), 'failed to verify jwt');
      // Algorithm confusion: an HS256 token "signed" with the consumer's public key.
      await reject(bearer(jwt.sign({ key: 'rsa-key' }, RSA_PUBLIC, { algorithm: 'HS256' })), 'failed to verify jwt');
      const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"key":"jack-key"}').toString('base64url')}.`;
      await reject(bearer(none), 'failed to verify jwt');
    });

    it('refuses expired and not-yet-valid tokens', async () => {
      await reject(bearer(jwt.sign({ key: 'jack-key', exp: now() - 5 }, SECRET)), /^'exp' claim expired at /);
      await reject(bearer(jwt.sign({ key: 'jack-key', nbf: now() + 300 }, SECRET)), /^'nbf' claim not valid until /);
    });

    it('refuses a token with a critical header parameter it does not understand (RFC 7515 §4.1.11)', async () => {
      const header = (extra: Record<string, unknown>) => ({ alg: 'HS256', typ: 'JWT', ...extra }) as jwt.JwtHeader;
      await reject(bearer(jwt.sign({ key: 'jack-key' }, SECRET, { header: header({ crit: ['x-ext'], 'x-ext': true }) })), 'JWT token invalid: unsupported critical header parameter');
      await reject(bearer(jwt.sign({ key: 'jack-key' }, SECRET, { header: header({ crit: [] }) })), 'JWT token invalid: unsupported critical header parameter');
      await reject(bearer(jwt.sign({ key: 'jack-key' }, SECRET, { header: header({ crit: 'exp' }) })), 'JWT token invalid: unsupported critical header parameter');
      // Other unknown header parameters that are not critical are ignored, as the RFC says.
      expect((await gw.get('/jwt', bearer(jwt.sign({ key: 'jack-key' }, SECRET, { header: header({ kid: 'k1', 'x-note': 1 }) })))).status).to.equal(200);
    });

    it('stops accepting a consumer that was removed', async () => {
      await putConsumer(gw, 'gone', { 'jwt-auth': { key: 'gone-key', secret: 'gone-secret' } });
      const token = jwt.sign({ key: 'gone-key' }, 'gone-secret');
      expect((await gw.get('/jwt', bearer(token))).status).to.equal(200);
      await gw.admin('DELETE', '/consumers/gone');
      await reject(bearer(token), 'Invalid user key in JWT token');
    });

    it('re-checks a token it verified before: expiry, a rotated secret', async () => {
      const exp = now() + 2;
      const token = jwt.sign({ key: 'jack-key', exp }, SECRET);
      expect((await gw.get('/jwt', bearer(token))).status).to.equal(200);
      expect((await gw.get('/jwt', bearer(token))).status).to.equal(200);
      await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 100));
      await reject(bearer(token), /^'exp' claim expired at /);

      await putConsumer(gw, 'rotating', { 'jwt-auth': { key: 'rotating-key', secret: 'first-secret' } });
      const old = jwt.sign({ key: 'rotating-key' }, 'first-secret');
      expect((await gw.get('/jwt', bearer(old))).status).to.equal(200);
      await putConsumer(gw, 'rotating', { 'jwt-auth': { key: 'rotating-key', secret: 'second-secret' } });
      await reject(bearer(old), 'failed to verify jwt');
      expect((await gw.get('/jwt', bearer(jwt.sign({ key: 'rotating-key' }, 'second-secret')))).status).to.equal(200);
    });

    it('never writes a secret or token to the log', async () => {
      const token = jwt.sign({ key: 'jack-key' }, 'logged-wrong-secret');
      await gw.get('/jwt', bearer(token));
      const logs = gw.logs.join('\n');
      expect(logs).to.not.include(SECRET);
      expect(logs).to.not.include(token);
    });
  });
});
