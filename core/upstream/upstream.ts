/**
 * An upstream as APISIX describes it (nodes, balancer type, timeouts, retries, scheme, pass_host),
 * turned into something that picks a node and hands out its connection pool. Pools are shared
 * between upstreams through the PoolRegistry and released when the upstream is disposed.
 */
import { splitHostPort } from '../address.js';
import { createBalancer, type Balancer, type UpstreamNode } from './balancer.js';
import { NodePool, type NodePoolOptions } from './node-pool.js';
import { compileTemplate, type Template } from '../template.js';
import { RefCountedMap, type Held } from '../ref-counted-map.js';

export interface UpstreamTimeouts {
  /** Seconds. */
  connect: number;
  send: number;
  read: number;
}

export interface UpstreamDefinition {
  type?: 'roundrobin' | 'chash' | 'least_conn';
  nodes: Record<string, number> | Array<{ host: string; port?: number; weight: number; priority?: number }>;
  hash_on?: 'vars' | 'header' | 'cookie' | 'consumer' | 'vars_combinations';
  key?: string;
  retries?: number;
  retry_timeout?: number;
  timeout?: UpstreamTimeouts;
  scheme?: 'http' | 'https';
  pass_host?: 'pass' | 'node' | 'rewrite';
  upstream_host?: string;
  keepalive_pool?: { size?: number; idle_timeout?: number; requests?: number };
  tls?: { verify?: boolean };
}

export interface UpstreamDefaults {
  timeout: UpstreamTimeouts;
  keepaliveConnections: number;
  keepaliveTimeout: number;
}

/** Shares one NodePool per origin and settings; closes it when the last user releases it. */
export class PoolRegistry {
  // Graceful: requests in flight on the old route version finish first.
  private readonly pools = new RefCountedMap<NodePool>((pool) => pool.close().catch(() => pool.destroy().catch(() => {})));

  acquire(options: NodePoolOptions): Held<NodePool> {
    return this.pools.acquire(JSON.stringify(options), () => new NodePool(options));
  }

  /** Shutdown: every pool destroyed at once, not drained. */
  async closeAll(): Promise<void> {
    const closing: Array<Promise<void>> = [];
    this.pools.clear((pool) => closing.push(pool.destroy().catch(() => {})));
    await Promise.all(closing);
  }

  get size(): number {
    return this.pools.size;
  }
}

export class Upstream {
  readonly nodes: UpstreamNode[];
  readonly balancer: Balancer;
  readonly retries: number;
  readonly retryTimeoutMs: number;
  readonly timeout: UpstreamTimeouts;
  readonly scheme: 'http' | 'https';
  readonly passHost: 'pass' | 'node' | 'rewrite';
  readonly upstreamHost?: string;
  readonly hashOn: NonNullable<UpstreamDefinition['hash_on']>;
  readonly hashKey?: string;
  /** `key` of `hash_on: vars_combinations`, a `$var` template compiled once. */
  readonly hashTemplate?: Template;
  /** Per node, per connect timeout (routes sharing this upstream may set their own). */
  private readonly dispatchers = new Map<UpstreamNode, Map<number, Held<NodePool>>>();
  private inFlight = 0;
  private disposed = false;

  constructor(
    readonly definition: UpstreamDefinition,
    private readonly pools: PoolRegistry,
    private readonly defaults: UpstreamDefaults,
  ) {
    this.scheme = definition.scheme ?? 'http';
    this.nodes = parseNodes(definition.nodes, this.scheme === 'https' ? 443 : 80);
    this.balancer = createBalancer(definition.type ?? 'roundrobin', this.nodes);
    this.retries = definition.retries ?? Math.max(0, this.nodes.length - 1);
    this.retryTimeoutMs = (definition.retry_timeout ?? 0) * 1000;
    this.timeout = definition.timeout ?? defaults.timeout;
    this.passHost = definition.pass_host ?? 'pass';
    this.upstreamHost = definition.upstream_host;
    this.hashOn = definition.hash_on ?? 'vars';
    this.hashKey = definition.key;
    if (this.hashOn === 'vars_combinations') this.hashTemplate = compileTemplate(definition.key ?? '');
  }

  /** The node's pool, created on first use (a route that never gets traffic opens nothing). */
  dispatcher(node: UpstreamNode, routeTimeout?: UpstreamTimeouts): NodePool {
    const connectTimeoutMs = Math.round((routeTimeout ?? this.timeout).connect * 1000);
    let byTimeout = this.dispatchers.get(node);
    let pool = byTimeout?.get(connectTimeoutMs);
    if (!pool) {
      const keepalive = this.definition.keepalive_pool ?? {};
      const held = this.pools.acquire({
        origin: `${this.scheme}://${node.address}`,
        connectTimeoutMs,
        idleConnections: keepalive.size ?? this.defaults.keepaliveConnections,
        keepAliveMs: Math.round((keepalive.idle_timeout ?? this.defaults.keepaliveTimeout) * 1000),
        maxRequestsPerClient: keepalive.requests ?? 1000,
        verifyTls: this.definition.tls?.verify ?? true,
      });
      if (!byTimeout) this.dispatchers.set(node, (byTimeout = new Map()));
      byTimeout.set(connectTimeoutMs, held);
      return held.value;
    }
    return pool.value;
  }

  /**
   * A request starts using this upstream. Until it ends, the upstream keeps its pools even if it
   * is replaced or deleted meanwhile: a request that matched the old route version finishes on
   * it, retries included (issue 10: edits failed requests in flight with 502).
   */
  begin(): void {
    this.inFlight += 1;
  }

  end(): void {
    this.inFlight -= 1;
    if (this.disposed && this.inFlight === 0) this.releasePools();
  }

  /** No new request will match this upstream; its pools go once the last request has ended. */
  dispose(): void {
    this.disposed = true;
    if (this.inFlight === 0) this.releasePools();
  }

  private releasePools(): void {
    for (const byTimeout of this.dispatchers.values()) for (const held of byTimeout.values()) held.release();
    this.dispatchers.clear();
  }
}

export function parseNodes(nodes: UpstreamDefinition['nodes'], defaultPort: number): UpstreamNode[] {
  const list = Array.isArray(nodes)
    ? nodes.map((n) => ({ ...(n.port === undefined ? splitAddress(n.host) : { host: n.host, port: n.port }), weight: n.weight, priority: n.priority ?? 0 }))
    : Object.entries(nodes).map(([address, weight]) => ({ ...splitAddress(address), weight, priority: 0 }));
  return list.map((n) => {
    const host = n.host.startsWith('[') ? n.host.slice(1, -1) : n.host;
    const port = n.port ?? defaultPort;
    return { host, port, weight: n.weight, priority: n.priority, address: `${host.includes(':') ? `[${host}]` : host}:${port}` };
  });
}

function splitAddress(address: string): { host: string; port?: number } {
  const { host, port } = splitHostPort(address);
  return port ? { host, port: Number(port) } : { host };
}
