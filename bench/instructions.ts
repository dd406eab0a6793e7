/**
 * `npm run bench -- instructions [--rev <commit>]`: machine instructions the gateway executes per
 * request, counted by valgrind's callgrind, for the scenarios the other suites time. Unlike rps
 * or CPU time, an instruction count hardly moves with the machine's other work, so two builds can
 * be compared on a shared two-core machine (with `--rev`, this tree's against that revision's).
 *
 * Per scenario and build, a fresh gateway runs under callgrind with instrumentation off (what
 * one scenario teaches V8, and undoes when another takes over, never lands in another's figure).
 * It gets warm-up requests at valgrind's uninstrumented speed, enough that V8 has optimised the
 * hot paths and that every upstream connection has been replaced once (undici's 1000 requests
 * per connection: the first wave of reconnects deoptimises some of undici); then instrumentation
 * on and windows of a fixed number of requests, back to back, over the same 8 keep-alive
 * connections (MCP: one session, or 16, calling tools/call), a dump after each.
 *
 * A window's figure is every instruction of the gateway process (JavaScript, V8's garbage
 * collector and runtime, Node, libuv; not the kernel's) divided by its requests, without V8's
 * compilers: they still optimise now and then long after warm-up, and one such burst in a window
 * moved its figure by up to 3×. The table shows the median of the windows and their range, and
 * the garbage collector's part. Counts depend on the request count, not on time or on the
 * machine's other work: a run repeats to within about 1%. MCP children run natively and are not
 * counted.
 *
 * One limit is raised (benchmarks are not tests): the MCP route's `max_sessions`, 64 instead
 * of 16. The 16-session scenario fills the default exactly, and at the cap a session the client
 * opens while another is still ending would be reclaimed or refused: the count would then
 * include the cap's work, not only the calls'. `mcp.max_children` keeps its default (32).
 *
 * BENCH_INSTR_REQUESTS (default 1000 per window), BENCH_INSTR_WINDOWS (default 4) and
 * BENCH_INSTR_WARMUP (default 10000) set the counts per scenario (requests, or MCP calls).
 * BENCH_INSTR_SCENARIOS=<name prefix>,… runs only those scenarios; BENCH_INSTR_PROFILE=<dir>
 * keeps each window's dump and V8's code map for bench/callgrind-js.ts (which code costs what).
 * BENCH_INSTR_NODE_FLAGS adds node flags to the gateway.
 */
import { execFileSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import jwt from 'jsonwebtoken';
import { Pool, request } from 'undici';
import { launch, launched, median, printTable, sleep, startGateway, type BenchGateway, type Row } from './lib.js';
import { COMPILERS, GARBAGE_COLLECTOR, loadProfile } from './callgrind-js.js';
import type { Build } from './revision.js';

export const comparesBuilds = true;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_KEY = 'bench-instructions-admin-key-0123';
const REQUESTS = Number(process.env.BENCH_INSTR_REQUESTS ?? 1000);
const WARMUP = Number(process.env.BENCH_INSTR_WARMUP ?? 10000);
const WINDOWS = Number(process.env.BENCH_INSTR_WINDOWS ?? 4);
const NODE_FLAGS = (process.env.BENCH_INSTR_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** Keeps every counted window's callgrind dump and V8's code map here (see bench/callgrind-js.ts). */
const PROFILE_DIR = process.env.BENCH_INSTR_PROFILE;
const CONNECTIONS = 8;
const API_KEY = 'bench-consumer-key';
const JWT_SECRET = 'bench-jwt-secret-0123456789abcdef';
const UNREACHABLE = { count: 1_000_000_000, time_window: 3600 };
const SERVER = join(root, 'examples/mcp-servers/demo-server.mjs');

/** Sends requests to one gateway over connections (or a session) it keeps from first to last. */
interface Driver {
  send(count: number): Promise<void>;
  close(): Promise<void>;
}

interface Scenario {
  name: string;
  /** The gateway that writes an access log. */
  logged?: boolean;
  route: { id: string; body: Record<string, unknown> };
  globalRule?: Record<string, unknown>;
  open(gw: BenchGateway): Promise<Driver>;
}

async function admin(base: string, method: string, path: string, body?: unknown): Promise<void> {
  const res = await request(`${base}${path}`, {
    method: method as 'PUT',
    headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`admin ${method} ${path}: ${res.statusCode} ${text}`);
}

/** GETs of `path` over CONNECTIONS keep-alive connections; any answer but 200 fails the run. */
function http(path: string, headers: Record<string, string> = {}) {
  return async (gw: BenchGateway): Promise<Driver> => {
    // No idle timeout on our side: the connections must outlast the pauses between windows.
    const pool = new Pool(gw.url, { connections: CONNECTIONS, keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 });
    return {
      async send(count) {
        let left = count;
        await Promise.all(
          Array.from({ length: CONNECTIONS }, async () => {
            while (left-- > 0) {
              const res = await pool.request({ path, method: 'GET', headers });
              await res.body.dump();
              if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode}`);
            }
          }),
        );
      },
      close: () => pool.close(),
    };
  };
}

/** `count` MCP sessions calling tools/call (echo), each in turn, concurrently. */
function mcpSessions(count: number) {
  return async (gw: BenchGateway): Promise<Driver> => {
    const sessions = await Promise.all(
      Array.from({ length: count }, async () => {
        const client = new Client({ name: 'bench', version: '1.0.0' });
        const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp-bench/mcp`));
        await client.connect(transport);
        return { client, transport };
      }),
    );
    let calls = 0;
    return {
      async send(total) {
        let left = total;
        await Promise.all(
          sessions.map(async ({ client }) => {
            while (left-- > 0) await client.callTool({ name: 'echo', arguments: { text: `call ${calls++}` } });
          }),
        );
      },
      async close() {
        for (const { client, transport } of sessions) {
          await transport.terminateSession().catch(() => undefined);
          await client.close();
        }
      },
    };
  };
}

function scenarios(upstream: string): Scenario[] {
  const token = jwt.sign({ key: 'bench-jwt', exp: Math.floor(Date.now() / 1000) + 24 * 3600 }, JWT_SECRET);
  const route = (id: string, body: Record<string, unknown>) => ({ id, body: { upstream: { type: 'roundrobin', nodes: { [upstream]: 1 } }, ...body } });
  const mcpRoute = { id: 'mcp', body: { uri: '/mcp-bench/*', plugins: { 'mcp-bridge': { base_uri: '/mcp-bench', command: 'node', args: [SERVER], max_sessions: 64 } } } };
  return [
    { name: 'plain route', route: route('plain', { uri: '/plain' }), open: http('/plain') },
    {
      name: 'key-auth + limit-count (local)',
      route: route('count', { uri: '/count', plugins: { 'key-auth': {}, 'limit-count': UNREACHABLE } }),
      open: http('/count', { apikey: API_KEY }),
    },
    { name: 'jwt-auth (HS256)', route: route('jwt', { uri: '/jwt', plugins: { 'jwt-auth': {} } }), open: http('/jwt', { authorization: `Bearer ${token}` }) },
    {
      name: 'proxy-rewrite + request-id + global rule',
      route: route('rewrite', {
        uri: '/with-plugins/*',
        plugins: { 'proxy-rewrite': { regex_uri: ['^/with-plugins/(.*)', '/$1'], headers: { set: { 'x-bench': 'yes' } } }, 'request-id': {} },
      }),
      globalRule: { plugins: { 'proxy-rewrite': { headers: { set: { 'x-global': '1' } } } } },
      open: http('/with-plugins/plain'),
    },
    { name: 'access log + prometheus', logged: true, route: route('prom', { uri: '/prom', plugins: { prometheus: {} } }), open: http('/prom') },
    { name: 'mcp-bridge tools/call', route: mcpRoute, open: mcpSessions(1) },
    { name: 'mcp-bridge tools/call, 16 sessions', route: mcpRoute, open: mcpSessions(16) },
  ];
}

/** Asks callgrind in `pid` to do `command` (`-i on`, `-z`, `-d`, …). */
function callgrind(pid: number, ...command: string[]): void {
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('callgrind_control', [...command, String(pid)], { stdio: 'ignore' });
      return;
    } catch (err) {
      // This sandbox now and then fails a spawn outright (ELOOP, no process started); retry that.
      if ((err as { pid?: number }).pid !== 0 || attempt === 3) throw err;
    }
  }
}

interface Window {
  /** Every instruction, per request. */
  total: number;
  /** Without V8's compilers (see the file comment), per request. */
  steady: number;
  /** V8's garbage collector's share of `steady`, per request. */
  gc: number;
}

/** Dumps the counters since the last dump; returns the dump's path once callgrind has written it. */
async function dump(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  callgrind(pid, '-d');
  for (let waited = 0; waited < 60_000; waited += 100) {
    const file = readdirSync(dir).find((f) => f.startsWith(`cg.${pid}.`) && !before.has(f));
    if (file && /^totals:/m.test(readFileSync(join(dir, file), 'utf8'))) return join(dir, file);
    await sleep(100);
  }
  throw new Error(`callgrind in ${pid} wrote no dump`);
}

function windowOf(file: string, requests: number): Window {
  const profile = loadProfile(file);
  const compilers = profile.parts.get(COMPILERS) ?? 0;
  return { total: profile.total / requests, steady: (profile.total - compilers) / requests, gc: (profile.parts.get(GARBAGE_COLLECTOR) ?? 0) / requests };
}

export async function run(builds: Build[]): Promise<void> {
  try {
    execFileSync('callgrind_control', ['-h'], { stdio: 'ignore' });
  } catch {
    process.stdout.write('valgrind (callgrind_control) is not installed: skipped\n');
    return;
  }
  // The SDK client passes one AbortSignal to every request; undici lets go of its listeners only
  // at garbage collection, which floods the output with MaxListenersExceeded warnings.
  setMaxListeners(0);
  const work = mkdtempSync(join(tmpdir(), 'bench-instructions-'));
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  try {
    const upstreamProcess = await launch('1', process.execPath, [join(root, 'bench/fixtures/upstream.mjs')], /port \d+/);
    const upstream = `127.0.0.1:${/port (\d+)/.exec(upstreamProcess.output())![1]}`;
    const only = process.env.BENCH_INSTR_SCENARIOS?.split(',').map((name) => name.trim());
    const list = scenarios(upstream).filter((s) => !only || only.some((name) => s.name.startsWith(name)));
    const valgrind = ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${join(work, 'cg.%p')}`];
    // Instructions per request: scenario → build label → figure.
    const figures = new Map<string, Map<string, Window[]>>();
    process.stdout.write(
      `callgrind: per scenario and build a fresh gateway, ${WARMUP} warm-up requests, then ${WINDOWS} windows of ${REQUESTS} counted (MCP: tools/call, from one session or 16), ${CONNECTIONS} connections\n`,
    );
    // A fresh gateway per scenario and build: what one scenario teaches V8 (and undoes when
    // another takes over) never lands in another's figure.
    for (const scenario of list) {
      for (const [b, build] of builds.entries()) {
        const dir = join(work, `${b}-${scenario.route.id}`);
        const env: Record<string, string> = { TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_DATA_DIR: dir };
        const args: string[] = [];
        if (scenario.logged) {
          const config = join(work, `${b}-${scenario.route.id}.yaml`);
          writeFileSync(config, `access_log:\n  path: ${JSON.stringify(join(dir, 'access.log'))}\n`);
          args.push('--config', config);
        } else {
          env.TOLLGATE_ACCESS_LOG = 'false';
        }
        // V8 writes /tmp/perf-<pid>.map, which names the JIT code callgrind saw only as addresses.
        if (PROFILE_DIR) env.NODE_OPTIONS = '--perf-basic-prof-only-functions';
        const gw = await startGateway(build, { env, args, wrapper: valgrind, nodeFlags: NODE_FLAGS });
        await admin(gw.admin, 'PUT', '/consumers', {
          username: 'bench',
          plugins: { 'key-auth': { key: API_KEY }, 'jwt-auth': { key: 'bench-jwt', secret: JWT_SECRET } },
        });
        await admin(gw.admin, 'PUT', `/routes/${scenario.route.id}`, scenario.route.body);
        if (scenario.globalRule) await admin(gw.admin, 'PUT', '/global_rules/g', scenario.globalRule);
        const driver = await scenario.open(gw);
        const count = REQUESTS;
        await driver.send(WARMUP);
        callgrind(gw.pid, '-i', 'on');
        callgrind(gw.pid, '-z');
        // Windows back to back; the dumps are read once the gateway is gone.
        const dumps: string[] = [];
        for (let w = 0; w < WINDOWS; w++) {
          await driver.send(count);
          dumps.push(await dump(gw.pid, work));
        }
        await driver.close();
        const child = launched.find((c) => c.pid === gw.pid)!;
        child.kill('SIGKILL');
        await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.once('exit', r) : r(undefined)));
        if (PROFILE_DIR) {
          for (const [w, file] of dumps.entries()) {
            const keepAs = join(PROFILE_DIR, `${build.label}-${scenario.name}-${w + 1}`.replace(/[^\w@.-]+/g, '_'));
            copyFileSync(file, `${keepAs}.callgrind`);
            copyFileSync(`/tmp/perf-${gw.pid}.map`, `${keepAs}.map`);
          }
          rmSync(`/tmp/perf-${gw.pid}.map`, { force: true });
        }
        const windows = dumps.map((file) => windowOf(file, count));
        const k = (n: number) => `${(n / 1000).toFixed(1)}`;
        process.stdout.write(
          `${build.label}: ${scenario.name}: ${windows.map((w) => k(w.steady)).join(' ')} k instructions per request (garbage collector ${windows.map((w) => k(w.gc)).join(' ')}; compilers ${windows.map((w) => k(w.total - w.steady)).join(' ')} more)\n`,
        );
        const byBuild = figures.get(scenario.name) ?? new Map<string, Window[]>();
        figures.set(scenario.name, byBuild);
        byBuild.set(build.label, windows);
      }
    }
    const labels = builds.map((b) => b.label);
    const ratio = labels.length > 1 ? [`${labels[0]} / ${labels[1]}`] : [];
    const steady = (byBuild: Map<string, Window[]>, label: string) => byBuild.get(label)!.map((w) => w.steady);
    const of = (byBuild: Map<string, Window[]>, label: string) => median(steady(byBuild, label));
    const k = (n: number) => (n / 1000).toFixed(1);
    printTable(
      `Instructions per request, thousands (callgrind, V8's compilers left out; median of ${WINDOWS} windows, range in brackets; lower is better)`,
      [...figures].map(([name, byBuild]): Row => ({
        name,
        ...Object.fromEntries(labels.map((l) => [l, `${k(of(byBuild, l))} [${k(Math.min(...steady(byBuild, l)))}–${k(Math.max(...steady(byBuild, l)))}]`])),
        ...Object.fromEntries(labels.map((l) => [`GC ${l}`, k(median(byBuild.get(l)!.map((w) => w.gc)))])),
        ...(ratio.length > 0 ? { [ratio[0]]: `${((of(byBuild, labels[0]) / of(byBuild, labels[1])) * 100).toFixed(1)}%` } : {}),
      })),
      [...labels, ...labels.map((l) => `GC ${l}`), ...ratio],
    );
  } finally {
    for (const child of launched) if (child.exitCode === null) child.kill('SIGTERM');
    await sleep(500);
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
}
