/**
 * `npm run bench -- scale`: what scaling out costs and gives.
 *
 * 1. Catalog propagation: two gateways on one (private) Redis; a route is written through A's
 *    Admin API and B's data plane is polled until it serves it. Time from the write's start to
 *    B's first 200, over BENCH_WRITES writes (default 100): p50, p99, max; goal p99 < 50 ms.
 *    The same through one node's workers (embedded catalog, workers 2): written through worker
 *    1, polled on fresh connections until both workers have served it.
 * 2. Requests/s of the HTTP workload (a proxied GET to an upstream on loopback) with
 *    `gateway.workers: 2` against `workers: 1`, in alternating rounds. The machine is shared by
 *    the gateway, the upstream and the load generator (wrk, pinned to CPU 1 when taskset exists),
 *    so each one's CPU time is read from /proc and shown as a share of the run: on two cores a
 *    second worker competes with the generator, and the ratio says as much about that as about
 *    the gateway.
 * 3. The relay's added latency: two gateways on one Redis sharing a relay secret, an MCP session
 *    (the conformance fixture server over stdio) opened on A; tools/call answered through A
 *    (the owner) and through B (relayed to A), alternating, BENCH_MCP_CALLS each (default 500),
 *    on keep-alive connections: p50 and p99 of each, and the difference (goal: under 1 ms at p50).
 * 4. MCP calls/s with `workers: 2` against `workers: 1`: BENCH_MCP_SESSIONS sessions (default 16)
 *    of the conformance fixture server, each calling tools/call in a loop on its own keep-alive
 *    connection (so a session stays on the worker that opened it), for BENCH_DURATION seconds.
 *
 * One limit is raised (benchmarks are not tests): in scenario 4 the route's `max_sessions` is
 * twice BENCH_MCP_SESSIONS (32 by default, instead of 16), so that the default 16 sessions
 * (which would fill the default cap exactly) and larger settings are all admitted, none
 * reclaimed. `mcp.max_children` keeps its default (32 per worker): BENCH_MCP_SESSIONS above 32
 * gets 503s from a single worker. Scenario 3's relay session fits the defaults.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startRedis } from '../test/helpers/redis.js';
import { descendants } from '../test/helpers/processes.js';
import { adminPut, cpuMicros, median, printTable, runLoad, sleep, startGateway, launched, type BenchGateway } from './lib.js';
import type { Build } from './revision.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const WRITES = Number(process.env.BENCH_WRITES ?? 100);
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

export async function run([build]: Build[]): Promise<void> {
  process.stdout.write(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores: above 2 the figures below are taken on a busy machine)\n`);
  const upstream = await startUpstream();
  const upstreamAddress = `127.0.0.1:${(upstream.address() as { port: number }).port}`;
  try {
    // BENCH_SCALE=relay (or propagation, throughput, comma-separated) runs only those parts.
    const parts = (process.env.BENCH_SCALE ?? 'propagation,throughput,relay,mcp').split(',');
    if (parts.includes('propagation')) await propagation(build, upstreamAddress);
    if (parts.includes('throughput')) await throughput(build, upstreamAddress);
    if (parts.includes('relay')) await relayLatency(build);
    if (parts.includes('mcp')) await mcpThroughput(build);
  } finally {
    upstream.close();
    upstream.closeAllConnections();
  }
  process.stdout.write(`\nload average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

async function propagation(build: Build, upstream: string): Promise<void> {
  const redis = await startRedis();
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'bench-scale-')));
  const common = { TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_ACCESS_LOG: 'false', TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url };
  try {
    const a = await startGateway(build, { env: { ...common, TOLLGATE_DATA_DIR: dirs[0] } });
    const b = await startGateway(build, { env: { ...common, TOLLGATE_DATA_DIR: dirs[1] } });
    const instances = await timeWrites(a, async (path) => {
      const pool = new Pool(b.url, { connections: 1 });
      try {
        for (;;) {
          const res = await pool.request({ path, method: 'GET' });
          await res.body.dump();
          if (res.statusCode === 200) return;
        }
      } finally {
        await pool.close();
      }
    }, upstream, 'p');
    await stop(a, b);

    // The test fixture plugin worker-pid names the worker that answered (X-Worker-Pid).
    const config = join(dirs[2], 'config.yaml');
    writeFileSync(config, `plugin_dirs: [${JSON.stringify(join(ROOT, 'test/fixtures/plugins'))}]\n`);
    const node = await startGateway(build, { env: { TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_ACCESS_LOG: 'false', TOLLGATE_DATA_DIR: dirs[2], TOLLGATE_WORKERS: '2' }, args: ['--config', config] });
    const workers = await timeWrites(node, async (path) => {
      // Fresh connections alternate between the workers: served twice in a row means by both.
      const servedBy = new Set<string>();
      while (servedBy.size < 2) {
        const res = await fresh(`${node.url}${path}`);
        if (res.status === 200) servedBy.add(res.pid);
      }
    }, upstream, 'w', { 'worker-pid': {} });
    await stop(node);

    const row = (name: string, t: { write: number[]; seen: number[] }) => ({
      name,
      'write p50 ms': median(t.write),
      'seen p50 ms': median(t.seen),
      'seen p99 ms': percentile(t.seen, 0.99),
      'seen max ms': Math.max(...t.seen),
      'p99 < 50 ms': percentile(t.seen, 0.99) < 50 ? 'yes' : 'NO',
    });
    printTable(
      `catalog propagation over ${WRITES} writes: from the start of an Admin API write until another instance (worker) serves the route`,
      [row('instance A → instance B (redis)', instances), row('worker 1 → both workers (embedded)', workers)],
      ['write p50 ms', 'seen p50 ms', 'seen p99 ms', 'seen max ms', 'p99 < 50 ms'],
    );
  } finally {
    await redis.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes WRITES routes through `gw`'s Admin API; `seen(path)` resolves once the route is served where it should be. */
