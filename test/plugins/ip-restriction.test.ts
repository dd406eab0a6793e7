/**
 * ip-restriction against a real gateway and upstream. Client addresses other than 127.0.0.1 come
 * through X-Forwarded-For from a trusted proxy (gateway.trusted_proxies: 127.0.0.1), the way a
 * gateway behind a load balancer sees them; a second gateway without trusted proxies shows the
 * header is ignored otherwise. Cases from APISIX's t/plugin/ip-restriction.t are marked "APISIX TEST n".
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putRoute } from './support.js';

const REFUSED = { message: 'Your IP address is not allowed' };

describe('plugin ip-restriction', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  const from = (path: string, client: string) => gw.get(path, { 'x-forwarded-for': client });

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { gateway: { trusted_proxies: ['127.0.0.1'] } } });
    await putRoute(gw, 'white', '/white', upstream, { 'ip-restriction': { whitelist: ['10.255.254.0/24', '192.168.0.0/16', '127.0.0.1', '2001:db8::/32'] } });
    await putRoute(gw, 'black', '/black', upstream, { 'ip-restriction': { blacklist: ['10.255.254.0/24', '192.168.1.1', '::1', 'fe80::/16'] } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  describe('schema', () => {
    it('takes a whitelist or a blacklist, not both and not neither (APISIX TEST 4, 6)', async () => {
      const both = await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': { whitelist: ['172.17.40.0/24'], blacklist: ['10.255.0.0/16'] } });
      expect(both.status).to.equal(400);
      expect(both.json.error_msg).to.include('ip-restriction');
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': {} })).status).to.equal(400);
    });

    it('refuses empty lists and what is not an address or CIDR (APISIX TEST 2, 3, 5, 24)', async () => {
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': { blacklist: [] } })).status).to.equal(400);
      for (const entry of ['10.255.256.0/24', '10.255.254.0/38', '::ffff:192.168.0.0/129', 'localhost', '1.2.3']) {
        const res = await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': { whitelist: ['127.0.0.1', entry] } });
        expect(res.status, entry).to.equal(400);
        expect(res.json.error_msg, entry).to.equal(`failed to check the configuration of plugin ip-restriction err: invalid ip address: ${entry}`);
      }
      expect((await gw.admin('GET', '/routes/bad')).status).to.equal(404);
    });

    it('bounds message to 1-1024 characters and response_code to 403-404 (APISIX TEST 31, 32, 35)', async () => {
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': { whitelist: ['127.0.0.1'], message: '' } })).status).to.equal(400);
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': { whitelist: ['127.0.0.1'], message: 'x'.repeat(1025) } })).status).to.equal(400);
      const code = await putRoute(gw, 'bad', '/bad', upstream, { 'ip-restriction': { whitelist: ['127.0.0.1'], response_code: 409 } });
      expect(code.status).to.equal(400);
      expect(code.json.error_msg).to.include('response_code');
    });
  });

  describe('happy path', () => {
    it('passes addresses and CIDR members of the whitelist, IPv4 and IPv6 (APISIX TEST 8, 9, 19)', async () => {
      for (const client of ['10.255.254.1', '192.168.7.9', '2001:db8::1']) {
        const res = await from('/white', client);
        expect(res.status, client).to.equal(200);
        expect(res.json.upstream, client).to.equal('upstream');
      }
      // No forwarded address: the socket's peer itself.
      expect((await gw.get('/white')).status).to.equal(200);
    });

    it('passes addresses outside the blacklist (APISIX TEST 15, 16, 21)', async () => {
      for (const client of ['10.255.253.1', '192.168.1.2', '2001:db8::1']) expect((await from('/black', client)).status, client).to.equal(200);
    });

    it('a disabled instance does nothing (APISIX TEST 25)', async () => {
      await putRoute(gw, 'off', '/off', upstream, { 'ip-restriction': { blacklist: ['127.0.0.1'], _meta: { disable: true } } });
      expect((await gw.get('/off')).status).to.equal(200);
    });
  });

  describe('rejections', () => {
    it('refuses addresses outside the whitelist with 403 and APISIX\'s body (APISIX TEST 10, 11)', async () => {
      const seen = upstream.seen.length;
      for (const client of ['10.255.255.1', '2001:db9::1']) {
        const res = await from('/white', client);
        expect(res.status, client).to.equal(403);
        expect(res.json, client).to.deep.equal(REFUSED);
      }
      expect(upstream.seen.length, 'the upstream never saw them').to.equal(seen);
    });

    it('refuses blacklisted addresses and CIDR members (APISIX TEST 13, 14, 22, 23)', async () => {
      for (const client of ['10.255.254.7', '192.168.1.1', '::1', 'fe80::1']) {
        const res = await from('/black', client);
        expect(res.status, client).to.equal(403);
        expect(res.json, client).to.deep.equal(REFUSED);
      }
    });

    it('answers with the configured message and status (APISIX TEST 26-30, 33, 34)', async () => {
      await putRoute(gw, 'custom', '/custom', upstream, { 'ip-restriction': { whitelist: ['10.0.0.0/8'], message: 'Do you want to do something bad?', response_code: 404 } });
      const res = await from('/custom', '192.168.0.1');
      expect(res.status).to.equal(404);
      expect(res.json).to.deep.equal({ message: 'Do you want to do something bad?' });
      expect((await from('/custom', '10.1.2.3')).status).to.equal(200);
    });

    it('runs in access, after authentication (rewrite), as in APISIX', async () => {
      await putRoute(gw, 'authed', '/authed', upstream, { 'key-auth': {}, 'ip-restriction': { whitelist: ['10.0.0.0/8'] } });
      expect((await from('/authed', '192.168.0.1')).status).to.equal(401);
      await gw.admin('PUT', '/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
      expect((await gw.get('/authed', { apikey: 'jack-key', 'x-forwarded-for': '192.168.0.1' })).status).to.equal(403);
      expect((await gw.get('/authed', { apikey: 'jack-key', 'x-forwarded-for': '10.0.0.1' })).status).to.equal(200);
    });
  });

  describe('faults', () => {
    it('a malformed forwarded address from a trusted proxy is refused (400), never matched as the proxy, and the gateway keeps serving', async () => {
      expect((await from('/white', 'not-an-address')).status).to.equal(400);
      expect((await from('/black', 'not-an-address')).status).to.equal(400);
      expect((await from('/white', '10.255.254.1')).status).to.equal(200);
    });

    it('without trusted proxies, X-Forwarded-For cannot choose the address (CVE-2022-24112)', async () => {
      const plain = await startTestGateway();
      try {
        await putRoute(plain, 'white', '/white', upstream, { 'ip-restriction': { whitelist: ['10.0.0.0/8'] } });
        await putRoute(plain, 'black', '/black', upstream, { 'ip-restriction': { blacklist: ['127.0.0.1'] } });
        expect((await plain.get('/white', { 'x-forwarded-for': '10.1.1.1', 'x-real-ip': '10.1.1.1' })).status).to.equal(403);
        expect((await plain.get('/black', { 'x-forwarded-for': '10.1.1.1', 'x-real-ip': '10.1.1.1' })).status).to.equal(403);
      } finally {
        await plain.stop();
      }
    });

    it('a stored config the schema refuses makes its route answer 503, not pass everyone', async () => {
      // Written behind the Admin API's back (an older version, a hand-edited store).
      const record = { uri: '/hand', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'ip-restriction': { whitelist: ['10.0.0.0/33'] } } };
      const { record: stored } = await gw.running.catalog.put('routes', 'hand', record);
      await gw.running.table.waitForRevision(stored.modifiedIndex);
      expect((await from('/hand', '10.1.1.1')).status).to.equal(503);
      expect((await from('/white', '10.255.254.1')).status, 'other routes keep serving').to.equal(200);
    });
  });
});
