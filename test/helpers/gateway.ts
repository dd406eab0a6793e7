/**
 * Real gateways for tests: in-process (fast; the same startGateway as `tollgate start`) or as a
 * separate process (for multi-instance, restart and signal tests). Ports are always 0 / free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { http, type HttpResult } from '../../bin/testing.js';
import { gatewayBuild } from './gateway-build.js';
import { waitFor } from './processes.js';

export { http, startTestGateway, TEST_ADMIN_KEY } from '../../bin/testing.js';
export type { HttpResult, TestGateway, TestGatewayOptions } from '../../bin/testing.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/** How tests run the gateway from source: tsx, and `tollgate` resolving to core/ (not dist/). */
export const SOURCE_NODE_ARGS = ['--import', 'tsx', '--conditions=tollgate-source'];

/**
 * Node's arguments for `tollgate` from this checkout's sources compiled as they are now
 * (test/helpers/gateway-build.ts): half the CPU of a start under tsx.
 */
export function gatewayCommand(): string[] {
  return ['--conditions=tollgate-source', join(gatewayBuild(REPO_ROOT), 'bin/tollgate.js')];
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  statusUrl: string;
  /** The Prometheus exporter's URL (path included). */
  metricsUrl: string;
  output: () => string;
  /**
   * Whether the output comes to match `pattern` within `timeoutMs`. The gateway's logger writes
   * asynchronously (pino), so a line logged before an answer can reach the pipe after it, and
   * after the start-up banner: assert on logs with this, not on output() at once.
   */
  logged(pattern: RegExp | string, timeoutMs?: number): Promise<boolean>;
  admin(method: string, path: string, body?: unknown): Promise<HttpResult>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnGatewayOptions {
  /** A command that execs the gateway, e.g. `['prlimit', '--fsize=8192', '--']` to cap file sizes. */
  wrapper?: string[];
}

/** `tollgate start` as a real process; env and args as given, ports picked by the OS. */
export async function spawnGateway(env: Record<string, string>, args: string[] = [], options: SpawnGatewayOptions = {}): Promise<GatewayProcess> {
  const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
  const child = spawn(command, [...prefix, ...gatewayCommand(), 'start', ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TOLLGATE_LISTEN: '127.0.0.1:0',
      TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
      TOLLGATE_STATUS_LISTEN: '127.0.0.1:0',
      TOLLGATE_METRICS_LISTEN: '127.0.0.1:0',
      TOLLGATE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // A start is a full import of the sources (about 0.65 s of CPU compiled, 1.5 s under tsx; more
  // for each worker); when several test files start multi-process gateways at once on 2 cores,
  // 30 s was not always enough.
  const started = await waitFor(() => /admin key/.test(out) || child.exitCode !== null, 60_000);
  if (!started || child.exitCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`gateway did not start:\n${out}`);
  }
  const find = (label: string) => new RegExp(`${label}\\s+(http://\\S+)`).exec(out)?.[1] ?? '';
  const adminUrl = find('admin api');
  const key = env.TOLLGATE_ADMIN_KEY ?? /admin key\s+(\S+)/.exec(out)?.[1] ?? '';
  return {
    child,
    url: find('data plane'),
    adminUrl,
    statusUrl: find('status').replace(/\/status\/ready$/, ''),
    metricsUrl: find('metrics'),
    output: () => out,
    logged: (pattern, timeoutMs = 10_000) => waitFor(() => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out)), timeoutMs),
    admin: (method, path, body) =>
      http(method, adminUrl + path, body, { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
