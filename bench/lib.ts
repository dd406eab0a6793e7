/**
 * Shared benchmark machinery: one load generator for every contender in a run (wrk when it is
 * installed, else autocannon in its own process), and a table printer with ratios against the
 * run's baseline. Benchmarks compare side by side in one run; they are never timed tests.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { request } from 'undici';
import { descendants } from '../test/helpers/processes.js';
import type { Build } from './revision.js';

export interface LoadOptions {
  url: string;
  /** Seconds. */
  duration: number;
  connections: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Requests per second to hold (open-loop fixed rate, for latency at a given load). */
  rate?: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export function loadGenerator(): 'wrk' | 'autocannon' {
  if (process.env.BENCH_LOADGEN === 'autocannon') return 'autocannon';
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return 'wrk';
  } catch (err) {
    // wrk --version exits 1 but prints; ENOENT means it is missing.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'autocannon' : 'wrk';
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.rate !== undefined) return loadGenerator() === 'wrk' ? runWrkPaced(options, options.rate) : runFixedRate(options);
  if (loadGenerator() === 'wrk') return runWrk(options);
  return runAutocannon(options);
}

/** Milliseconds each wrk connection waits between its requests in paced mode. */
const PACE_MS = 4;

/**
 * wrk at (about) a given rate: each connection waits PACE_MS after a response before its next
 * request, and the number of connections sets the rate. wrk measures latency in µs at rates a
 * Node load generator cannot hold; the result reports the rate actually achieved.
 */
function runWrkPaced(options: LoadOptions, rate: number): Promise<LoadResult> {
  const connections = Math.max(2, Math.round((rate * PACE_MS) / 1000));
  return runWrk({ ...options, connections }, `function delay() return ${PACE_MS} end\n`);
}

/** CPU the load generator is pinned to when taskset exists (contenders go on CPU 0). */
export const LOADGEN_CPU = '1';

export const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Runs `command` pinned to `cpu` when taskset is available. */
export function pinned(cpu: string, command: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

async function runFixedRate(options: LoadOptions): Promise<LoadResult> {
  const script = new URL('./fixtures/fixed-rate.mjs', import.meta.url).pathname;
  const out = await capture(...pinned(LOADGEN_CPU, process.execPath, [script, options.url, String(options.rate), String(options.duration), String(options.connections)]));
  const r = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; ok: number; errors: number; p50: number; p99: number };
  return { rps: r.ok / options.duration, p50: r.p50, p99: r.p99, errors: r.errors, non2xx: 0 };
}

const WRK_REPORT = `
done = function(summary, latency, requests)
  io.write(string.format("JSON{\\"requests\\":%d,\\"duration\\":%d,\\"p50\\":%d,\\"p99\\":%d,\\"errors\\":%d,\\"non2xx\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status))
end
`;

async function runWrk(options: LoadOptions, extraLua = ''): Promise<LoadResult> {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const script = join(dir, 'report.lua');
  let lua = WRK_REPORT + extraLua;
  if (options.method || options.body || options.headers) {
    lua += `wrk.method = ${JSON.stringify(options.method ?? 'GET')}\n`;
    if (options.body !== undefined) lua += `wrk.body = ${JSON.stringify(options.body)}\n`;
    for (const [k, v] of Object.entries(options.headers ?? {})) lua += `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}\n`;
  }
  writeFileSync(script, lua);
  const out = await capture(...pinned(LOADGEN_CPU, 'wrk', ['-t1', `-c${options.connections}`, `-d${options.duration}s`, '--latency', '-s', script, options.url]));
  const line = out.split('\n').find((l) => l.startsWith('JSON'));
  if (!line) throw new Error(`wrk gave no report:\n${out}`);
  const r = JSON.parse(line.slice(4)) as { requests: number; duration: number; p50: number; p99: number; errors: number; non2xx: number };
  return { rps: r.requests / (r.duration / 1e6), p50: r.p50 / 1000, p99: r.p99 / 1000, errors: r.errors, non2xx: r.non2xx };
}

async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const require = createRequire(import.meta.url);
  const bin = require.resolve('autocannon/autocannon.js');
  const args = [bin, '-j', '-c', String(options.connections), '-d', String(options.duration), '-m', options.method ?? 'GET'];
  if (options.rate) args.push('-R', String(options.rate));
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (options.body !== undefined) args.push('-b', options.body);
  args.push(options.url);
  const out = await capture(...pinned(LOADGEN_CPU, process.execPath, args));
  const r = JSON.parse(out.slice(out.indexOf('{'))) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    errors: number;
    non2xx: number;
  };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx };
}

function capture(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}:\n${out}`))));
  });
}

export interface Row {
  name: string;
  [column: string]: string | number;
}

/** Prints an aligned table; numbers get fixed decimals. */
export function printTable(title: string, rows: Row[], columns: string[]): void {
  const format = (v: string | number | undefined) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : (v ?? ''));
  const header = ['name', ...columns];
  const cells = rows.map((r) => header.map((c) => String(format(r[c]))));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  process.stdout.write(`\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