async function timeWrites(
  gw: BenchGateway,
  seen: (path: string) => Promise<void>,
  upstream: string,
  tag: string,
  plugins: Record<string, unknown> = {},
): Promise<{ write: number[]; seen: number[] }> {
  const write: number[] = [];
  const seenAfter: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const path = `/${tag}${i}`;
    const started = performance.now();
    await adminPut(gw.admin, ADMIN_KEY, `/routes/${tag}${i}`, { uri: path, plugins, upstream: { nodes: { [upstream]: 1 } } });
    write.push(performance.now() - started);
    await seen(path);
    seenAfter.push(performance.now() - started);
  }
  return { write, seen: seenAfter };
}

/** A gateway on the embedded catalog in `dir` with `workers` workers, access log off. */
function startWorkers(build: Build, dir: string, workers: number): Promise<BenchGateway> {
  return startGateway(build, { env: { TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_ACCESS_LOG: 'false', TOLLGATE_DATA_DIR: dir, TOLLGATE_WORKERS: String(workers) } });
}

async function throughput(build: Build, upstream: string): Promise<void> {
  const rows: Array<Record<string, number | string>> = [];
  const results = new Map<number, Array<{ rps: number; p99: number; shares: Shares }>>([
    [1, []],
    [2, []],
  ]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const workers of [1, 2]) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));
      try {
        const gw = await startWorkers(build, dir, workers);
        await adminPut(gw.admin, ADMIN_KEY, '/routes/bench', { uri: '/bench', upstream: { nodes: { [upstream]: 1 } } });
        await sleep(300);
        // Warm-up: every worker compiles its hot paths before the measured run.
        await runLoad({ url: `${gw.url}/bench`, duration: 2, connections: CONNECTIONS });
        const before = cpuSnapshot(gw.pid);
        const load = await runLoad({ url: `${gw.url}/bench`, duration: DURATION, connections: CONNECTIONS });
        const shares = cpuShares(before, cpuSnapshot(gw.pid));
        if (load.errors > 0 || load.non2xx > 0) process.stdout.write(`  (workers ${workers}, round ${round + 1}: ${load.errors} errors, ${load.non2xx} non-2xx)\n`);
        results.get(workers)!.push({ rps: load.rps, p99: load.p99, shares });
        await stop(gw);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  for (const [workers, list] of results) {
    const pick = (f: (r: (typeof list)[number]) => number) => median(list.map(f));
    rows.push({
      name: `workers: ${workers}`,
      'req/s': pick((r) => r.rps),
      'vs 1 worker': median(list.map((r, i) => r.rps / results.get(1)![i].rps)),
      'p99 ms': pick((r) => r.p99),
      'gateway cpu': `${pick((r) => r.shares.gateway).toFixed(0)}%`,
      'generator cpu': `${pick((r) => r.shares.generator).toFixed(0)}%`,
      'upstream+bench cpu': `${pick((r) => r.shares.bench).toFixed(0)}%`,
      'others cpu': `${pick((r) => r.shares.others).toFixed(0)}%`,
      'idle': `${pick((r) => r.shares.idle).toFixed(0)}%`,
    });
  }
  printTable(
    `HTTP workload (proxied GET, ${CONNECTIONS} keep-alive connections, ${DURATION} s × ${ROUNDS} rounds, medians): CPU as a share of the machine's ${2} cores during the run`,
    rows as never,
    ['req/s', 'vs 1 worker', 'p99 ms', 'gateway cpu', 'generator cpu', 'upstream+bench cpu', 'others cpu', 'idle'],
  );
}

