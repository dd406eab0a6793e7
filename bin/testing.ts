/**
 * Test support for plugin authors and for Tollgate's own suite (`import { startTestGateway } from
 * 'tollgate/testing'`): a real gateway in this process on free ports, with a temporary data
 * directory, a known admin key, captured logs, and small HTTP helpers. No mocks: what a test
 * sends goes through the same pipeline as production traffic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { mergeConfig } from '../core/config.js';
import { startGateway, type RunningGateway, type StartOptions } from './gateway.js';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';

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
  /** The Prometheus exporter's URL (path included); empty when metrics are disabled. */
  metricsUrl: string;
  dataDir: string;
  /** Logs captured from pino (JSON lines). */
  logs: string[];
  /** Access log lines (JSON), one per finished request. */
  accessLogs: string[];
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult>;
  admin(method: string, path: string, body?: unknown, key?: string): Promise<HttpResult>;
  stop(): Promise<void>;
}

export interface TestGatewayOptions extends Omit<StartOptions, 'file'> {
  /** Config keys, as in conf/config.yaml (e.g. `{ plugin_dirs: ['./my-plugins'] }`). */
  overrides?: Record<string, unknown>;
  /** Use a Redis catalog at this URL (with a fresh key prefix) instead of the embedded one. */
  redisUrl?: string;
  keyPrefix?: string;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const logs: string[] = [];
  const accessLogs: string[] = [];
  const capture = (lines: string[]) =>
    new Writable({
      write(chunk, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
  const sink = capture(logs);
  const overrides = mergeConfig(
    {
      gateway: { listen: '127.0.0.1:0', data_dir: dataDir },
      admin: { listen: '127.0.0.1:0', key: TEST_ADMIN_KEY },
      status: { listen: '127.0.0.1:0' },
      metrics: { listen: '127.0.0.1:0' },
      log: { level: 'info' },
      ...(options.redisUrl
        ? { catalog: { backend: 'redis', poll_interval: 0.2 }, redis: { url: options.redisUrl, key_prefix: options.keyPrefix ?? `t${Date.now()}${Math.random().toString(36).slice(2, 8)}` } }
        : {}),
    },
    options.overrides ?? {},
  );
  // Access lines are captured, unless the test asks for a file (access_log.path).
  const accessPath = (options.overrides?.access_log as { path?: unknown } | undefined)?.path;
  const accessLogDestination = options.accessLogDestination ?? (typeof accessPath === 'string' && accessPath !== '' ? undefined : capture(accessLogs));
  const running = await startGateway({ ...options, overrides, env: {}, logDestination: sink, accessLogDestination });
  const base = (a: { host: string; port: number }) => `http://${a.host}:${a.port}`;
  const url = base(running.addresses.dataPlane);
  const adminUrl = `${base(running.addresses.admin!)}/apisix/admin`;
  return {
    running,
    url,
    adminUrl,
    statusUrl: running.addresses.status ? base(running.addresses.status) : '',
    metricsUrl: running.addresses.metrics ? `${base(running.addresses.metrics)}${running.config.metrics.path}` : '',
    dataDir,
    logs,
    accessLogs,
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
