/**
 * `npm run bench -- plugins`: what the traffic-control plugins cost, in one run against one
 * gateway process: a route with no plugins versus key-auth + limit-count (local), key-auth +
 * limit-count (redis), jwt-auth and api-breaker (and, for reference, limit-req and limit-conn),
 * each as requests/s and p99 at saturation, with its throughput as a ratio of the plain route's
 * measured in the same round, and the gateway's CPU time per request (from /proc), which other
 * load on the machine disturbs less than throughput does.
 * Goal (issue 4): key-auth + limit-count (local) keeps at least 85% of the plain route's rps.
 *
 * Observability (issue 5): the gateway above runs without its access log (TOLLGATE_ACCESS_LOG=false)
 * so that every figure is the plugin's alone; a second gateway on the same CPU writes its access
 * log to a file, as a production gateway does by default. Contenders: prometheus on the plain
 * route, the access log alone, and both. Goal: access log + prometheus keep at least 90% of the
 * plain route's rps.
 *
 * The gateway, the upstream and a private redis-server run as their own processes. With taskset
 * available the gateway is pinned to CPU 0 and everything else to CPU 1, so the gateway's one
 * worker has one core to itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { request } from 'undici';
import { cpuMicros, GATEWAY_NODE_FLAGS, hasTaskset, launch, launched, median, printTable, runLoad, sleep, type LoadResult } from './lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_KEY = 'bench-plugins-admin-key-0123456789';
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
/** Contenders take turns, round after round, so that load from elsewhere on the machine hits them alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const API_KEY = 'bench-consumer-key';
const JWT_SECRET = 'bench-jwt-secret-0123456789abcdef';
/** A quota no benchmark reaches: the limiter runs on every request without rejecting. */
const UNREACHABLE = { count: 1_000_000_000, time_window: 3600 };