const MCP_CALLS = Number(process.env.BENCH_MCP_CALLS ?? 500);
const RELAY_SECRET = 'bench-relay-secret-0123456789abcdef0123';

async function relayLatency(build: Build): Promise<void> {
  const redis = await startRedis();
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'bench-scale-')));
  const env = (dir: string) => ({
    TOLLGATE_ADMIN_KEY: ADMIN_KEY,
    TOLLGATE_ACCESS_LOG: 'false',
    TOLLGATE_CATALOG: 'redis',
    TOLLGATE_REDIS_URL: redis.url,
    TOLLGATE_RELAY_SECRET: RELAY_SECRET,
    TOLLGATE_DATA_DIR: dir,
  });
  try {
    const a = await startGateway(build, { env: env(dirs[0]) });
    const b = await startGateway(build, { env: env(dirs[1]) });
    const server = join(ROOT, 'test/fixtures/mcp-servers/conformance-server.mjs');
    await adminPut(a.admin, ADMIN_KEY, '/routes/mcp', { uri: '/mcp/*', plugins: { 'mcp-bridge': { base_uri: '/mcp', command: 'node', args: [server] } } });
    await sleep(500);
    const pools = [new Pool(a.url, { connections: 1 }), new Pool(b.url, { connections: 1 })];
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
    const init = await pools[0].request({
      path: '/mcp/mcp',
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }),
    });
    await init.body.dump();
    const session = String(init.headers['mcp-session-id']);
    const withSession = { ...headers, 'mcp-session-id': session };
    const initialized = await pools[0].request({ path: '/mcp/mcp', method: 'POST', headers: withSession, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    await initialized.body.dump();
    const call = async (pool: Pool, id: number) => {
      const started = performance.now();
      const res = await pool.request({
        path: '/mcp/mcp',
        method: 'POST',
        headers: withSession,
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } }),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes('simple text')) throw new Error(`tools/call: ${res.statusCode} ${text.slice(0, 200)}`);
      return performance.now() - started;
    };
    // Warm-up on both paths.
    for (let i = 0; i < 50; i++) await call(pools[i % 2], i + 1);
    const owner: number[] = [];
    const relayed: number[] = [];
    for (let i = 0; i < MCP_CALLS; i++) {
      owner.push(await call(pools[0], 1000 + 2 * i));
      relayed.push(await call(pools[1], 1001 + 2 * i));
    }
    // CPU per call (both gateways), each path on its own: steadier than latency on a busy machine.
    const cpuPerCall = async (pool: Pool, base: number) => {
      const before = [cpuMicros(a.pid), cpuMicros(b.pid)];
      for (let i = 0; i < MCP_CALLS; i++) await call(pool, base + i);
      return [(cpuMicros(a.pid) - before[0]) / MCP_CALLS, (cpuMicros(b.pid) - before[1]) / MCP_CALLS];
    };
    const [ownerA, ownerB] = await cpuPerCall(pools[0], 100_000);
    const [relayedA, relayedB] = await cpuPerCall(pools[1], 200_000);
    await Promise.all(pools.map((p) => p.close()));
    process.stdout.write(
      `gateway CPU per tools/call (${MCP_CALLS} calls per path): through the owner A ${ownerA.toFixed(0)} µs (B ${ownerB.toFixed(0)}); ` +
        `relayed, on A ${relayedA.toFixed(0)} µs and on B ${relayedB.toFixed(0)} µs: the relay adds ${(relayedA + relayedB - ownerA - ownerB).toFixed(0)} µs\n`,
    );
    printTable(
      `MCP tools/call through the session's owner and through another instance (relayed), ${MCP_CALLS} each, alternating, keep-alive`,
      [
        { name: 'through A (owner)', 'p50 ms': median(owner), 'p99 ms': percentile(owner, 0.99) },
        { name: 'through B (relayed to A)', 'p50 ms': median(relayed), 'p99 ms': percentile(relayed, 0.99) },
        { name: 'relay adds', 'p50 ms': median(relayed) - median(owner), 'p99 ms': percentile(relayed, 0.99) - percentile(owner, 0.99) },
      ],
      ['p50 ms', 'p99 ms'],
    );
    process.stdout.write(`relay p50 under 1 ms: ${median(relayed) - median(owner) < 1 ? 'yes' : 'NO'}\n`);
    await stop(a, b);
  } finally {
    await redis.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

const MCP_SESSIONS = Number(process.env.BENCH_MCP_SESSIONS ?? 16);
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };

