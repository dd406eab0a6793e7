/**
 * Scale-out test support: real `tollgate start` processes with several workers or sharing one
 * Redis, and requests on fresh connections (node:cluster balances connections, not requests, so
 * keep-alive would pin a test to one worker).
 */
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';

export const ADMIN_KEY = 'scale-admin-key-0123456789abcdef';
export const FIXTURE_PLUGINS = join(REPO_ROOT, 'test/fixtures/plugins');

export interface ScaleGatewayOptions {
  dir: string;
  workers?: number | 'auto';
  /** Redis catalog at this URL (key prefix `keyPrefix`); embedded otherwise. */
  redisUrl?: string;
  keyPrefix?: string;
  /** Redis Cluster seed nodes for the gateway's own Redis (catalog and `policy: redis`). */
  cluster?: boolean;
  config?: Record<string, unknown>;
  env?: Record<string, string>;
}

/** A gateway process; its data dir and config file live in `dir` (one per gateway). */
export function startScaleGateway(options: ScaleGatewayOptions): Promise<GatewayProcess> {
  const config: Record<string, unknown> = {
    gateway: { workers: options.workers ?? 1, data_dir: options.dir },
    plugin_dirs: [FIXTURE_PLUGINS],
    access_log: { enabled: false },
    ...(options.redisUrl
      ? { catalog: { backend: 'redis', poll_interval: 0.5 }, redis: { url: options.redisUrl, key_prefix: options.keyPrefix ?? 'scale', ...(options.cluster ? { cluster: true } : {}) } }
      : {}),
    ...options.config,
  };
  const file = join(options.dir, 'config.yaml');
  writeFileSync(file, stringify(config));
  return spawnGateway({ TOLLGATE_ADMIN_KEY: ADMIN_KEY, ...options.env }, ['--config', file]);
}

export interface FreshResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request on a connection of its own, closed afterwards. */
export function fresh(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<FreshResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', agent: false, headers: { connection: 'close', ...options.headers }, timeout: options.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in time'), { code: 'TIMEOUT' })));
    req.end(options.body);
  });
}

/** The pids that served `count` requests to `url`, each on a fresh connection (non-200s count as `status:<n>`). */
export async function servedBy(url: string, count: number, headers?: Record<string, string>): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fresh(url, { headers });
    out.push(res.status === 200 ? String(res.headers['x-worker-pid']) : `status:${res.status}`);
  }
  return out;
}

export function route(id: string, uri: string, upstream: string, plugins: Record<string, unknown> = {}) {
  return [`/routes/${id}`, { uri, plugins: { 'worker-pid': {}, ...plugins }, upstream: { nodes: { [upstream]: 1 } } }] as const;
}
