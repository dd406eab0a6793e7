/**
 * Host handling (issue 10, item 12; RFC 9112 §3.2): every spelling of a host reaches that host's
 * routes (a trailing dot used to skip them and fall through to a catch-all without auth), more
 * than one Host header or an invalid one is a 400, and an absolute-form request target routes on
 * its own authority.
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

describe('faults: Host handling', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;

  const send = async (lines: string[]) => parseRawResponse(await rawRequest(gw.url, `${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`));

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
    const nodes = { [upstream.address]: 1 };
    await gw.admin('PUT', '/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
    // The protected host, and a catch-all without auth that must never serve it.
    await gw.admin('PUT', '/routes/secure', { uri: '/*', hosts: ['secure.example', '*.wild.example'], upstream: { nodes }, plugins: { 'key-auth': {} } });
    await gw.admin('PUT', '/routes/open', { uri: '/*', upstream: { nodes } });
    await gw.admin('PUT', '/routes/dotted', { uri: '/dotted', host: 'dotted.example.', upstream: { nodes }, plugins: { 'proxy-rewrite': { uri: '/via-dotted' } } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });

  it('a trailing dot, letter case and a port all reach the host-specific route', async () => {
    for (const host of ['secure.example', 'secure.example.', 'SECURE.Example.', 'secure.example.:9080', 'a.wild.example.']) {
      const res = await send(['GET /x HTTP/1.1', `Host: ${host}`]);
      expect(res.status, host).to.equal(401);
    }
    expect(upstream.seen).to.have.length(0);
    expect((await send(['GET /x HTTP/1.1', 'Host: secure.example.', 'apikey: jack-key'])).status).to.equal(200);
    // Other hosts still reach the catch-all.
    expect((await send(['GET /x HTTP/1.1', 'Host: other.example'])).status).to.equal(200);
  });

  it('a route host written with a trailing dot matches requests without one', async () => {
    expect((await send(['GET /dotted HTTP/1.1', 'Host: dotted.example'])).status).to.equal(200);
    expect((await send(['GET /dotted HTTP/1.1', 'Host: dotted.example.'])).status).to.equal(200);
    expect(upstream.seen.map((s) => s.url)).to.deep.equal(['/via-dotted', '/via-dotted']);
  });

  it('two Host headers are a 400, whatever their order, and never reach an upstream', async () => {
    for (const [first, second] of [['other.example', 'secure.example'], ['secure.example', 'other.example'], ['secure.example', 'secure.example']]) {
      const res = await send(['GET /x HTTP/1.1', `Host: ${first}`, `host: ${second}`]);
      expect(res.status).to.equal(400);
      expect(res.body).to.include('more than one Host header');
    }
    expect(upstream.seen).to.have.length(0);
  });

  it('a Host that is not a host name is a 400', async () => {
    for (const host of ['secure.example/..', 'a..b', 'a b', 'user@secure.example', 'secure.example:80x', '.secure.example']) {
      const res = await send(['GET /x HTTP/1.1', `Host: ${host}`]);
      expect(res.status, host).to.equal(400);
    }
    expect(upstream.seen).to.have.length(0);
  });

  it('an absolute-form target routes on its own authority, which the upstream gets as Host', async () => {
    // The Host header names the open host; the target names the protected one, which wins.
    const refused = await send(['GET http://secure.example/x HTTP/1.1', 'Host: other.example']);
    expect(refused.status).to.equal(401);
    const allowed = await send(['GET http://Secure.Example:8080/x?y=1 HTTP/1.1', 'Host: other.example', 'apikey: jack-key']);
    expect(allowed.status).to.equal(200);
    expect(upstream.seen).to.have.length(1);
    expect(upstream.seen[0].url).to.equal('/x?y=1');
    expect(upstream.seen[0].headers.host).to.equal('secure.example:8080');
    expect(upstream.seen[0].headers['x-forwarded-host']).to.equal('secure.example');
    // And the reverse: an absolute-form target naming the open host is not the protected route.
    expect((await send(['GET http://other.example/x HTTP/1.1', 'Host: secure.example'])).status).to.equal(200);
  });

  it('an absolute-form target with userinfo is a 400', async () => {
    const res = await send(['GET http://jack:pw@secure.example/x HTTP/1.1', 'Host: secure.example']);
    expect(res.status).to.equal(400);
    expect(upstream.seen).to.have.length(0);
  });
});