async function mcpThroughput(build: Build): Promise<void> {
  const rows: Array<Record<string, string | number>> = [];
  const perWorkers = new Map<number, number[]>([
    [1, []],
    [2, []],
  ]);
  const shares = new Map<number, Shares[]>([
    [1, []],
    [2, []],
  ]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const workers of [1, 2]) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));
      try {
        const gw = await startWorkers(build, dir, workers);
        await adminPut(gw.admin, ADMIN_KEY, '/routes/mcp', {
          uri: '/mcp/*',
          plugins: { 'mcp-bridge': { base_uri: '/mcp', command: 'node', args: [join(ROOT, 'test/fixtures/mcp-servers/conformance-server.mjs')], max_sessions: MCP_SESSIONS * 2 } },
        });
        await sleep(500);
        const sessions = await Promise.all(Array.from({ length: MCP_SESSIONS }, () => openRawSession(gw.url)));
        let running = true;
        let calls = 0;
        const loop = async (s: { pool: Pool; id: string }) => {
          for (let i = 1; running; i++) {
            const res = await s.pool.request({ path: '/mcp/mcp', method: 'POST', headers: { ...MCP_HEADERS, 'mcp-session-id': s.id }, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } }) });
            await res.body.dump();
            if (res.statusCode === 200) calls += 1;
          }
        };
        // Warm-up, then the measured run.
        const warm = sessions.map(loop);
        await sleep(1500);
        running = false;
        await Promise.all(warm);
        running = true;
        calls = 0;
        const before = cpuSnapshot(gw.pid);
        const started = performance.now();
        const loops = sessions.map(loop);
        await sleep(DURATION * 1000);
        running = false;
        await Promise.all(loops);
        const elapsed = (performance.now() - started) / 1000;
        shares.get(workers)!.push(cpuShares(before, cpuSnapshot(gw.pid)));
        perWorkers.get(workers)!.push(calls / elapsed);
        await Promise.all(sessions.map((s) => s.pool.close()));
        await stop(gw);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  for (const workers of [1, 2]) {
    const list = perWorkers.get(workers)!;
    const share = shares.get(workers)!;
    rows.push({
      name: `workers: ${workers}`,
      'calls/s': median(list),
      'vs 1 worker': median(list.map((v, i) => v / perWorkers.get(1)![i])),
      'gateway+servers cpu': `${median(share.map((x) => x.gateway)).toFixed(0)}%`,
      'client cpu': `${median(share.map((x) => x.bench)).toFixed(0)}%`,
      'others cpu': `${median(share.map((x) => x.others)).toFixed(0)}%`,
    });
  }
  printTable(
    `MCP tools/call, ${MCP_SESSIONS} sessions each on its own keep-alive connection, ${DURATION} s × ${ROUNDS} rounds (medians); the MCP servers are the gateway's children`,
    rows as never,
    ['calls/s', 'vs 1 worker', 'gateway+servers cpu', 'client cpu', 'others cpu'],
  );
}

