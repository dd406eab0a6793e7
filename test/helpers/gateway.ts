/**
 * Real gateways for tests: in-process (fast; the same startGateway as `tollgate start`) or as a
 * separate process (for multi-instance, restart and signal tests). Ports are always 0 / free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { startGateway, type RunningGateway, type StartOptions } from '../../bin/gateway.js';
import { waitFor } from './processes.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';
/** How tests run the gateway from source: tsx, and `tollgate` resolving to core/ (not dist/). */
export const SOURCE_NODE_ARGS = ['--import', 'tsx', '--conditions=tollgate-source'];

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await request(url, { method: method as 'GET', body: payload, headers });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers as HttpResult['headers'], text, json };
}

export interface TestGateway {
  running: RunningGateway;
  /** Data plane base URL. */
  url: string;
  adminUrl: string;
  statusUrl: string;
  dataDir: string;
  /** Logs captured from pino (JSON lines). */
  logs: string[];
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  admin(method: string, path: string, body?: unknown, key?: string): Promise<HttpResult>;
  stop(): Promise<void>;
}

export interface TestGatewayOptions extends Omit<StartOptions, 'file'> {
  overrides?: Record<string, unknown>;
  redisUrl?: string;
  keyPrefix?: string;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const overrides = deepMerge(
    {
      gateway: { listen: '127.0.0.1:0', data_dir: dataDir },
      admin: { listen: '127.0.0.1:0', key: TEST_ADMIN_KEY },
      status: { listen: '127.0.0.1:0' },
      log: { level: 'info' },
      ...(options.redisUrl
        ? { catalog: { backend: 'redis', poll_interval: 0.2 }, redis: { url: options.redisUrl, key_prefix: options.keyPrefix ?? `t${Date.now()}${Math.random().toString(36).slice(2, 8)}` } }
        : {}),
    },
    options.overrides ?? {},
  );
  const running = await startGateway({ ...options, overrides, env: {}, logDestination: sink });
  const base = (a: { host: string; port: number }) => `http://${a.host}:${a.port}`;
  const url = base(running.addresses.dataPlane);
  const adminUrl = `${base(running.addresses.admin!)}/apisix/admin`;
  return {
    running,
    url,
    adminUrl,
    statusUrl: running.addresses.status ? base(running.addresses.status) : '',
    dataDir,
    logs,
    get: (path, headers) => http('GET', url + path, undefined, headers),
    request: (method, path, body, headers) => http(method, url + path, body, headers),
    admin: (method, path, body, key = TEST_ADMIN_KEY) =>
      http(method, adminUrl + path, body, { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }),
    async stop() {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  statusUrl: string;
  output: () => string;
  admin(method: string, path: string, body?: unknown): Promise<HttpResult>;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `tollgate start` as a real process; env and args as given, ports picked by the OS. */
export async function spawnGateway(env: Record<string, string>, args: string[] = []): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...SOURCE_NODE_ARGS, join(REPO_ROOT, 'bin/tollgate.ts'), 'start', ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TOLLGATE_LISTEN: '127.0.0.1:0',
      TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
      TOLLGATE_STATUS_LISTEN: '127.0.0.1:0',
      TOLLGATE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const started = await waitFor(() => /admin key/.test(out) || child.exitCode !== null, 30_000);
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
    output: () => out,
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

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      typeof value === 'object' && value && !Array.isArray(value) && typeof current === 'object' && current && !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