const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ ok: true, pad: 'x'.repeat(200) });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }); res.end(body); });
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function admin(base: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await request(`${base}${path}`, {
    method: method as 'PUT',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`admin ${method} ${path}: ${res.statusCode} ${text}`);
}

interface Contender {
  name: string;
  path: string;
  plugins?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** The gateway that writes an access log (the others run on the one without). */
  logged?: boolean;
}

export async function run(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-plugins-'));
  try {
    const upstreamOut = (await launch('1', process.execPath, ['-e', UPSTREAM], /port \d+/, {}, root)).output;
    const upstream = `127.0.0.1:${/port (\d+)/.exec(upstreamOut())![1]}`;
    const redisPort = await freePort();
    await launch('1', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/);
    const gatewayEnv = {
      TOLLGATE_ADMIN_KEY: ADMIN_KEY,
      TOLLGATE_LISTEN: '127.0.0.1:0',
      TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
      TOLLGATE_STATUS_LISTEN: '127.0.0.1:0',
      TOLLGATE_METRICS_LISTEN: '127.0.0.1:0',
      TOLLGATE_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      TOLLGATE_LOG_LEVEL: 'warn',
    };
    const main = await launch('0', process.execPath, [...GATEWAY_NODE_FLAGS, '--import', 'tsx', join(root, 'bin/tollgate.ts'), 'start'], /admin key/, {
      ...gatewayEnv,
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ACCESS_LOG: 'false',
    }, root);
    const gatewayOut = main.output;
    const gatewayPid = main.child.pid!;
    const find = (out: () => string, label: string) => new RegExp(`${label}\\s+(http://\\S+)`).exec(out())![1];
    const gateway = find(gatewayOut, 'data plane');
    const adminUrl = find(gatewayOut, 'admin api');
    // The second gateway writes its access log to a file, as a production gateway does.
    const loggedDir = join(dataDir, 'logged');
    const accessLog = join(loggedDir, 'access.log');
    const loggedConfig = join(dataDir, 'logged.yaml');
    writeFileSync(loggedConfig, `access_log:\n  path: ${JSON.stringify(accessLog)}\n`);
    const logged = await launch('0', process.execPath, [...GATEWAY_NODE_FLAGS, '--import', 'tsx', join(root, 'bin/tollgate.ts'), 'start', '--config', loggedConfig], /admin key/, {
      ...gatewayEnv,
      TOLLGATE_DATA_DIR: loggedDir,
    }, root);
    const loggedOut = logged.output;
    const loggedPid = logged.child.pid!;
    const loggedGateway = find(loggedOut, 'data plane');
    const loggedAdmin = find(loggedOut, 'admin api');

    await admin(adminUrl, 'PUT', '/upstreams/up', { nodes: { [upstream]: 1 } });
    await admin(adminUrl, 'PUT', '/consumers', {
      username: 'bench',
      plugins: { 'key-auth': { key: API_KEY }, 'jwt-auth': { key: 'bench-jwt', secret: JWT_SECRET } },
    });
    const token = jwt.sign({ key: 'bench-jwt', exp: Math.floor(Date.now() / 1000) + 24 * 3600 }, JWT_SECRET);
    const keyed = { apikey: API_KEY };
    const contenders: Contender[] = [
      { name: 'no plugins', path: '/plain' },
      { name: 'key-auth + limit-count (local)', path: '/count-local', plugins: { 'key-auth': {}, 'limit-count': UNREACHABLE }, headers: keyed },
      { name: 'key-auth + limit-count (redis)', path: '/count-redis', plugins: { 'key-auth': {}, 'limit-count': { ...UNREACHABLE, policy: 'redis' } }, headers: keyed },
      { name: 'jwt-auth (HS256)', path: '/jwt', plugins: { 'jwt-auth': {} }, headers: { authorization: `Bearer ${token}` } },
      { name: 'api-breaker', path: '/breaker', plugins: { 'api-breaker': { break_response_code: 503 } } },
      { name: 'limit-req (local)', path: '/req', plugins: { 'limit-req': { rate: 1_000_000, burst: 1000, key: 'remote_addr', nodelay: true } } },
      { name: 'limit-conn (local)', path: '/conn', plugins: { 'limit-conn': { conn: 100_000, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' } } },
      { name: 'prometheus', path: '/prom', plugins: { prometheus: {} } },
      { name: 'access log (file)', path: '/plain', logged: true },
      { name: 'access log + prometheus', path: '/prom', plugins: { prometheus: {} }, logged: true },
    ];
    await admin(loggedAdmin, 'PUT', '/upstreams/up', { nodes: { [upstream]: 1 } });
    for (const [i, c] of contenders.entries()) {
      await admin(c.logged ? loggedAdmin : adminUrl, 'PUT', `/routes/r${i}`, { uri: c.path, upstream_id: 'up', ...(c.plugins ? { plugins: c.plugins } : {}) });
    }
    const base = (c: Contender) => (c.logged ? loggedGateway : gateway);
    const pidOf = (c: Contender) => (c.logged ? loggedPid : gatewayPid);
    for (const c of contenders) {
      const res = await request(`${base(c)}${c.path}`, { headers: c.headers });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${c.name}: ${c.path} answered ${res.statusCode}`);
    }

    process.stdout.write(
      `saturation: ${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION} s per contender, taking turns (medians shown)${hasTaskset ? '; gateway pinned to CPU 0, upstream, Redis and load generator on CPU 1' : ''}\n`,
    );
    for (const c of contenders) await runLoad({ url: `${base(c)}${c.path}`, duration: 2, connections: CONNECTIONS, headers: c.headers });
    const rounds: Array<Array<LoadResult & { cpuPerRequest: number }>> = contenders.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, c] of contenders.entries()) {
        const pid = pidOf(c);
        const cpuBefore = cpuMicros(pid);
        const result = await runLoad({ url: `${base(c)}${c.path}`, duration: DURATION, connections: CONNECTIONS, headers: c.headers });
        rounds[i].push({ ...result, cpuPerRequest: (cpuMicros(pid) - cpuBefore) / (result.rps * DURATION) });
      }
    }
    // The ratio is taken within each round (same background load), then its median.
    const ratio = (i: number) => median(rounds[i].map((r, round) => r.rps / rounds[0][round].rps));
    printTable(
      'Traffic-control plugins, saturation (one gateway worker; higher rps is better)',
      contenders.map((c, i) => ({
        name: c.name,
        rps: median(rounds[i].map((r) => r.rps)),
        'p50 ms': median(rounds[i].map((r) => r.p50)),
        'p99 ms': median(rounds[i].map((r) => r.p99)),
        'rps vs none': `${(ratio(i) * 100).toFixed(0)}%`,
        'CPU µs/req': median(rounds[i].map((r) => r.cpuPerRequest)),
        'CPU vs none': `${((median(rounds[0].map((r) => r.cpuPerRequest)) / median(rounds[i].map((r) => r.cpuPerRequest))) * 100).toFixed(0)}%`,
        errors: rounds[i].reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      })),
      ['rps', 'p50 ms', 'p99 ms', 'rps vs none', 'CPU µs/req', 'CPU vs none', 'errors'],
    );
    const local = ratio(1);
    process.stdout.write(`\nkey-auth + limit-count (local): ${(local * 100).toFixed(0)}% of the plain route's rps (goal ≥ 85%): ${local >= 0.85 ? 'met' : 'NOT met'}\n`);
    const observed = contenders.findIndex((c) => c.name === 'access log + prometheus');
    const both = ratio(observed);
    const cpuShare = median(rounds[0].map((r) => r.cpuPerRequest)) / median(rounds[observed].map((r) => r.cpuPerRequest));
    process.stdout.write(
      `access log + prometheus: ${(both * 100).toFixed(0)}% of the plain route's rps, ${(cpuShare * 100).toFixed(0)}% by CPU per request (goal ≥ 90%): ${both >= 0.9 ? 'met' : 'NOT met'}${both < 0.9 && cpuShare >= 0.9 ? ' by rps; met by CPU per request' : ''}\n`,
    );
    process.stdout.write(`access log written: ${(statSync(accessLog).size / 1024 / 1024).toFixed(0)} MiB\n`);
    process.stdout.write('"CPU vs none": the plain route\'s gateway CPU time per request over this one\'s, i.e. throughput on a core of its own; steadier than rps when the machine is busy.\n');
  } finally {
    for (const child of launched) child.kill('SIGTERM');
    await sleep(300);
    for (const child of launched) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}