async function openRawSession(url: string): Promise<{ pool: Pool; id: string }> {
  const pool = new Pool(url, { connections: 1 });
  const init = await pool.request({
    path: '/mcp/mcp',
    method: 'POST',
    headers: MCP_HEADERS,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }),
  });
  await init.body.dump();
  const id = String(init.headers['mcp-session-id']);
  const done = await pool.request({ path: '/mcp/mcp', method: 'POST', headers: { ...MCP_HEADERS, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await done.body.dump();
  return { pool, id };
}

interface CpuSnapshot {
  at: number;
  gateway: number;
  /** This process: the in-process upstream and the bench itself. */
  bench: number;
  /** Children this process has waited for: the load generator (it exits at the end of its run). */
  children: number;
  /** Machine-wide busy and idle time (/proc/stat), microseconds. */
  busy: number;
  idle: number;
}

interface Shares {
  gateway: number;
  generator: number;
  bench: number;
  others: number;
  idle: number;
}

function cpuSnapshot(gatewayPid: number): CpuSnapshot {
  const tree = [gatewayPid, ...descendants(gatewayPid).map((p) => p.pid)];
  let gateway = 0;
  for (const pid of tree) {
    try {
      gateway += cpuMicros(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = (i: number) => Number(fields[i]) * 10_000;
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] + cpu[4]) * 10_000;
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) * 10_000 - idle;
  return { at: performance.now(), gateway, bench: ticks(11) + ticks(12), children: ticks(13) + ticks(14), busy, idle };
}

/** What each part used between two snapshots, as a percentage of the machine (all cores). */
function cpuShares(a: CpuSnapshot, b: CpuSnapshot): Shares {
  const total = b.busy - a.busy + (b.idle - a.idle);
  const share = (micros: number) => (100 * micros) / total;
  const gateway = b.gateway - a.gateway;
  const generator = b.children - a.children;
  const bench = b.bench - a.bench;
  return {
    gateway: share(gateway),
    generator: share(generator),
    bench: share(bench),
    others: share(Math.max(0, b.busy - a.busy - gateway - generator - bench)),
    idle: share(b.idle - a.idle),
  };
}

function startUpstream(): Promise<Server> {
  const body = JSON.stringify({ ok: true, padding: 'x'.repeat(200) });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function fresh(url: string): Promise<{ status: number; pid: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, pid: String(res.headers['x-worker-pid']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** SIGTERM and wait for the exit: a draining gateway must not share the machine with the next one. */
async function stop(...gateways: BenchGateway[]): Promise<void> {
  await Promise.all(
    gateways.map((gw) => {
      const child = launched.find((c) => c.pid === gw.pid);
      if (!child || child.exitCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    }),
  );
}