export function machineSummary(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load generator ${loadGenerator()}`;
}

/**
 * CPU time a process has used, in microseconds, from /proc (Linux): its time on a CPU in ns from
 * /proc/<pid>/schedstat, else user + system time from /proc/<pid>/stat. The latter is counted in
 * whole clock ticks (10 ms) per process, so summed over a hundred children that each ran 5 ms it
 * says 0; schedstat counts every nanosecond.
 */
export function cpuMicros(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  }
}

export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

/** One contender's result in one round of a saturation run. */
export type Round = LoadResult & { cpuPerRequest: number };

/** The median over the rounds of a's rps over b's in the same round (same background load). */
export function rpsRatio(a: Round[], b: Round[]): number {
  return median(a.map((r, round) => r.rps / b[round].rps));
}

/** b's median CPU time per request over a's: a's throughput relative to b's on a core of its own. */
export function cpuRatio(a: Round[], b: Round[]): number {
  return median(b.map((r) => r.cpuPerRequest)) / median(a.map((r) => r.cpuPerRequest));
}

export const percent = (ratio: number): string => `${(ratio * 100).toFixed(0)}%`;

export interface Launched {
  child: ChildProcess;
  output(): string;
}

/**
 * Starts a contender (pinned to `cpu` when taskset exists) and resolves once its output matches
 * `ready`. The caller ends it (every launched process is in `launched`).
 */
export function launch(cpu: string, command: string, args: string[], ready: RegExp, env: Record<string, string> = {}, cwd?: string): Promise<Launched> {
  return launchUnpinned(...pinned(cpu, command, args), ready, env, cwd);
}

function launchUnpinned(cmd: string, argv: string[], ready: RegExp, env: Record<string, string> = {}, cwd?: string): Promise<Launched> {
  const child = spawn(cmd, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  launched.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (ready.test(out)) {
        clearInterval(timer);
        resolve({ child, output: () => out });
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`${cmd} ${argv.join(' ')} exited:\n${out}`));
      }
    }, 20);
  });
}

export const launched: ChildProcess[] = [];

export interface BenchGateway {
  url: string;
  admin: string;
  pid: number;
  output(): string;
}

export interface GatewayLaunch {
  /** The CPU to pin the gateway to (taskset), or none. */
  cpu?: string;
  env: Record<string, string>;
  /** Arguments after `tollgate start`. */
  args?: string[];
  /** A command that runs node, e.g. valgrind with its options. */
  wrapper?: string[];
  /** Node flags besides GATEWAY_NODE_FLAGS. */
  nodeFlags?: string[];
}

/**
 * `tollgate start` from a build's dist/ (as the `tollgate` bin runs it), every listener on a port
 * the OS picks. Every build in a run starts the same way.
 */
export async function startGateway(build: Build, { cpu, env, args = [], wrapper = [], nodeFlags = [] }: GatewayLaunch): Promise<BenchGateway> {
  const [executable, ...command] = [...wrapper, process.execPath, ...GATEWAY_NODE_FLAGS, ...nodeFlags, join(build.root, 'dist/bin/tollgate.js'), 'start', ...args];
  const gatewayEnv = {
    TOLLGATE_LISTEN: '127.0.0.1:0',
    TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
    TOLLGATE_STATUS_LISTEN: '127.0.0.1:0',
    TOLLGATE_METRICS_LISTEN: '127.0.0.1:0',
    TOLLGATE_LOG_LEVEL: 'warn',
    ...env,
  };
  const { child, output } = cpu === undefined
    ? await launchUnpinned(executable, command, /admin key/, gatewayEnv, build.root)
    : await launch(cpu, executable, command, /admin key/, gatewayEnv, build.root);
  const find = (label: string) => new RegExp(`${label}\\s+(http://\\S+)`).exec(output())![1];
  return { url: find('data plane'), admin: find('admin api'), pid: child.pid!, output };
}

/** Node flags a gateway runs with, as the `tollgate` bin's shebang passes them (bin/v8-flags.ts). */
export const GATEWAY_NODE_FLAGS = ['--no-allocation-site-pretenuring'];

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The 1, 5 and 15 minute load averages, for the record: above the core count, figures were taken on a busy machine. */
export function loadAverage(): string {
  return loadavg().map((l) => l.toFixed(1)).join(' ');
}

/** PUT to a gateway's Admin API; an error status throws with the body, which names the problem. */
export async function adminPut(base: string, adminKey: string, path: string, body: unknown): Promise<void> {
  const res = await request(`${base}${path}`, {
    method: 'PUT',
    headers: { 'x-api-key': adminKey, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`admin PUT ${path}: ${res.statusCode} ${text}`);
}

/** Resident set size of a process, MiB (0 once it is gone). */
export function rssMiB(pid: number): number {
  return kibibytesOf(`/proc/${pid}/status`, /VmRSS:\s+(\d+)/) / 1024;
}

/**
 * Proportional set size, MiB: each page shared by several processes (node's own code, say)
 * divided among them. Summed over processes it is the memory they take together, where summed
 * RSS counts every shared page once per process.
 */
export function pssMiB(pid: number): number {
  return kibibytesOf(`/proc/${pid}/smaps_rollup`, /^Pss:\s+(\d+)/m) / 1024;
}

function kibibytesOf(file: string, pattern: RegExp): number {
  try {
    return Number(pattern.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // the process ended while we looked
  }
}

export interface TreeMemory {
  /** The root and its live descendants. */
  processes: number;
  rssMiB: number;
  pssMiB: number;
}

/** Memory of a process and every live descendant of it (a gateway and its MCP children). */
export function treeMemory(root: number): TreeMemory {
  const pids = [root, ...descendants(root).map((p) => p.pid)];
  return {
    processes: pids.length,
    rssMiB: pids.reduce((sum, pid) => sum + rssMiB(pid), 0),
    pssMiB: pids.reduce((sum, pid) => sum + pssMiB(pid), 0),
  };
}

/** The value at quantile q (0–1) of ascending values. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export interface CallLoad {
  callsPerSecond: number;
  p50: number;
  p99: number;
  calls: number;
  /** Calls that failed (left out of the latencies), and the first one's message. */
  errors: number;
  firstError?: string;
  /** CPU time per call, µs, of each party (client, gateway, servers…): its processes summed. */
  cpuPerCall: Record<string, number>;
}

/**
 * Every caller calls in a loop, one call at a time, for `seconds`, all at once: calls/s, p50 and
 * p99 of all calls, and the CPU time each party's processes spent per call over the same window.
 * A caller is one session or client; `call(i)` makes its i-th call and rejects on a failure. A
 * failure is counted and the caller goes on, as a load generator does: one reset connection (a
 * keep-alive connection the server closed as the client reused it) must not end a long run.
 */
export async function callInLoops(callers: Array<(i: number) => Promise<unknown>>, seconds: number, parties: Record<string, number[]>): Promise<CallLoad> {
  const cpu = () => Object.fromEntries(Object.entries(parties).map(([party, pids]) => [party, pids.reduce((sum, pid) => sum + cpuMicrosOrZero(pid), 0)]));
  const cpuBefore = cpu();
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    callers.map(async (call) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        try {
          await call(i);
          latencies.push(performance.now() - t);
        } catch (err) {
          errors += 1;
          firstError ??= (err as Error).message ?? String(err);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const cpuAfter = cpu();
  latencies.sort((a, b) => a - b);
  return {
    callsPerSecond: latencies.length / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    calls: latencies.length,
    errors,
    firstError,
    cpuPerCall: Object.fromEntries(Object.keys(parties).map((party) => [party, (cpuAfter[party] - cpuBefore[party]) / latencies.length])),
  };
}

function cpuMicrosOrZero(pid: number): number {
  try {
    return cpuMicros(pid);
  } catch {
    return 0; // gone: a child that ended during the window
  }
}

/**
 * A gateway for an MCP scenario: its own data dir under `work`, access log off (its cost is the
 * Observability section's), the `mcp` attributes given. Attributes a scenario raises above their
 * defaults must be named, with the reason, in its bench file's header and printed output.
 */
export async function startMcpGateway(build: Build, work: string, name: string, adminKey: string, mcp: Record<string, unknown> = {}): Promise<BenchGateway> {
  const config = join(work, `${name}.yaml`);
  // JSON is YAML: the attributes go in as they are.
  writeFileSync(config, `gateway:\n  data_dir: ${JSON.stringify(join(work, `data-${name}`))}\nmcp: ${JSON.stringify(mcp)}\n`);
  return startGateway(build, { env: { TOLLGATE_ADMIN_KEY: adminKey, TOLLGATE_ACCESS_LOG: 'false' }, args: ['--config', config] });
}

/** Ends a launched gateway (its children with it) and waits until it has exited. */
export async function stopGateway(gateway: BenchGateway): Promise<void> {
  const child = launched.find((c) => c.pid === gateway.pid);
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Polls `check` every 25 ms until it holds; false if it still does not after `timeoutMs`. */
export async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * The floor of the MCP benchmarks (bench/fixtures/mcp-floor-server.mjs): a Streamable HTTP
 * endpoint that answers at once, so that what the client and HTTP cost can be told apart.
 */
export function startMcpFloor(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [new URL('./fixtures/mcp-floor-server.mjs', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  launched.push(child);
  return new Promise((resolvePort, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolvePort({ child, url: `http://127.0.0.1:${d.toString().trim()}/mcp` }));
  });
}
