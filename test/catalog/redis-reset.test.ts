/**
 * A Redis that restarts without persistence comes back empty. Gateways must not trade their
 * catalog for an empty one: they keep serving their snapshot, report the reset (log,
 * /status/ready, metrics), and one of them writes the snapshot back (an atomic compare-and-set,
 * so exactly one wins) unless `catalog.restore_on_reset` is off. An operator deleting everything
 * through the Admin API is not a reset and still propagates.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { adopt, waitFor } from '../helpers/processes.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KEY = 'redis-reset-admin-key-0123456789';
const ROUTES = ['r1', 'r2', 'r3', 'r4', 'r5'];

describe('redis catalog: a Redis restarted empty (real redis-server, two gateway processes)', function () {
  this.timeout(120_000);
  let upstream: TestUpstream;
  let redis: TestRedis;
  let dir: string;
  let gateways: GatewayProcess[] = [];

  /** Two gateways on a fresh Redis, with `catalog` settings from a config file. */
  const startPair = async (catalog: Record<string, unknown> = {}) => {
    redis = await startRedis();
    const config = join(dir, 'config.yaml');
    writeFileSync(config, JSON.stringify({ catalog: { backend: 'redis', poll_interval: 0.2, ...catalog } }));
    const env = { TOLLGATE_REDIS_URL: redis.url, TOLLGATE_ADMIN_KEY: KEY };
    gateways = await Promise.all([spawnGateway(env, ['--config', config]), spawnGateway(env, ['--config', config])]);
    return gateways as [GatewayProcess, GatewayProcess];
  };
  /** Routes (the first referring to an upstream), a generated id and a consumer, written through `a` and served by both. */
  const populate = async (a: GatewayProcess) => {
    expect((await a.admin('PUT', '/upstreams/pool', { nodes: { [upstream.address]: 1 } })).status).to.equal(201);
    for (const id of ROUTES) {
      const target = id === ROUTES[0] ? { upstream_id: 'pool' } : { upstream: { nodes: { [upstream.address]: 1 } } };
      expect((await a.admin('PUT', `/routes/${id}`, { uri: `/${id}`, ...target })).status).to.equal(201);
    }
    const posted = await a.admin('POST', '/routes', { uri: '/posted', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(posted.status).to.equal(201);
    expect((await a.admin('PUT', '/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } })).status).to.equal(201);
    for (const gw of gateways) expect(await waitFor(async () => (await revisionOf(gw)) === (await revisionOf(a)), 10_000)).to.equal(true);
    return { postedId: String(posted.json.key).split('/').pop()!, revision: await revisionOf(a) };
  };
  const servesAll = async (gw: GatewayProcess) => {
    for (const id of [...ROUTES, 'posted']) if ((await http('GET', `${gw.url}/${id}`)).status !== 200) return false;
    return true;
  };
  const ready = async (gw: GatewayProcess) => (await http('GET', `${gw.statusUrl}/status/ready`)).json;
  const revisionOf = async (gw: GatewayProcess) => (await ready(gw)).catalog.revision as number;
  const metric = async (gw: GatewayProcess, name: string) => {
    const text = (await http('GET', gw.metricsUrl)).text;
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  /** Kills Redis and starts it again empty, checking both gateways serve everything meanwhile. */
  const resetRedis = async () => {
    await redis.kill();
    for (const gw of gateways) expect(await servesAll(gw), 'serving while Redis is down').to.equal(true);
    await redis.restart();
    adopt(redis.pid);
  };

  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-reset-'));
  });
  afterEach(async () => {
    await Promise.all(gateways.map((gw) => gw.stop()));
    gateways = [];
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps serving, one gateway restores Redis, both end at the same revision with every route', async () => {
    const [a, b] = await startPair();
    const { postedId, revision } = await populate(a);
    await resetRedis();

    // Serving never stops, and Redis gets the catalog back.
    const client = redis.client();
    const restored = await waitFor(async () => {
      for (const gw of gateways) expect(await servesAll(gw), 'serving through the reset').to.equal(true);
      return Number(await client.get('{tollgate}:revision')) === revision;
    }, 15_000, 50);
    expect(restored, 'redis restored').to.equal(true);
    expect(await client.hlen('{tollgate}:routes')).to.equal(ROUTES.length + 1);

    // Exactly one gateway wrote it back; both report what happened and follow the restored store.
    expect(await waitFor(async () => (await ready(a)).status === 'ok' && (await ready(b)).status === 'ok', 10_000)).to.equal(true);
    const restores = [(await metric(a, 'tollgate_catalog_restores_total')) ?? 0, (await metric(b, 'tollgate_catalog_restores_total')) ?? 0];
    expect([...restores].sort()).to.deep.equal([0, 1]);
    const restorer = restores[0] === 1 ? a : b;
    expect(await metric(restorer, 'tollgate_catalog_store_resets_total')).to.equal(1);
    expect((await ready(restorer)).catalog.resets).to.deep.equal({ detected: 1, restored: 1 });
    expect(await restorer.logged(/catalog store was reset/)).to.equal(true);
    for (const gw of [a, b]) {
      expect(await metric(gw, 'tollgate_catalog_store_reset')).to.equal(0);
      expect(await revisionOf(gw)).to.equal(revision);
    }

    // The store works as before: writes through either gateway reach the other, generated ids do
    // not reuse a restored one, and the claim index came back with the consumers.
    expect((await b.admin('PUT', '/routes/after', { uri: '/after', upstream: { nodes: { [upstream.address]: 1 } } })).status).to.equal(201);
    expect(await waitFor(async () => (await http('GET', `${a.url}/after`)).status === 200, 10_000)).to.equal(true);
    const posted = await a.admin('POST', '/routes', { uri: '/posted2', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(String(posted.json.key).split('/').pop()).to.not.equal(postedId);
    expect((await http('GET', `${b.url}/posted`)).status).to.equal(200);
    expect(await client.hlen('{tollgate}:unique')).to.equal(1);
    // The reference index came back too: the store itself refuses to delete what a route uses.
    expect(await client.zrange('{tollgate}:referrers', 0, -1)).to.deep.equal([`["upstreams","pool"]\n1\n${ROUTES[0]}`]);
    expect(await client.hget('{tollgate}:refs', `["routes","${ROUTES[0]}"]`)).to.equal(JSON.stringify([`["upstreams","pool"]\n1\n${ROUTES[0]}`]));
    expect((await b.admin('DELETE', '/upstreams/pool')).json.error_msg).to.equal(`can not delete this upstream, route [${ROUTES[0]}] is still using it now`);
    const guarded = await a.admin('PUT', '/routes/guarded', { uri: '/guarded', plugins: { 'key-auth': {} }, upstream: { nodes: { [upstream.address]: 1 } } });
    expect(guarded.status).to.equal(201);
    expect(await waitFor(async () => (await http('GET', `${b.url}/guarded`, undefined, { apikey: 'jack-key' })).status === 200, 10_000)).to.equal(true);
  });

  it('two gateways restoring at the same moment: exactly one wins, the other follows', async () => {
    const [a, b] = await startPair();
    const { revision } = await populate(a);
    // Empty the store and hold every write in one step, so both gateways find the reset and send
    // their restore before either can run: only the compare-and-set can keep one out.
    const client = redis.client();
    await client.multi().flushall().client('PAUSE', '20000', 'WRITE').exec();
    const blocked = async () => Number(/blocked_clients:(\d+)/.exec(await client.info('clients'))?.[1] ?? 0);
    expect(await waitFor(async () => (await blocked()) === 2, 15_000), 'both restores waiting').to.equal(true);
    await client.client('UNPAUSE');

    expect(await waitFor(async () => Number(await client.get('{tollgate}:revision')) === revision, 10_000)).to.equal(true);
    const restores = [await metric(a, 'tollgate_catalog_restores_total'), await metric(b, 'tollgate_catalog_restores_total')];
    expect(restores.sort()).to.deep.equal([0, 1]);
    for (const gw of [a, b]) {
      expect(await metric(gw, 'tollgate_catalog_store_resets_total')).to.equal(1);
      expect(await waitFor(async () => (await ready(gw)).status === 'ok', 10_000)).to.equal(true);
      expect(await revisionOf(gw)).to.equal(revision);
      expect(await servesAll(gw)).to.equal(true);
    }
    expect(await client.hlen('{tollgate}:routes')).to.equal(ROUTES.length + 1);
  });

  it('with restore_on_reset off: keeps serving the snapshot, reports the reset and writes nothing', async () => {
    const [a, b] = await startPair({ restore_on_reset: false });
    const { revision } = await populate(a);
    await resetRedis();

    for (const gw of [a, b]) {
      expect(await waitFor(async () => (await ready(gw)).catalog.storeReset !== undefined, 10_000), 'reset reported').to.equal(true);
      const status = await ready(gw);
      expect(status.status).to.equal('degraded');
      expect(status.catalog.storeReset).to.include({ snapshotRevision: revision, storeRevision: 0, restore: false });
      expect(await metric(gw, 'tollgate_catalog_store_reset')).to.equal(1);
      expect(await metric(gw, 'tollgate_catalog_restores_total')).to.equal(0);
      expect(await servesAll(gw)).to.equal(true);
      expect(await gw.logged(/catalog store was reset/)).to.equal(true);
    }
    // Writes are refused rather than building a new catalog on top of nothing.
    const write = await a.admin('PUT', '/routes/during', { uri: '/during', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(write.status).to.equal(503);
    expect(write.json.error_msg).to.match(/reset/);
    // A few polls later, still nothing written and still serving.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await redis.client().dbsize()).to.equal(0);
    for (const gw of [a, b]) expect(await servesAll(gw)).to.equal(true);
  });

  it('an operator deleting everything through the Admin API is not a reset: it propagates', async () => {
    const [a, b] = await startPair();
    await populate(a);
    for (const id of [...ROUTES]) expect((await a.admin('DELETE', `/routes/${id}`)).status).to.equal(200);
    const posted = (await a.admin('GET', '/routes')).json.list.map((r: { key: string }) => r.key.split('/').pop());
    for (const id of posted) expect((await a.admin('DELETE', `/routes/${id}`)).status).to.equal(200);
    expect((await a.admin('DELETE', '/consumers/jack')).status).to.equal(200);
    for (const gw of [a, b]) {
      expect(await waitFor(async () => (await gw.admin('GET', '/routes')).json.total === 0, 10_000)).to.equal(true);
      expect((await http('GET', `${gw.url}/r1`)).status).to.equal(404);
      expect((await ready(gw)).status).to.equal('ok');
      expect(await metric(gw, 'tollgate_catalog_store_resets_total')).to.equal(0);
    }
    // And it stays empty: nobody restores it.
    await new Promise((r) => setTimeout(r, 600));
    expect(await redis.client().hlen('{tollgate}:routes')).to.equal(0);
  });
});
