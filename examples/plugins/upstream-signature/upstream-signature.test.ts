/**
 * upstream-signature against a real gateway and a real upstream that verifies the signature the
 * way a service behind the gateway would.
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestGateway, type TestGateway } from 'tollgate/testing';

const SECRET = 'a-shared-secret-of-some-length';
const PLUGIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** An upstream that answers 200 only to correctly signed, fresh requests. */
function verifyingUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const timestamp = String(req.headers['x-tollgate-timestamp'] ?? '');
    const expected = createHmac('sha256', SECRET).update(`${timestamp}\n${req.method}\n${req.url}`).digest('hex');
    const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 30;
    const ok = fresh && req.headers['x-tollgate-signature'] === expected && req.headers['x-tollgate-key-id'] === 'k1';
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ verified: ok, url: req.url }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('example plugin upstream-signature', () => {
  let gw: TestGateway;
  let upstream: Server;

  before(async () => {
    upstream = await verifyingUpstream();
    gw = await startTestGateway({ overrides: { plugin_dirs: [PLUGIN_DIR] } });
    const address = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const res = await gw.admin('PUT', '/routes/signed', {
      uri: '/signed/*',
      upstream: { nodes: { [address]: 1 } },
      plugins: {
        'proxy-rewrite': { regex_uri: ['^/signed/(.*)', '/internal/$1'] },
        'upstream-signature': { secret: SECRET, key_id: 'k1' },
      },
    });
    expect(res.status, res.text).to.equal(201);
  });
  after(async () => {
    await gw.stop();
    await new Promise((r) => upstream.close(r));
  });

  it('refuses a config without a secret, or with a short one', async () => {
    const res = await gw.admin('PUT', '/routes/bad', { uri: '/bad', plugins: { 'upstream-signature': { secret: 'short' } } });
    expect(res.status).to.equal(400);
    expect(res.json.error_msg).to.match(/upstream-signature/);
  });

  it('signs the rewritten path and query so the upstream verifies it', async () => {
    const res = await gw.get('/signed/orders?id=7');
    expect(res.status).to.equal(200);
    expect(res.json).to.deep.equal({ verified: true, url: '/internal/orders?id=7' });
  });

  it('signs POST requests with their method', async () => {
    const res = await gw.request('POST', '/signed/orders', '{"item":1}', { 'content-type': 'application/json' });
    expect(res.json.verified).to.equal(true);
  });

  it('replaces a signature forged by the client', async () => {
    const res = await gw.get('/signed/x', { 'x-tollgate-signature': 'forged', 'x-tollgate-timestamp': '1' });
    expect(res.json.verified).to.equal(true);
  });
});
