/**
 * The Redis catalog across gateway processes: a change made through one instance's Admin API is
 * served by another without restart; Redis going away leaves the last good snapshot serving with
 * Admin writes refused (503) and readiness degraded; it resynchronises when Redis returns.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, gatewayCommand, http, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { adopt, waitFor } from '../helpers/processes.js';

const KEY = 'redis-sync-admin-key-0123456789';

describe('redis catalog across gateway processes', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let upstream: TestUpstream;
  let a: GatewayProcess;
  let b: GatewayProcess;

  let dir: string;
  const env = () => ({ TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url, TOLLGATE_ADMIN_KEY: KEY });
  /**
   * The revision poll pushed out to a minute: within these tests changes can only travel by
   * pub/sub or a reconnection's reload, so "served by the other instance" proves the push path
   * without timing it against the poll (which a slow machine could lose).
   */
  const args = () => ['--config', join(dir, 'config.yaml')];

  /** B's catalog as its /status/ready reports it. */
  const readiness = async () => (await http('GET', `${b.statusUrl}/status/ready`)).json as { status: string; catalog: { syncErrors: number; lastError?: string } };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-sync-'));
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify({ catalog: { poll_interval: 60 } }));
    redis = await startRedis({ persist: true });
    upstream = await startUpstream();
    [a, b] = await Promise.all([spawnGateway(env(), args()), spawnGateway(env(), args())]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await upstream.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a route created through another instance, pushed by pub/sub (not the poll)', async () => {
    const put = await a.admin('PUT', '/routes/shared', { uri: '/shared', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(put.status).to.equal(201);
    expect(await waitFor(async () => (await http('GET', `${b.url}/shared`)).status === 200, 10_000, 5)).to.equal(true);
    // And deletion propagates the same way.
    await a.admin('DELETE', '/routes/shared');
    expect(await waitFor(async () => (await http('GET', `${b.url}/shared`)).status === 404, 10_000, 5)).to.equal(true);
  });

  it('keeps serving the last snapshot while Redis is down, refuses writes with 503, and resyncs', async () => {
    await a.admin('PUT', '/routes/kept', { uri: '/kept', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(await waitFor(async () => (await http('GET', `${b.url}/kept`)).status === 200, 10_000)).to.equal(true);

    await redis.kill();
    for (const gw of [a, b]) expect((await http('GET', `${gw.url}/kept`)).status).to.equal(200);
    const write = await a.admin('PUT', '/routes/during', { uri: '/during', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(write.status).to.equal(503);
    expect(write.json.error_msg).to.match(/unavailable/);
    expect(await waitFor(async () => (await readiness()).status === 'degraded', 10_000)).to.equal(true);
    // Reads still answer from the snapshot.
    expect((await b.admin('GET', '/routes/kept')).status).to.equal(200);

    await redis.restart();
    adopt(redis.pid);
    expect(await waitFor(async () => (await readiness()).status === 'ok', 10_000)).to.equal(true);
    expect(await waitFor(async () => (await a.admin('PUT', '/routes/after', { uri: '/after', upstream: { nodes: { [upstream.address]: 1 } } })).status === 201, 10_000)).to.equal(true);
    expect(await waitFor(async () => (await http('GET', `${b.url}/after`)).status === 200, 10_000)).to.equal(true);
    expect((await http('GET', `${b.url}/kept`)).status).to.equal(200);
  });

  it('resyncs when the command connection comes back after the subscriber (here: it alone dropped)', async () => {
    const before = (await readiness()).catalog.syncErrors;
    // Kills the command connections only; subscribers stay, as with Redis's idle `timeout`, which
    // spares pub/sub clients. After a restart the two come back in either order.
    await redis.client().client('KILL', 'TYPE', 'normal');
    expect(await waitFor(async () => (await readiness()).catalog.syncErrors > before, 10_000)).to.equal(true);
    // In step again within the reconnect backoff, not at the next poll (a minute away here).
    expect(await waitFor(async () => (await readiness()).status === 'ok', 10_000)).to.equal(true);
  });

  it('retries a resync that failed until one succeeds, without waiting for the poll', async () => {
    const client = redis.client();
    // A key of the wrong type makes every full reload fail, as a command timeout would.
    await client.set('{tollgate}:plugin_metadata', 'not a hash');
    await client.client('KILL', 'TYPE', 'pubsub');
    expect(await waitFor(async () => /WRONGTYPE/.test((await readiness()).catalog.lastError ?? ''), 5000)).to.equal(true);
    await client.del('{tollgate}:plugin_metadata');
    expect(await waitFor(async () => (await readiness()).status === 'ok', 10_000)).to.equal(true);
    expect((await http('GET', `${b.url}/kept`)).status).to.equal(200);
  });

  it('skips a corrupt or invalid record written behind its back; other routes keep working', async () => {
    const client = redis.client();
    await client.hset('{tollgate}:routes', 'corrupt', '{not json');
    const invalid = JSON.stringify({ createdIndex: 1, modifiedIndex: 1, create_time: 1, update_time: 1, value: { id: 'invalid', uri: 42 } });
    await client.hset('{tollgate}:routes', 'invalid', invalid);
    await client.incr('{tollgate}:revision');
    await a.admin('PUT', '/routes/still', { uri: '/still', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(await waitFor(async () => (await http('GET', `${b.url}/still`)).status === 200, 10_000)).to.equal(true);
    expect((await http('GET', `${b.url}/kept`)).status).to.equal(200);
    await client.hdel('{tollgate}:routes', 'corrupt', 'invalid');
  });

  it('keeps the catalog across a gateway restart', async () => {
    await b.stop();
    b = await spawnGateway(env(), args());
    adopt(b.child.pid);
    expect((await http('GET', `${b.url}/kept`)).status).to.equal(200);
  });

  it('a cold start with Redis down stays not ready until Redis comes', async () => {
    const redisPort = await freePort();
    const statusPort = await freePort();
    const child = spawn(process.execPath, [...gatewayCommand(), 'start'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        TOLLGATE_CATALOG: 'redis',
        TOLLGATE_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        TOLLGATE_ADMIN_KEY: KEY,
        TOLLGATE_LISTEN: '127.0.0.1:0',
        TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
        TOLLGATE_STATUS_LISTEN: `127.0.0.1:${statusPort}`,
        TOLLGATE_LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    let late: TestRedis | undefined;
    try {
      const status = () => http('GET', `http://127.0.0.1:${statusPort}/status/ready`).catch(() => undefined);
      expect(await waitFor(async () => (await status())?.status === 503, 10_000)).to.equal(true);
      expect((await status())?.json.status).to.equal('not ready');
      late = await startRedis({ port: redisPort });
      expect(await waitFor(async () => (await status())?.status === 200, 10_000)).to.equal(true);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await late?.stop();
    }
  });
});
