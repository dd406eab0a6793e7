/**
 * Shared pieces of the traffic-control plugin tests: route shortcuts, a content plugin that
 * answers JSON-RPC (so limits keyed on MCP variables can be tested without child processes), and
 * a TCP proxy in front of Redis that can black-hole traffic (a Redis that hangs rather than one
 * that refuses: the case ioredis's defaults would wait on forever).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { definePlugin } from '../../core/plugin.js';
import type { HttpResult, TestGateway } from '../helpers/gateway.js';
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

export { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
