/**
 * team-token-auth against a real gateway and upstream: who gets in, what the upstream is told,
 * and that the token stays out of the file log wherever it travelled (header or query).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestGateway, type TestGateway } from 'tollgate/testing';

const TOKEN = 'crew-token-0123456789';
const PLUGIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('example plugin team-token-auth', () => {
  let gw: TestGateway;
  let upstream: Server;
  let dir: string;
  const logged = () => readFileSync(join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'team-token-auth-'));
    upstream = createServer((req, res) => res.end(JSON.stringify({ consumer: req.headers['x-consumer-username'] ?? null })));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    gw = await startTestGateway({ overrides: { plugin_dirs: [PLUGIN_DIR] } });
    await gw.admin('PUT', '/consumers', { username: 'crew', plugins: { 'team-token-auth': { token: TOKEN } } });
    const put = await gw.admin('PUT', '/routes/crew', {
      uri: '/crew',
      upstream: { nodes: { [`127.0.0.1:${(upstream.address() as AddressInfo).port}`]: 1 } },
      plugins: { 'team-token-auth': { header: 'X-Crew', query: 'crew' }, 'file-logger': { path: join(dir, 'access.log') } },
    });
    expect(put.status, put.text).to.equal(201);
  });
  after(async () => {
    await gw.stop();
    await new Promise((resolve) => upstream.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a known token in, by header or query, and names the consumer upstream', async () => {
    expect((await gw.get('/crew', { 'x-crew': TOKEN })).json).to.deep.equal({ consumer: 'crew' });
    expect((await gw.get(`/crew?crew=${TOKEN}`)).json).to.deep.equal({ consumer: 'crew' });
  });

  it('answers 401 to a missing or wrong token, and to a client naming itself', async () => {
    const missing = await gw.get('/crew');
    expect(missing.status).to.equal(401);
    // APISIX's 401 shape and challenge, from tollgate/kit's `unauthorized`.
    expect(missing.json).to.deep.equal({ message: 'missing or invalid team token' });
    expect(missing.headers['www-authenticate']).to.equal('Token realm="team"');
    expect((await gw.get('/crew', { 'x-crew': 'not-the-token-at-all' })).status).to.equal(401);
    expect((await gw.get('/crew', { 'x-consumer-username': 'crew' })).status).to.equal(401);
  });

  it('keeps the token out of the log, wherever it travelled', async () => {
    await gw.get('/crew?via=header', { 'x-crew': TOKEN });
    await gw.get(`/crew?via=query&crew=${TOKEN}`);
    const ours = () => logged().filter((line) => line.includes('via='));
    for (let i = 0; i < 100 && ours().length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    const lines = ours();
    expect(lines).to.have.length(2);
    for (const line of lines) expect(line).to.not.include(TOKEN);
    const [byHeader, byQuery] = lines.map((line) => JSON.parse(line));
    expect(byHeader.request.headers['x-crew']).to.equal('[redacted]');
    expect(byQuery.request.querystring).to.deep.equal({ via: 'query', crew: '[redacted]' });
  });
});
