/**
 * Redis connections with gateway-safe settings. ioredis's defaults (no command timeout, an offline
 * queue, 20 retries per request) would make a hot-path call hang while Redis is down; here every
 * command fails fast instead, and callers decide whether to fail open or closed.
 */
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';

/**
 * ioredis, loaded with the first connection: a gateway that uses no Redis (the embedded catalog,
 * local limits) never loads it, about 50 ms of CPU less at start.
 */
let ioredisModule: typeof import('ioredis') | undefined;
export function ioredis(): typeof import('ioredis') {
  return (ioredisModule ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis'));
}

/** The gateway's own Redis: one server, or a Redis Cluster (`redis.cluster: true`). */
export type GatewayRedis = Redis | Cluster;

export interface RedisConnectionOptions {
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** Seconds. */
  commandTimeout?: number;
  /** Seconds. */
  connectTimeout?: number;
  keyPrefix?: string;
  /**
   * `url` names seed nodes of a Redis Cluster (comma-separated URLs; one is enough, the client
   * discovers the rest). Credentials and TLS come from the first URL.
   */
  cluster?: boolean;
}

export interface RedisProvider {
  /** The gateway's own connection (from `redis.url`; a Cluster client when `redis.cluster`); created on first use. */
  shared(): GatewayRedis;
  /** A connection elsewhere (a route's `redis_host`…), shared between callers with equal options. */
  connect(options: RedisConnectionOptions): Redis;
  /** Key prefix every key of the gateway starts with (inside a hash tag for Redis Cluster). */
  readonly keyPrefix: string;
  close(): Promise<void>;
}

/**
 * Milliseconds before reconnection attempt `attempt` (from 1): 100 ms doubling to a 2 s cap, so a
 * Redis that comes back is found again within 2 s however long it was away.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000);
}

export function createRedis(options: RedisConnectionOptions & { cluster: true }): Cluster;
export function createRedis(options: RedisConnectionOptions & { cluster?: false }): Redis;
export function createRedis(options: RedisConnectionOptions): GatewayRedis;
export function createRedis(options: RedisConnectionOptions): GatewayRedis {
  if (options.cluster) return createCluster(options);
  const base: RedisOptions = {
    commandTimeout: Math.round((options.commandTimeout ?? 0.2) * 1000),
    connectTimeout: Math.round((options.connectTimeout ?? 1) * 1000),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Reconnect forever: the gateway must come back by itself.
    retryStrategy: reconnectDelay,
    lazyConnect: false,
  };
  const redis = options.url
    ? new (ioredis().Redis)(options.url, base)
    : new (ioredis().Redis)({
        ...base,
        host: options.host ?? '127.0.0.1',
        port: options.port ?? 6379,
        username: options.username,
        password: options.password,
        db: options.db ?? 0,
      });
  // Errors surface on the commands that fail; the connection's own error events are expected
  // while Redis is away and must not crash the process.
  redis.on('error', () => {});
  return redis;
}

/**
 * A Redis Cluster client with the same fail-fast settings. The offline queue is turned off on the
 * Cluster itself, never in `redisOptions`: there it breaks slot refreshes (ioredis #581). Keys
 * that one script touches share a hash tag (the catalog's `{prefix}`); limit counters do not, so
 * they spread over the shards.
 */
function createCluster(options: RedisConnectionOptions): Cluster {
  const seeds = (options.url ?? '').split(',').map((u) => new URL(u.trim()));
  if (seeds.length === 0 || !seeds[0]) throw new Error('redis.cluster needs redis.url to name at least one node');
  const first = seeds[0];
  const commandTimeout = Math.round((options.commandTimeout ?? 0.2) * 1000);
  const cluster = new (ioredis().Cluster)(
    seeds.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    {
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: Math.max(commandTimeout, 1000),
      redisOptions: {
        username: first.username ? decodeURIComponent(first.username) : undefined,
        password: first.password ? decodeURIComponent(first.password) : undefined,
        tls: first.protocol === 'rediss:' ? {} : undefined,
        commandTimeout,
        connectTimeout: Math.round((options.connectTimeout ?? 1) * 1000),
        maxRetriesPerRequest: 1,
      },
    },
  );
  cluster.on('error', () => {});
  return cluster;
}

export class RedisPool implements RedisProvider {
  private own?: GatewayRedis;
  private readonly others = new Map<string, Redis>();

  constructor(
    private readonly defaults: RedisConnectionOptions,
    readonly keyPrefix: string,
  ) {}

  shared(): GatewayRedis {
    this.own ??= createRedis(this.defaults);
    return this.own;
  }

  connect(options: RedisConnectionOptions): Redis {
    const key = JSON.stringify(options);
    let redis = this.others.get(key);
    if (!redis) {
      redis = createRedis({ commandTimeout: this.defaults.commandTimeout, ...options, cluster: false });
      this.others.set(key, redis);
    }
    return redis;
  }

  /** Whether the gateway's own connection is ready; undefined while nothing has used it. */
  ownReady(): boolean | undefined {
    return this.own ? this.own.status === 'ready' : undefined;
  }

  async close(): Promise<void> {
    const all = [...this.others.values(), ...(this.own ? [this.own] : [])];
    this.others.clear();
    this.own = undefined;
    await Promise.all(all.map((r) => r.quit().catch(() => r.disconnect())));
  }
}
