/**
 * openid-connect as an OAuth resource server, against a real authorization server (oidc-provider
 * on a free port) and a real upstream: tokens the server issues through its login and consent
 * pages, tokens the test signs with the server's key for what a real server never issues, JWKS
 * rotation, the server going down, and RFC 7662 introspection with every client auth method.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK } from 'jose';
import { INTROSPECTION_CLIENTS, startAuthorizationServer, type TestAuthorizationServer } from '../helpers/authorization-server.js';
import { startTestGateway, type HttpResult, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putRoute, sleep } from './support.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';
const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const challengeOf = (res: HttpResult) => String(res.headers['www-authenticate'] ?? '');

describe('plugin openid-connect', function () {
  this.timeout(30_000);
  let as: TestAuthorizationServer;
  let gw: TestGateway;
  let upstream: TestUpstream;
  let api: string;
  let metadataUrl: string;

  /** The route config every JWKS route starts from. */
  const jwks = (extra: Record<string, unknown> = {}) => ({ discovery: as.discovery, use_jwks: true, resource: api, jwk_min_refresh_interval: 1, ...extra });
  const token = (claims: Record<string, unknown> = {}, options?: Parameters<TestAuthorizationServer['mint']>[1]) => as.mint({ sub: 'alice', aud: api, ...claims }, options);

  before(async () => {
    as = await startAuthorizationServer();
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { admin: { keys: [{ name: 'ro', key: VIEWER_KEY, role: 'viewer' }] } } });
    api = `${gw.url}/api`;
    metadataUrl = `${gw.url}/.well-known/oauth-protected-resource/api`;
    as.resources.set(api, { scope: 'api:read api:write', format: 'jwt' });
    as.resources.set(`${gw.url}/other`, { scope: 'api:read', format: 'jwt' });
    as.resources.set(`${gw.url}/opaque`, { scope: 'api:read api:write', format: 'opaque' });
    expect((await putRoute(gw, 'api', '/api/*', upstream, { 'openid-connect': jwks({ scopes_supported: ['api:read', 'api:write'], resource_name: 'Orders API' }) })).status).to.equal(201);
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    await as.close();
  });

  describe('schema', () => {
    const refusedWith = async (conf: Record<string, unknown>) => (await putRoute(gw, 'refused', '/refused', upstream, { 'openid-connect': conf })).json.error_msg as string;

    it('refuses configs that could not check a token properly, saying why', async () => {
      expect(await refusedWith({ discovery: as.discovery, use_jwks: true })).to.match(/must be checked to be for this route \(RFC 8707\)/);
      expect(await refusedWith({ ...jwks(), bearer_only: false })).to.match(/bearer_only: false .* is not supported/);
      expect(await refusedWith({ discovery: as.discovery, resource: api })).to.match(/introspection .* needs client_id/);
      expect(await refusedWith({ discovery: as.discovery, resource: api, client_id: 'x' })).to.match(/client_secret_basic needs client_secret/);
      expect(await refusedWith({ ...jwks(), token_signing_alg_values_expected: 'none' })).to.match(/token_signing_alg_values_expected/);
      expect(await refusedWith({ ...jwks(), token_signing_alg_values_expected: 'HS256' })).to.match(/token_signing_alg_values_expected/);
      expect(await refusedWith({ ...jwks(), public_key: 'not a pem' })).to.match(/public_key is not a valid PEM public key/);
      expect(await refusedWith({ ...jwks(), resource: 'https://gw.example.com/mcp?x=1' })).to.match(/resource/);
      expect(await refusedWith({ ...jwks(), session: { secret: 'x'.repeat(16) } })).to.match(/session/);
      expect((await gw.admin('GET', '/routes/refused')).status).to.equal(404);
    });

    it('masks the client secret and the assertion key for viewers', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const conf = { discovery: as.discovery, resource: `${gw.url}/opaque`, client_id: 'gw-basic', client_secret: 'very-secret-value', client_rsa_private_key: pem };
      expect((await putRoute(gw, 'masked', '/masked', upstream, { 'openid-connect': conf })).status).to.equal(201);
      const seen = await gw.admin('GET', '/routes/masked', undefined, VIEWER_KEY);
      expect(seen.json.value.plugins['openid-connect']).to.deep.include({ client_id: 'gw-basic', client_secret: '******', client_rsa_private_key: '******' });
      expect(seen.text).to.not.include('very-secret-value');
      await gw.admin('DELETE', '/routes/masked');
    });
  });

  describe('happy path', () => {
    it('accepts a token the authorization server issued for this resource; the upstream never sees it', async () => {
      const issued = await as.issueToken({ sub: 'alice', resource: api, scope: 'api:read' });
      const res = await gw.get('/api/orders', { ...bearer(issued), 'x-userinfo': 'forged', 'x-access-token': 'forged' });
      expect(res.status, res.text).to.equal(200);
      const seen = res.json.headers;
      expect(seen['x-consumer-username']).to.equal('alice');
      expect(seen.authorization).to.equal(undefined);
      expect(seen['x-access-token']).to.equal(undefined);
      const userinfo = JSON.parse(Buffer.from(seen['x-userinfo'], 'base64').toString());
      expect(userinfo).to.deep.include({ sub: 'alice', aud: api, scope: 'api:read', iss: as.issuer });
    });

    it('hands the token to the upstream only when the route says so', async () => {
      await putRoute(gw, 'passes', '/passes', upstream, { 'openid-connect': jwks({ set_access_token_header: true, set_userinfo_header: false }) });
      const t = await token();
      const res = await gw.get('/passes', bearer(t));
      expect(res.json.headers['x-access-token']).to.equal(t);
      expect(res.json.headers.authorization).to.equal(undefined);
      expect(res.json.headers['x-userinfo']).to.equal(undefined);
      await putRoute(gw, 'passes', '/passes', upstream, { 'openid-connect': jwks({ set_access_token_header: true, access_token_in_authorization_header: true }) });
      expect((await gw.get('/passes', bearer(t))).json.headers.authorization).to.equal(`Bearer ${t}`);
      await gw.admin('DELETE', '/routes/passes');
    });

    it('makes the token claim a consumer: a catalog consumer with its plugins, or a name for limits', async () => {
      await gw.admin('PUT', '/consumers', { username: 'carol', plugins: { 'limit-count': { count: 1, time_window: 60, rejected_code: 429 } } });
      await putRoute(gw, 'quota', '/quota', upstream, {
        'openid-connect': jwks(),
        'limit-count': { count: 2, time_window: 60, key_type: 'var', key: 'consumer_name', rejected_code: 429 },
      });
      const statuses = async (sub: string) => {
        const t = await token({ sub });
        const out: number[] = [];
        for (let i = 0; i < 3; i++) out.push((await gw.get('/quota', bearer(t))).status);
        return out;
      };
      // carol's own quota (1) replaces the route's; dave and erin, no catalog consumers, count apart.
      expect(await statuses('carol')).to.deep.equal([200, 429, 429]);
      expect(await statuses('dave')).to.deep.equal([200, 200, 429]);
      expect(await statuses('erin')).to.deep.equal([200, 200, 429]);
      await putRoute(gw, 'quota', '/quota', upstream, { 'openid-connect': jwks({ consumer_claim: 'client_id' }) });
      const res = await gw.get('/quota', bearer(await token({ sub: 'frank', client_id: 'billing-app' })));
      expect(res.json.headers['x-consumer-username']).to.equal('billing-app');
      const nameless = await gw.get('/quota', bearer(await token({ client_id: 'bad\u0001name' })));
      expect(nameless.status).to.equal(401);
      expect(nameless.json.error_description).to.equal('the token has no client_id claim that can name a consumer');
      await gw.admin('DELETE', '/routes/quota');
      await gw.admin('DELETE', '/consumers/carol');
    });

    it('accepts tokens signed with a configured public key, and Entra-style audiences by client id', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const { SignJWT } = await import('jose');
      const signed = (claims: Record<string, unknown>) =>
        new SignJWT({ sub: 'gina', ...claims }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://login.example.com/tenant/v2.0').setExpirationTime('5m').sign(privateKey);
      await putRoute(gw, 'pem', '/pem', upstream, {
        'openid-connect': {
          discovery: as.discovery,
          public_key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          client_id: '6f1c0c1e-app',
          claim_validator: { issuer: { valid_issuers: ['https://login.example.com/tenant/v2.0'] }, audience: { match_with_client_id: true } },
        },
      });
      expect((await gw.get('/pem', bearer(await signed({ aud: '6f1c0c1e-app' })))).status).to.equal(200);
      expect((await gw.get('/pem', bearer(await signed({ aud: 'another-app' })))).status).to.equal(401);
      await gw.admin('DELETE', '/routes/pem');
    });
  });

  describe('protected resource metadata (RFC 9728)', () => {
    it('serves the document at the path form and the root form, for browsers too', async () => {
      const expected = {
        resource: api,
        authorization_servers: [as.issuer],
        scopes_supported: ['api:read', 'api:write'],
        bearer_methods_supported: ['header'],
        resource_name: 'Orders API',
      };
      for (const path of ['/.well-known/oauth-protected-resource/api', '/.well-known/oauth-protected-resource']) {
        const res = await gw.get(path);
        expect(res.status, path).to.equal(200);
        expect(res.json).to.deep.equal(expected);
        expect(res.headers['access-control-allow-origin']).to.equal('*');
      }
      const preflight = await gw.request('OPTIONS', '/.well-known/oauth-protected-resource/api', undefined, { origin: 'http://app.example', 'access-control-request-method': 'GET' });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers['access-control-allow-headers']).to.equal('mcp-protocol-version');
      const post = await gw.request('POST', '/.well-known/oauth-protected-resource/api', {});
      expect(post.status).to.equal(405);
      expect(post.headers.allow).to.equal('GET, HEAD, OPTIONS');
      expect((await gw.get('/.well-known/oauth-protected-resource/nothing-here')).status).to.equal(404);
      // A catch-all route does not shadow the metadata (an exact path wins), nor the metadata it.
      await putRoute(gw, 'catch-all', '/*', upstream, {});
      expect((await gw.get('/.well-known/oauth-protected-resource/api')).json.resource).to.equal(api);
      expect((await gw.get('/.well-known/oauth-protected-resource/nothing-here')).json.upstream).to.equal('upstream');
      await gw.admin('DELETE', '/routes/catch-all');
    });

    it('answers the root form only while one resource of the origin is protected', async () => {
      await putRoute(gw, 'second', '/second/*', upstream, { 'openid-connect': jwks({ resource: `${gw.url}/second` }) });
      const root = await gw.get('/.well-known/oauth-protected-resource');
      expect(root.status).to.equal(404);
      expect(root.json.error_msg).to.match(/several protected resources share this origin/);
      expect((await gw.get('/.well-known/oauth-protected-resource/second')).json.resource).to.equal(`${gw.url}/second`);
      await gw.admin('DELETE', '/routes/second');
      expect((await gw.get('/.well-known/oauth-protected-resource')).json.resource).to.equal(api);
    });
  });

  describe('rejections', () => {
    it('401 without a token: a challenge naming the metadata, no error code, and a JSON body', async () => {
      for (const headers of [{}, { authorization: 'Basic YWxpY2U6c2VjcmV0' }] as Array<Record<string, string>>) {
        const res = await gw.get('/api/orders', headers);
        expect(res.status).to.equal(401);
        expect(challengeOf(res)).to.equal(`Bearer realm="tollgate", scope="api:read api:write", resource_metadata="${metadataUrl}"`);
        expect(res.json).to.deep.include({ error_description: 'this resource needs an OAuth bearer access token (Authorization: Bearer <token>)', resource_metadata: metadataUrl });
        expect(res.json.request_id).to.be.a('string');
        expect(upstream.seen.filter((r) => r.headers.authorization?.startsWith('Basic'))).to.have.length(0);
      }
      const inQuery = await gw.get(`/api/orders?access_token=${await token()}`);
      expect(inQuery.status).to.equal(401);
      expect(inQuery.json.error_description).to.match(/query string are not accepted/);
    });

    it('400 for an Authorization header that is not a bearer token', async () => {
      for (const authorization of ['Bearer', 'Bearer two words', 'Bearer ünïcode']) {
        const res = await gw.get('/api/orders', { authorization });
        expect(res.status, authorization).to.equal(400);
        expect(challengeOf(res)).to.include('error="invalid_request"');
        expect(res.json.error).to.equal('invalid_request');
      }
    });

    it('401 invalid_token for every token that is not good for this resource, saying why', async () => {
      const other = await as.issueToken({ sub: 'alice', resource: `${gw.url}/other`, scope: 'api:read' });
      const [header, payload] = (await token()).split('.');
      const cases: Array<[string, string, RegExp]> = [
        ['expired', await token({ exp: now() - 120 }), /the token has expired/],
        ['not yet valid', await token({ nbf: now() + 600 }), /not valid yet/],
        ['wrong issuer', await token({ iss: 'https://evil.example.com' }), /issuer this route does not trust/],
        ['issued for another resource', other, /issued for another resource/],
        ['no audience', await as.mint({ sub: 'alice' }), /names no audience/],
        ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`, /alg none/],
        ['HS256', `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: as.kid })).toString('base64url')}.${payload}.c2ln`, /HS256 are not accepted/],
        ['a key the issuer never published', await token({}, { key: 'stranger' }), /no signing key of the issuer matches/],
        ['a forged signature', `${header}.${Buffer.from(JSON.stringify({ sub: 'mallory', aud: api, iss: as.issuer, exp: now() + 60 })).toString('base64url')}.${(await token()).split('.')[2]}`, /signature is invalid/],
        ['not a JWT', 'opaque-looking-token', /not a JWT/],
        // jose accepts a JWT without exp unless told to require one.
        ['without expiry', await as.mint({ sub: 'alice', aud: api, exp: null }), /has no expiry/],
        ['sender-constrained', await token({ cnf: { jkt: 'abc' } }), /sender-constrained/],
      ];
      for (const [what, t, reason] of cases) {
        const res = await gw.get('/api/orders', bearer(t));
        expect(res.status, what).to.equal(401);
        expect(res.json.error, what).to.equal('invalid_token');
        expect(res.json.error_description, what).to.match(reason);
        expect(challengeOf(res), what).to.match(new RegExp(`^Bearer realm="tollgate", error="invalid_token", error_description="[^"]+", scope="api:read api:write", resource_metadata="${metadataUrl}"$`));
      }
    });

    it('403 insufficient_scope naming every scope the route needs', async () => {
      await putRoute(gw, 'writes', '/writes', upstream, { 'openid-connect': jwks({ required_scopes: ['api:read', 'api:write'] }) });
      const readOnly = await as.issueToken({ sub: 'alice', resource: api, scope: 'api:read' });
      const res = await gw.get('/writes', bearer(readOnly));
      expect(res.status).to.equal(403);
      expect(challengeOf(res)).to.equal(
        `Bearer realm="tollgate", error="insufficient_scope", error_description="the token lacks the scope api:write", scope="api:read api:write", resource_metadata="${metadataUrl}"`,
      );
      expect(res.json).to.deep.include({ error: 'insufficient_scope', scope: 'api:read api:write' });
      const both = await as.issueToken({ sub: 'alice', resource: api, scope: 'api:read api:write' });
      expect((await gw.get('/writes', bearer(both))).status).to.equal(200);
      // Without a token the challenge already says what to ask for (MCP clients request these).
      expect(challengeOf(await gw.get('/writes'))).to.include('scope="api:read api:write"');
      await gw.admin('DELETE', '/routes/writes');
    });

    it('refuses algorithms the route does not list', async () => {
      await putRoute(gw, 'rs-only', '/rs-only', upstream, { 'openid-connect': jwks({ token_signing_alg_values_expected: 'RS256' }) });
      const res = await gw.get('/rs-only', bearer(await token()));
      expect(res.status).to.equal(401);
      expect(res.json.error_description).to.equal('tokens signed with ES256 are not accepted here');
      await gw.admin('DELETE', '/routes/rs-only');
    });
  });

  describe('faults', () => {
    it('fetches a rotated key once, and a storm of unknown kids costs at most one more fetch', async () => {
      const before = as.hits('/jwks');
      expect((await gw.get('/api/x', bearer(await token()))).status).to.equal(200);
      await sleep(1100);
      await as.rotate();
      const rotated = await token();
      expect((await gw.get('/api/x', bearer(rotated))).status).to.equal(200);
      expect((await gw.get('/api/x', bearer(rotated))).status).to.equal(200);
      const afterRotation = as.hits('/jwks');
      expect(afterRotation - before).to.equal(1);
      const storm = await Promise.all(
        Array.from({ length: 30 }, async (_, i) => (await gw.get('/api/x', bearer(await token({}, { header: { kid: `made-up-${i}` } })))).status),
      );
      expect(storm.every((s) => s === 401)).to.equal(true);
      expect(as.hits('/jwks') - afterRotation).to.be.at.most(1);
    });

    it('keeps serving with cached keys while the issuer is down; with none, 503 and nothing passes', async () => {
      const t = await token();
      expect((await gw.get('/api/x', bearer(t))).status).to.equal(200);
      // A route with other settings has a server entry of its own, with no keys yet.
      await putRoute(gw, 'cold', '/cold', upstream, { 'openid-connect': jwks({ jwk_min_refresh_interval: 2 }) });
      await as.stop();
      try {
        expect((await gw.get('/api/x', bearer(t))).status).to.equal(200);
        // A key the cached set lacks cannot be looked up now: refused, not waved through, not a 503.
        await sleep(1100);
        const unknownKid = await gw.get('/api/x', bearer(await token({}, { header: { kid: 'rotated-while-down' } })));
        expect(unknownKid.status).to.equal(401);
        expect(unknownKid.json.error_description).to.match(/no signing key of the issuer matches/);
        const cold = await gw.get('/cold', bearer(t));
        expect(cold.status).to.equal(503);
        expect(cold.json).to.deep.include({ error: 'temporarily_unavailable' });
        expect(cold.json.error_msg).to.match(/authorization server is unavailable/);
        expect(cold.headers['retry-after']).to.equal('2');
        expect((await gw.get('/cold')).status).to.equal(401);
      } finally {
        await as.start();
      }
      await sleep(2100);
      expect((await gw.get('/cold', bearer(t))).status).to.equal(200);
      await gw.admin('DELETE', '/routes/cold');
    });
  });

  describe('introspection (RFC 7662)', () => {
    const opaque = () => `${gw.url}/opaque`;
    const introspected = (client: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      'openid-connect': { discovery: as.discovery, resource: opaque(), ...client, ...extra },
    });

    it('accepts an active opaque token with each client authentication method', async () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      await as.addPrivateKeyJwtClient('gw-pkjwt', { ...(await exportJWK(publicKey)), kid: 'gw-key-1' });
      const configs: Array<[string, Record<string, unknown>]> = [
        ['client_secret_basic', { ...INTROSPECTION_CLIENTS.basic }],
        ['client_secret_post', { ...INTROSPECTION_CLIENTS.post, introspection_endpoint_auth_method: 'client_secret_post' }],
        ['client_secret_jwt', { ...INTROSPECTION_CLIENTS.jwt, introspection_endpoint_auth_method: 'client_secret_jwt' }],
        [
          'private_key_jwt',
          { client_id: 'gw-pkjwt', introspection_endpoint_auth_method: 'private_key_jwt', client_rsa_private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), client_rsa_private_key_id: 'gw-key-1' },
        ],
      ];
      const t = await as.issueToken({ sub: 'ivan', resource: opaque(), scope: 'api:read' });
      expect(t.split('.')).to.have.length(1);
      for (const [method, client] of configs) {
        await putRoute(gw, 'opaque', '/opaque', upstream, introspected(client));
        const before = as.hits('/token/introspection');
        const res = await gw.get('/opaque', bearer(t));
        expect(res.status, `${method}: ${res.text}`).to.equal(200);
        expect(res.json.headers['x-consumer-username']).to.equal('ivan');
        expect(as.hits('/token/introspection') - before, method).to.equal(1);
        // The answer is reused (no second call) until the token's exp.
        expect((await gw.get('/opaque', bearer(t))).status).to.equal(200);
        expect(as.hits('/token/introspection') - before, method).to.equal(1);
      }
      // A new token arriving on several requests at once is introspected once.
      const fresh = await as.issueToken({ sub: 'judy', resource: opaque(), scope: 'api:read' });
      const before = as.hits('/token/introspection');
      const statuses = await Promise.all(Array.from({ length: 8 }, async () => (await gw.get('/opaque', bearer(fresh))).status));
      expect(statuses.every((s) => s === 200)).to.equal(true);
      expect(as.hits('/token/introspection') - before).to.equal(1);
    });

    it('refuses inactive tokens, other resources\' tokens and missing scopes; 503 when introspection fails', async () => {
      await putRoute(gw, 'opaque', '/opaque', upstream, introspected({ ...INTROSPECTION_CLIENTS.basic }, { required_scopes: ['api:write'] }));
      const unknown = await gw.get('/opaque', bearer('not-a-token-the-server-knows'));
      expect(unknown.status).to.equal(401);
      expect(unknown.json.error_description).to.match(/not active/);
      as.resources.set(`${gw.url}/opaque-other`, { scope: 'api:read api:write', format: 'opaque' });
      const elsewhere = await as.issueToken({ sub: 'ivan', resource: `${gw.url}/opaque-other`, scope: 'api:write' });
      expect((await gw.get('/opaque', bearer(elsewhere))).json.error_description).to.match(/issued for another resource/);
      const readOnly = await as.issueToken({ sub: 'ivan', resource: opaque(), scope: 'api:read' });
      expect((await gw.get('/opaque', bearer(readOnly))).status).to.equal(403);
      await putRoute(gw, 'opaque', '/opaque', upstream, introspected({ client_id: 'gw-basic', client_secret: 'wrong-secret' }));
      const badClient = await gw.get('/opaque', bearer(readOnly));
      expect(badClient.status).to.equal(503);
      expect(badClient.json.error).to.equal('temporarily_unavailable');
      await gw.admin('DELETE', '/routes/opaque');
    });
  });
});
