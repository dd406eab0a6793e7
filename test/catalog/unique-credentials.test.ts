/**
 * A credential (an auth plugin's `credentialField`, e.g. key-auth `key`) belongs to one consumer:
 * the check and the write are one atomic step in the catalog, so parallel Admin writes cannot
 * slip two consumers with one key past it — through one gateway, or through two on one Redis.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KEY = 'unique-credentials-admin-key-0123';
const PARALLEL = 20;

describe('credential uniqueness under parallel Admin writes (real gateway processes)', function () {
  this.timeout(120_000);
  let upstream: TestUpstream;
  let dir: string;
  let redis: TestRedis;
  const gateways: GatewayProcess[] = [];

  const spawn = async (env: Record<string, string>) => {
    const gw = await spawnGateway({ TOLLGATE_ADMIN_KEY: KEY, ...env });
    gateways.push(gw);
    return gw;
  };

  /**
   * PUTs PARALLEL consumers with one key-auth key (spread over `through`) and checks exactly one
   * was accepted, the others refused with 400 naming the holder, and the key authenticates as it.
   */
  const race = async (through: GatewayProcess[], plugin: 'key-auth' | 'jwt-auth', credential: string) => {
    const conf = plugin === 'key-auth' ? { key: credential } : { key: credential, secret: 'a-secret-that-is-long-enough-0123' };
    const names = Array.from({ length: PARALLEL }, (_, i) => `${plugin.replace('-', '')}${credential.slice(-4)}${i}`);
    const results = await Promise.all(
      names.map((username, i) => through[i % through.length].admin('PUT', '/consumers', { username, plugins: { [plugin]: conf } })),
    );
    const accepted = names.filter((_, i) => results[i].status === 201);
    expect(accepted, results.map((r) => `${r.status} ${r.text}`).join('\n')).to.have.length(1);
    const winner = accepted[0];
    for (const [i, res] of results.entries()) {
      if (names[i] === winner) continue;
      expect(res.status).to.equal(400);
      expect(res.json.error_msg).to.equal(`duplicate key of plugin ${plugin} found with consumer: ${winner}`);
    }
    // Every gateway agrees: one consumer holds the key, the others were never stored.
    for (const gw of through) {
      for (const name of names) {
        const expected = name === winner ? 200 : 404;
        const ok = await waitStatus(() => gw.admin('GET', `/consumers/${name}`), expected);
        expect(ok, `${name} on a gateway`).to.equal(true);
      }
    }
    return winner;
  };

  before(async () => {
    upstream = await startUpstream();
    redis = await startRedis();
  });
  after(async () => {
    await upstream.close();
    await redis.stop();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gw) => gw.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('embedded catalog: 20 parallel PUTs with one key → exactly one accepted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-unique-'));
    const gw = await spawn({ TOLLGATE_DATA_DIR: dir });
    const winner = await race([gw], 'key-auth', 'shared-key-emb1');
    await gw.admin('PUT', '/routes/guarded', { uri: '/guarded', plugins: { 'key-auth': {} }, upstream: { nodes: { [upstream.address]: 1 } } });
    const res = await http('GET', `${gw.url}/guarded`, undefined, { apikey: 'shared-key-emb1' });
    expect(res.status).to.equal(200);
    expect(res.json.headers['x-consumer-username']).to.equal(winner);
    await race([gw], 'jwt-auth', 'shared-jwt-emb2');
  });

  it('redis catalog: 20 parallel PUTs through one gateway → exactly one accepted', async () => {
    const gw = await spawn({ TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url });
    await race([gw], 'key-auth', 'shared-key-one1');
  });

  it('redis catalog: 20 parallel PUTs split across two gateways → exactly one accepted', async () => {
    const env = { TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url };
    const [a, b] = await Promise.all([spawn(env), spawn(env)]);
    await race([a, b], 'key-auth', 'shared-key-two1');
    await race([a, b], 'jwt-auth', 'shared-jwt-two2');
  });

  it('a consumer keeps its own key on replace, and a freed key can be taken again', async () => {
    const env = { TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url };
    const [a, b] = await Promise.all([spawn(env), spawn(env)]);
    expect((await a.admin('PUT', '/consumers', { username: 'keeper', plugins: { 'key-auth': { key: 'kept-key' } } })).status).to.equal(201);
    expect((await a.admin('PUT', '/consumers', { username: 'keeper', desc: 'again', plugins: { 'key-auth': { key: 'kept-key' } } })).status).to.equal(200);
    // Changing the key releases the old one; deleting the consumer releases its key.
    expect((await a.admin('PUT', '/consumers', { username: 'keeper', plugins: { 'key-auth': { key: 'new-key' } } })).status).to.equal(200);
    expect(await waitStatus(() => b.admin('PUT', '/consumers', { username: 'taker', plugins: { 'key-auth': { key: 'kept-key' } } }), 201)).to.equal(true);
    expect((await b.admin('PUT', '/consumers', { username: 'other', plugins: { 'key-auth': { key: 'new-key' } } })).status).to.equal(400);
    expect((await a.admin('DELETE', '/consumers/keeper')).status).to.equal(200);
    expect(await waitStatus(() => b.admin('PUT', '/consumers', { username: 'other', plugins: { 'key-auth': { key: 'new-key' } } }), 201)).to.equal(true);
  });
});

async function waitStatus(request: () => Promise<{ status: number }>, status: number, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await request()).status === status) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}
