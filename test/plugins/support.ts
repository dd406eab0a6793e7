/**
 * Shared pieces of the traffic-control plugin tests: route shortcuts, a content plugin that
 * answers JSON-RPC (so limits keyed on MCP variables can be tested without child processes), and
 * a TCP proxy in front of Redis that can black-hole traffic (a Redis that hangs rather than one
 * that refuses: the case ioredis's defaults would wait on forever).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import type { HttpResult, TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import type { TestUpstream } from '../helpers/upstream.js';

export function putRoute(gw: TestGateway, id: string, uri: string, upstream: TestUpstream, plugins: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return gw.admin('PUT', `/routes/${id}`, { uri, upstream: { nodes: { [upstream.address]: 1 } }, plugins, ...extra });
}

/**
 * A stored route's plugin configs with their defaults filled, as the route runs them: records are
 * stored as sent (APISIX 3.14), and `POST /schema/validate` shows a body as it will be used.
 */
export async function pluginsInUse(gw: TestGateway, routeId: string): Promise<Record<string, unknown>> {
  const { create_time: _c, update_time: _u, ...route } = (await gw.admin('GET', `/routes/${routeId}`)).json.value;
  return (await gw.admin('POST', '/schema/validate/routes', route)).json.value.plugins;
}

export function putConsumer(gw: TestGateway, username: string, plugins: Record<string, unknown>) {
  return gw.admin('PUT', '/consumers', { username, plugins });
}

/** Statuses of `n` sequential GETs. */
export async function statuses(gw: TestGateway, n: number, path: string, headers?: Record<string, string>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await gw.get(path, headers)).status);
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * GETs `path` again and again until the answer is not `status` (a breaker still open, a limit
 * still refusing), and returns that answer with when its request was sent and when it arrived:
 * tests wait exactly as long as the gateway makes them, and can check that wait against a lower
 * bound, which a slow machine only makes longer.
 */
export async function firstAnswerOtherThan(
  gw: TestGateway,
  path: string,
  status: number,
  timeoutMs = 10_000,
): Promise<{ res: HttpResult; sentAt: number; at: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sentAt = Date.now();
    const res = await gw.get(path);
    if (res.status !== status) return { res, sentAt, at: Date.now() };
    if (Date.now() > deadline) throw new Error(`${path} still answered ${status} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * A content plugin standing in for an MCP server: routes using it get `ctx.gateway.mcp` parsed
 * by the core (method, tool name), and answer every JSON-RPC request with a result naming the
 * tool. Registered only in the tests that load it (extraPlugins).
 */
export const jsonRpcEcho = definePlugin<{ base_uri: string }>({
  name: 'test-jsonrpc-echo',
  version: '1.0.0',
  priority: 9,
  schema: { type: 'object', additionalProperties: false, properties: { base_uri: { type: 'string', default: '' } } },
  requestOptions: (conf) => ({ jsonRpc: { basePath: conf.base_uri } }),
  content(ctx) {
    const mcp = ctx.gateway.mcp;
    ctx.type = 'application/json';
    ctx.body = { jsonrpc: '2.0', id: mcp?.id ?? null, result: { method: mcp?.method, tool: mcp?.name, consumer: ctx.gateway.consumer?.username } };
  },
});

export function toolCall(id: number, tool: string) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name: tool, arguments: {} } };
}

export interface FaultProxy {
  port: number;
  url: string;
  /** Stop forwarding in both directions: bytes wait in the sockets, as on a network that went silent. */
  blackhole(): void;
  /** Forward again, delivering what waited. */
  restore(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const held: Array<() => void> = [];
  let silent = false;
  const forward = (from: Socket, to: Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (silent) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    blackhole: () => {
      silent = true;
    },
    restore: () => {
      silent = false;
      for (const deliver of held.splice(0)) deliver();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TestRedisCluster {
  /** Seed nodes as "host:port", as `redis_cluster_nodes` takes them. */
  nodes: string[];
  stop(): Promise<void>;
}

/** Three redis-server masters (no replicas) joined into a cluster, keeping nothing on disk but their node files. */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const ports: number[] = [];
  while (ports.length < 3) {
    const port = await clusterPort();
    if (!ports.includes(port)) ports.push(port);
  }
  const servers: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      servers.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      servers.push(
        spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' }),
      );
    }
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    const cli = (args: string[]) => execFileSync('redis-cli', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const up = await waitFor(() => ports.every((p) => { try { return cli(['-p', String(p), 'ping']).trim() === 'PONG'; } catch { return false; } }), 5000, 50);
    if (!up) throw new Error('cluster nodes did not start');
    cli(['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
    const ok = await waitFor(() => ports.every((p) => cli(['-p', String(p), 'cluster', 'info']).includes('cluster_state:ok')), 10_000, 100);
    if (!ok) throw new Error('cluster did not reach state ok');
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A port that is free together with port + 10000 (a cluster node's bus port), below 55536. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if ((await canListen(port)) && (await canListen(port + 10000))) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
