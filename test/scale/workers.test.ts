/**
 * `gateway.workers: 2` (node:cluster) on a real `tollgate start`: traffic is served by both
 * workers, an Admin API write reaches both, a worker killed under load is replaced while the
 * other keeps serving, SIGTERM drains every worker, and status and metrics speak for all of them.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayProcess } from '../helpers/gateway.js';
import { descendants, isAlive, waitFor } from '../helpers/processes.js';
import { sharedRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { ratesBetween, sampleOf } from '../../ui/src/metrics.js';
import { fresh, route, servedBy, startScaleGateway } from './support.js';

describe('gateway.workers: 2', function () {
  this.timeout(120_000);
  let upstream: TestUpstream;
  let slow: TestUpstream;
  let dir: string;

  before(async () => {
    upstream = await startUpstream();
    slow = await startUpstream((_req, res) => setTimeout(() => res.end('slow done'), 800));
  });
  after(async () => {
    await upstream.close();
    await slow.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-workers-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * The worker processes the kernel knows (a /proc scan: slow, so not for polling under load):
   * the primary's children that run the CLI (tollgate.js compiled by the test helpers, tollgate.ts under tsx).
   */
  const workerPids = (gw: GatewayProcess) =>
    descendants(gw.child.pid)
      .filter((p) => p.ppid === gw.child.pid && /bin\/tollgate\.[jt]s\b/.test(p.command))
      .map((p) => p.pid);
  /** The workers the primary reports, ready or not. */
  const reported = async (gw: GatewayProcess) =>
    JSON.parse((await fresh(`${gw.statusUrl}/status`)).text).workers as Array<{ id: number; pid?: number; ready: boolean; restarts: number }>;

  describe('embedded catalog', () => {
    let gw: GatewayProcess;
    beforeEach(async () => {
      gw = await startScaleGateway({ dir, workers: 2 });
    });
    afterEach(async () => {
      await gw?.stop();
    });

    it('serves traffic from both workers, and an Admin API write (and delete) reaches both', async () => {
      const pids = workerPids(gw);
      expect(pids).to.have.length(2);
      const [path, body] = route('r1', '/hello', upstream.address);
      expect((await gw.admin('PUT', path, body)).status).to.equal(201);
      // The write is answered by worker 1; worker 2 follows its files within milliseconds.
      expect(await waitFor(async () => new Set(await servedBy(`${gw.url}/hello`, 8)).size === 2, 5000)).to.equal(true);
      const served = await servedBy(`${gw.url}/hello`, 20);
      expect(served.every((pid) => pids.includes(Number(pid))), served.join(',')).to.equal(true);
      expect(new Set(served)).to.have.length(2);

      expect((await gw.admin('DELETE', path)).status).to.equal(200);
      expect(await waitFor(async () => (await servedBy(`${gw.url}/hello`, 8)).every((s) => s === 'status:404'), 5000)).to.equal(true);
    });

    it('replaces a worker killed with SIGKILL under load while the other keeps serving', async () => {
      const [path, body] = route('r1', '/load', upstream.address);
      await gw.admin('PUT', path, body);
      await waitFor(async () => new Set(await servedBy(`${gw.url}/load`, 6)).size === 2, 5000);
      const [victim, survivor] = workerPids(gw);

      const results: Array<{ at: number; outcome: string }> = [];
      let running = true;
      const load = async () => {
        while (running) {
          const outcome = await fresh(`${gw.url}/load`, { timeoutMs: 3000 }).then(
            (res) => (res.status === 200 ? String(res.headers['x-worker-pid']) : `status:${res.status}`),
            (err: Error) => `error:${(err as NodeJS.ErrnoException).code ?? err.message}`,
          );
          results.push({ at: Date.now(), outcome });
        }
      };
      const loops = [load(), load(), load(), load()];
      await new Promise((r) => setTimeout(r, 300));
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');
      const replaced = await waitFor(async () => (await reported(gw)).every((w) => w.ready && w.pid !== victim), 20_000, 200);
      // Let the replacement take connections too.
      await waitFor(() => results.some((r) => r.at > killedAt && r.outcome !== String(survivor) && /^\d+$/.test(r.outcome)), 10_000, 100);
      running = false;
      await Promise.all(loops);

      expect(replaced).to.equal(true);
      expect(isAlive(survivor)).to.equal(true);
      const after = results.filter((r) => r.at > killedAt);
      const failed = after.filter((r) => !/^\d+$/.test(r.outcome));
      // Only requests the dead worker held at the moment of the kill may fail (4 loops: at most 4):
      // those it was serving (reset), and one the primary was handing to it as it died (no answer;
      // node:cluster's round robin loses that connection, docs/deployment.md).
      expect(failed.length, failed.map((r) => r.outcome).join(',')).to.be.at.most(4);
      expect(after.filter((r) => r.outcome === String(survivor)).length).to.be.greaterThan(0);
      const replacement = workerPids(gw).find((pid) => pid !== survivor)!;
      expect(after.some((r) => r.outcome === String(replacement))).to.equal(true);

      const status = await fresh(`${gw.statusUrl}/status/ready`);
      expect(status.status).to.equal(200);
      const workers = JSON.parse(status.text).workers as Array<{ id: number; pid: number; restarts: number; status: string }>;
      expect(workers.map((w) => [w.pid, w.status])).to.have.deep.members([
        [survivor, 'ok'],
        [replacement, 'ok'],
      ]);
      expect(workers.reduce((sum, w) => sum + w.restarts, 0)).to.equal(1);
      // The replacement loaded the catalog from the files the writer left.
      expect((await servedBy(`${gw.url}/load`, 6)).every((pid) => /^\d+$/.test(pid))).to.equal(true);
    });

    it('SIGTERM drains every worker: requests in flight on both finish, then all exit 0', async () => {
      const [path, body] = route('slow', '/slow', slow.address);
      await gw.admin('PUT', path, body);
      await waitFor(async () => new Set(await servedBy(`${gw.url}/slow`, 4)).size === 2, 10_000);
      const pids = workerPids(gw);
      const inFlight = Array.from({ length: 4 }, () => fresh(`${gw.url}/slow`));
      await new Promise((r) => setTimeout(r, 200));
      const readyWhileDraining = fresh(`${gw.statusUrl}/status/ready`);
      const exit = gw.stop('SIGTERM');
      const answers = await Promise.all(inFlight);
      expect(answers.map((a) => [a.status, a.text])).to.deep.equal(Array.from({ length: 4 }, () => [200, 'slow done']));
      expect(new Set(answers.map((a) => a.headers['x-worker-pid']))).to.have.length(2);
      expect((await readyWhileDraining).status).to.be.oneOf([503, 200]);
      expect(await exit).to.equal(0);
      expect(pids.filter(isAlive)).to.deep.equal([]);
    });

    it('SIGHUP to the primary makes every worker reopen its access log (logrotate)', async () => {
      await gw.stop();
      const logFile = join(dir, 'logs', 'access.log');
      gw = await startScaleGateway({ dir, workers: 2, config: { access_log: { enabled: true, path: logFile } }, env: { TOLLGATE_LOG_LEVEL: 'info' } });
      await gw.admin('PUT', ...route('r', '/rotated', upstream.address));
      await waitFor(async () => new Set(await servedBy(`${gw.url}/rotated`, 6)).size === 2, 5000);
      const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);
      await waitFor(() => lines(logFile) >= 6, 3000);
      renameSync(logFile, `${logFile}.1`);
      const rotated = lines(`${logFile}.1`);
      gw.child.kill('SIGHUP');
      await waitFor(() => gw.output().split('log files reopened').length - 1 >= 2, 5000);
      const served = await servedBy(`${gw.url}/rotated`, 10);
      expect(new Set(served)).to.have.length(2);
      expect(await waitFor(() => lines(logFile) === 10, 3000)).to.equal(true);
      expect(lines(`${logFile}.1`)).to.equal(rotated);
      expect(gw.child.exitCode).to.equal(null);
    });

    it('answers status and metrics for every worker from the primary', async () => {
      const [path, body] = route('m', '/m', upstream.address, { prometheus: {} });
      await gw.admin('PUT', path, body);
      await waitFor(async () => new Set(await servedBy(`${gw.url}/m`, 6)).size === 2, 5000);
      await servedBy(`${gw.url}/m`, 10);
      const ready = JSON.parse((await fresh(`${gw.statusUrl}/status/ready`)).text);
      expect(ready.status).to.equal('ok');
      expect(ready.catalog.revision).to.equal(1);
      expect(ready.workers.map((w: { id: number }) => w.id)).to.deep.equal([1, 2]);
      const metrics = (await fresh(gw.metricsUrl)).text;
      expect(metrics).to.match(/^tollgate_workers\{state="ready"\} 2$/m);
      // Both workers' counters, summed: 16 requests at least reached the route.
      const served = [...metrics.matchAll(/^tollgate_http_status\{[^}]*route="m"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      expect(served).to.be.at.least(16);

      // The Admin API's metrics (the dashboard's overview) are the same sum, not worker 1's share.
      const viaAdmin = await gw.admin('GET', '/metrics');
      expect(viaAdmin.status, viaAdmin.text).to.equal(200);
      const byName = new Map((viaAdmin.json.metrics as Array<{ name: string; values: Array<{ value: number; labels: Record<string, string> }> }>).map((m) => [m.name, m]));
      expect(byName.get('tollgate_workers')?.values.find((v) => v.labels.state === 'ready')?.value).to.equal(2);
      const adminServed = byName.get('tollgate_http_status')!.values.filter((v) => v.labels.route === 'm').reduce((sum, v) => sum + v.value, 0);
      // No request reached the route between the two reads, so both count the same requests.
      expect(adminServed).to.equal(served);
      // And the dashboard's overview, reading that answer, speaks for both workers.
      expect(viaAdmin.json.workers.map((w: { id: number }) => w.id)).to.deep.equal([1, 2]);
      const sample = sampleOf(viaAdmin.json.time, viaAdmin.json.metrics, viaAdmin.json.workers);
      expect(sample.workers).to.equal(2);
      expect(sample.requests).to.equal(served);
    });

    it("a worker that does not answer counts with its last answer, in the exporter and the Admin API's metrics (which say who answered); a dead worker's counts stay in the sum", async () => {
      const [path, body] = route('m', '/m', upstream.address, { prometheus: {} });
      await gw.admin('PUT', path, body);
      await waitFor(async () => new Set(await servedBy(`${gw.url}/m`, 6)).size === 2, 5000);
      const read = async () => {
        const res = await gw.admin('GET', '/metrics');
        expect(res.status, res.text).to.equal(200);
        return sampleOf(res.json.time, res.json.metrics, res.json.workers);
      };
      // What Prometheus reads: a sum that went down would be a reset to rate(), the node's whole count taken as new.
      const exported = async () =>
        [...(await fresh(gw.metricsUrl)).text.matchAll(/^tollgate_http_status\{[^}]*route="m"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      const both = await read();
      expect(both.workers).to.equal(2);
      const total = await exported();
      expect(total).to.equal(both.requests);
      const second = (await reported(gw)).find((w) => w.id === 2)!.pid!;
      // Stopped, worker 2 cannot answer the primary: its last answer stands in for it, 2 s later.
      process.kill(second, 'SIGSTOP');
      let alone;
      let exportedAlone;
      try {
        alone = await read();
        exportedAlone = await exported();
      } finally {
        process.kill(second, 'SIGCONT');
      }
      expect(alone.workers, 'the answer says only worker 1 answered').to.equal(1);
      expect(alone.requests).to.equal(both.requests);
      expect(exportedAlone).to.equal(total);
      // The overview still takes no rate across a change of who answered.
      expect(ratesBetween(both, alone)).to.equal(undefined);
      const again = await read();
      expect(again.workers).to.equal(2);
      // Same workers again, and no traffic meanwhile: no requests in between, not worker 2's whole count.
      expect(ratesBetween(both, again)?.requestsPerSecond).to.equal(0);

      // A worker that dies takes nothing from the sum: its replacement counts from zero on top.
      process.kill(second, 'SIGKILL');
      expect(await waitFor(async () => (await reported(gw)).every((w) => w.ready && w.pid !== second), 20_000, 200), 'worker 2 replaced').to.equal(true);
      expect(await exported()).to.equal(total);
      await servedBy(`${gw.url}/m`, 6);
      expect(await exported()).to.equal(total + 6);
      expect((await read()).requests).to.equal(total + 6);
    });
  });

  describe('Redis catalog and policy: redis limits', () => {
    let gw: GatewayProcess;
    beforeEach(async () => {
      const redis = await sharedRedis();
      gw = await startScaleGateway({ dir, workers: 2, redisUrl: redis.url, keyPrefix: `w${Date.now()}` });
    });
    afterEach(async () => {
      await gw?.stop();
    });

    it('every worker follows Redis; a limit-count with policy redis counts across both workers', async () => {
      const [path, body] = route('lim', '/limited', upstream.address, {
        'limit-count': { count: 6, time_window: 60, key: 'http_x_user', policy: 'redis', rejected_code: 429 },
      });
      expect((await gw.admin('PUT', path, body)).status).to.equal(201);
      // Both workers have the route (another key's count, so the one under test starts untouched).
      let attempt = 0;
      const bothServe = async () => new Set(await servedBy(`${gw.url}/limited`, 6, { 'x-user': `warm-up-${attempt++}` })).size === 2;
      expect(await waitFor(bothServe, 5000)).to.equal(true);
      const outcomes = await servedBy(`${gw.url}/limited`, 12, { 'x-user': 'alice' });
      const passed = outcomes.filter((o) => /^\d+$/.test(o));
      expect(passed).to.have.length(6);
      expect(new Set(passed).size).to.equal(2);
      expect(outcomes.slice(6)).to.deep.equal(Array.from({ length: 6 }, () => 'status:429'));
    });
  });
});
