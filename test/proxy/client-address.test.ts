/**
 * The client address behind trusted proxies (gateway.trusted_proxies, gateway.real_ip_header), as
 * the upstream sees it in X-Real-IP, and what a trusted proxy's X-Forwarded-* values become. The
 * test client connects from 127.0.0.1, which each gateway here trusts or not.
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

describe('client address behind trusted proxies', () => {
  let upstream: TestUpstream;
  let trusting: TestGateway;
  let realIp: TestGateway;
  let untrusting: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    trusting = await startTestGateway({ overrides: { gateway: { trusted_proxies: ['127.0.0.1', '10.0.0.0/8'] } } });
    realIp = await startTestGateway({ overrides: { gateway: { trusted_proxies: ['127.0.0.1'], real_ip_header: 'X-Real-IP' } } });
    untrusting = await startTestGateway();
    for (const gw of [trusting, realIp, untrusting]) {
      const put = await gw.admin('PUT', '/routes/echo', { uri: '/echo', upstream: { nodes: { [upstream.address]: 1 } } });
      expect(put.status, put.text).to.equal(201);
      const only = await gw.admin('PUT', '/routes/only', { uri: '/only', remote_addrs: ['192.168.1.0/24'], upstream: { nodes: { [upstream.address]: 1 } } });
      expect(only.status, only.text).to.equal(201);
    }
  });
  after(async () => {
    await Promise.all([trusting.stop(), realIp.stop(), untrusting.stop()]);
    await upstream.close();
  });

  const clientOf = async (gw: TestGateway, headers: Record<string, string>) => (await gw.get('/echo', headers)).json.headers['x-real-ip'];

  it('takes the first untrusted hop of X-Forwarded-For from a trusted proxy', async () => {
    expect(await clientOf(trusting, { 'x-forwarded-for': '203.0.113.7' })).to.equal('203.0.113.7');
    expect(await clientOf(trusting, { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.1.2.3' })).to.equal('203.0.113.7');
    // Every hop trusted: the farthest one is the client (nginx's real_ip_recursive on).
    expect(await clientOf(trusting, { 'x-forwarded-for': '10.9.9.9, 10.1.2.3' })).to.equal('10.9.9.9');
  });

  it('never takes what is not an IP address from X-Forwarded-For', async () => {
    // Deeper in the list, garbage ends the walk: the trusted hop that wrote it is the client.
    expect(await clientOf(trusting, { 'x-forwarded-for': '<script>, 10.1.2.3' })).to.equal('10.1.2.3');
    // Ports as load balancers write them are not part of the address.
    expect(await clientOf(trusting, { 'x-forwarded-for': 'garbage, 203.0.113.7:5678' })).to.equal('203.0.113.7');
    expect(await clientOf(trusting, { 'x-forwarded-for': '[2001:db8::1]:443' })).to.equal('2001:db8::1');
    expect(await clientOf(trusting, { 'x-forwarded-for': '203.0.113.7, ' })).to.equal('203.0.113.7');
    expect(await clientOf(trusting, { 'x-forwarded-for': ', ,' })).to.equal('127.0.0.1');
    // The entry the trusted peer itself vouches for is not an address: refused, naming the header,
    // rather than giving the client the proxy's own address (which allow-lists often name).
    for (const bad of ['not-an-ip', '203.0.113.7, 1.2.3', '10.0.0.1:99999', '[::1']) {
      const res = await trusting.get('/echo', { 'x-forwarded-for': bad });
      expect(res.status, bad).to.equal(400);
      expect(res.json.error_msg, bad).to.match(/^X-Forwarded-For from a trusted proxy does not end with an IP address: /);
    }
    expect(upstream.seen.filter((r) => ['not-an-ip', '[::1'].includes(String(r.headers['x-forwarded-for'])))).to.deep.equal([]);
    // The gateway keeps serving.
    expect(await clientOf(trusting, { 'x-forwarded-for': '203.0.113.8' })).to.equal('203.0.113.8');
  });

  it('reads the client from X-Real-IP when real_ip_header says so, and ignores X-Forwarded-For then (APISIX remote_addrs.t TEST 4, 5)', async () => {
    expect(await clientOf(realIp, { 'x-real-ip': '192.168.1.100', 'x-forwarded-for': '203.0.113.7' })).to.equal('192.168.1.100');
    expect(await clientOf(realIp, { 'x-forwarded-for': '192.168.1.100' })).to.equal('127.0.0.1');
    expect((await realIp.get('/echo', { 'x-real-ip': 'garbage' })).json.error_msg).to.match(/^X-Real-IP from a trusted proxy/);
    // The route's remote_addrs sees the same address.
    expect((await realIp.get('/only', { 'x-real-ip': '192.168.1.100' })).status).to.equal(200);
    expect((await realIp.get('/only', { 'x-real-ip': '192.168.2.100' })).status).to.equal(404);
  });

  it('believes no forwarded header from a peer that is not a trusted proxy', async () => {
    expect(await clientOf(untrusting, { 'x-forwarded-for': '192.168.1.100', 'x-real-ip': '192.168.1.100' })).to.equal('127.0.0.1');
    expect((await untrusting.get('/only', { 'x-forwarded-for': '192.168.1.100' })).status).to.equal(404);
  });

  it("keeps a trusted proxy's X-Forwarded-Proto, -Host and -Port, and replaces an untrusted client's (APISIX proxy-rewrite2.t TEST 2, 3)", async () => {
    const sent = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com', 'x-forwarded-port': '443' };
    const kept = (await trusting.get('/echo', sent)).json.headers;
    expect([kept['x-forwarded-proto'], kept['x-forwarded-host'], kept['x-forwarded-port']]).to.deep.equal(['https', 'shop.example.com', '443']);
    const replaced = (await untrusting.get('/echo', sent)).json.headers;
    expect(replaced['x-forwarded-proto']).to.equal('http');
    expect(replaced['x-forwarded-host']).to.equal('127.0.0.1');
    expect(replaced['x-forwarded-port']).to.equal(new URL(untrusting.url).port);
  });

  it('refuses a real_ip_header that is not a header name at start-up', async () => {
    let error: unknown;
    try {
      const gw = await startTestGateway({ overrides: { gateway: { real_ip_header: 'X Real IP' } } });
      await gw.stop();
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/real_ip_header/);
  });
});
