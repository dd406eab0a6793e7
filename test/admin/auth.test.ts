/**
 * The Admin API can start processes (mcp-bridge), so it is never open: allow-listed socket
 * addresses only, a key in the X-API-KEY header only, viewers read-only.
 */
import { expect } from 'chai';
import { startTestGateway, http, TEST_ADMIN_KEY, type TestGateway } from '../helpers/gateway.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

describe('Admin API access', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({ overrides: { admin: { keys: [{ name: 'dashboard', key: VIEWER_KEY, role: 'viewer' }] } } });
  });
  after(() => gw.stop());

  const body = { uri: '/a', plugins: {} };

  it('refuses a missing key with 401 "missing apikey" and writes nothing', async () => {
    const res = await http('PUT', `${gw.adminUrl}/routes/a`, body);
    expect(res.status).to.equal(401);
    expect(res.json).to.deep.equal({ error_msg: 'failed to check token', description: 'missing apikey' });
    expect((await gw.admin('GET', '/routes/a')).status).to.equal(404);
  });

  it('refuses a wrong key, even one that differs only in its last byte, without echoing it', async () => {
    const almost = TEST_ADMIN_KEY.slice(0, -1) + (TEST_ADMIN_KEY.endsWith('f') ? 'e' : 'f');
    for (const key of ['nope', almost]) {
      const res = await gw.admin('PUT', '/routes/a', body, key);
      expect(res.status).to.equal(401);
      expect(res.json.description).to.equal('wrong apikey');
      expect(res.text).to.not.include(key);
    }
  });

  it('ignores a key sent in the query string or a cookie', async () => {
    const query = await http('GET', `${gw.adminUrl}/routes?api_key=${TEST_ADMIN_KEY}`);
    expect(query.status).to.equal(401);
    const cookie = await http('GET', `${gw.adminUrl}/routes`, undefined, { cookie: `x_api_key=${TEST_ADMIN_KEY}` });
    expect(cookie.status).to.equal(401);
  });

  it('lets a viewer read but not write', async () => {
    expect((await gw.admin('GET', '/routes', undefined, VIEWER_KEY)).status).to.equal(200);
    const write = await gw.admin('PUT', '/routes/a', body, VIEWER_KEY);
    expect(write.status).to.equal(401);
    expect(write.json.description).to.equal('invalid method for role viewer');
  });

  it('puts every Admin endpoint behind the key', async () => {
    const endpoints: Array<[string, string]> = [
      ['GET', '/routes'], ['GET', '/routes/1'], ['PUT', '/routes/1'], ['POST', '/routes'], ['PATCH', '/routes/1'], ['DELETE', '/routes/1'],
      ['GET', '/plugins/list'], ['GET', '/plugins/proxy-rewrite'], ['POST', '/schema/validate/routes'], ['GET', '/consumers'],
      ['PUT', '/plugin_metadata/request-id'], ['GET', '/nonexistent'],
    ];
    for (const [method, path] of endpoints) {
      const res = await http(method, gw.adminUrl + path, method === 'GET' || method === 'DELETE' ? undefined : body);
      expect(res.status, `${method} ${path}`).to.equal(401);
    }
  });

  it('is not reachable through the data plane', async () => {
    const res = await http('GET', `${gw.url}/apisix/admin/routes`, undefined, { 'x-api-key': TEST_ADMIN_KEY });
    expect(res.status).to.equal(404);
  });

  describe('CORS and HEAD, answered before the key as APISIX does (t/admin/api.t TEST 6, 7, 9)', () => {
    it('TEST 6: every reply carries the CORS headers, a refused one too', async () => {
      for (const res of [await gw.admin('GET', '/routes'), await http('GET', `${gw.adminUrl}/routes`)]) {
        expect(res.headers['access-control-allow-origin']).to.equal('*');
        expect(res.headers['access-control-allow-credentials']).to.equal('true');
        expect(res.headers['access-control-expose-headers']).to.equal('*');
        expect(res.headers['access-control-max-age']).to.equal('3600');
      }
    });

    it('a preflight is answered 200 without a key, with an empty body: it reveals and changes nothing', async () => {
      const res = await http('OPTIONS', `${gw.adminUrl}/routes/a`, undefined, { origin: 'https://console.example', 'access-control-request-method': 'PUT' });
      expect(res.status).to.equal(200);
      expect(res.text).to.equal('');
      expect(res.headers['access-control-allow-methods']).to.equal('POST, GET, PUT, OPTIONS, DELETE, PATCH');
      expect(res.headers['access-control-allow-headers']).to.equal('*');
      expect((await gw.admin('GET', '/routes/a')).status).to.equal(404);
    });

    it('TEST 9: HEAD /apisix/admin answers 200 without a key and without a body; other paths still need one', async () => {
      const res = await http('HEAD', gw.adminUrl);
      expect(res.status).to.equal(200);
      expect(res.text).to.equal('');
      expect((await http('HEAD', `${gw.adminUrl}/routes`)).status).to.equal(401);
      expect((await http('GET', gw.adminUrl)).status).to.equal(401);
    });

    it('TEST 7: with admin.cors off, no CORS header, and a preflight needs a key like any request', async () => {
      const quiet = await startTestGateway({ overrides: { admin: { cors: false } } });
      try {
        const res = await quiet.admin('GET', '/routes');
        expect(res.headers).to.not.have.property('access-control-allow-origin');
        expect((await http('OPTIONS', `${quiet.adminUrl}/routes`)).status).to.equal(401);
      } finally {
        await quiet.stop();
      }
    });
  });

  describe('address allow-list', () => {
    let closed: TestGateway;
    before(async () => {
      closed = await startTestGateway({ overrides: { admin: { allow: ['10.0.0.0/8'] } } });
    });
    after(() => closed.stop());

    it('comes first: no preflight, no HEAD and no CORS header for an address off the list', async () => {
      for (const method of ['OPTIONS', 'HEAD', 'GET']) {
        const res = await http(method, `${closed.adminUrl}`);
        expect(res.status, method).to.equal(403);
        expect(res.headers, method).to.not.have.property('access-control-allow-origin');
      }
    });

    it('checks the socket address, never a forwarded header', async () => {
      for (const header of ['x-forwarded-for', 'X-Real-IP', 'x-real-ip']) {
        const res = await http('GET', `${closed.adminUrl}/routes`, undefined, { 'x-api-key': TEST_ADMIN_KEY, [header]: '10.1.1.1' });
        expect(res.status).to.equal(403);
        expect(res.json.error_msg).to.equal('IP address not allowed');
      }
    });
  });
});
