/**
 * The Redis policy every limit plugin takes (limit-req, limit-count, limit-conn): APISIX's
 * `policy` and `redis_*` fields (`utils/redis-schema.lua`), their checks, and the Redis connection
 * a policy names. Connections are fail-fast (core/redis.ts): a request never waits for a Redis that
 * is away; what a plugin does then is `StoreFailurePolicy`'s (store-failure.ts).
 */
import type { Cluster, Redis } from 'ioredis';
import { hostPortProblem } from '../../core/address.js';
import type { PluginApi } from '../../core/plugin.js';
import { ioredis, reconnectDelay } from '../../core/redis.js';
import type { JsonSchema } from '../../core/schema.js';
import { RefCountedMap, type Held } from '../../core/ref-counted-map.js';

export type LimitPolicy = 'local' | 'redis' | 'redis-cluster';

/** APISIX's policy fields, shared by every limit plugin's config. */
export interface PolicyConf {
  policy: LimitPolicy;
  allow_degradation: boolean;
  redis_host?: string;
  redis_port?: number;
  redis_username?: string;
  redis_password?: string;
  redis_database?: number;
  /** Milliseconds. */
  redis_timeout?: number;
  redis_ssl?: boolean;
  redis_ssl_verify?: boolean;
  redis_keepalive_timeout?: number;
  redis_keepalive_pool?: number;
  redis_cluster_nodes?: string[];
  redis_cluster_name?: string;
}

/** Schema properties of the policy fields (APISIX `utils/redis-schema.lua` names and defaults). */
export const POLICY_PROPERTIES: Record<string, JsonSchema> = {
  policy: {
    enum: ['local', 'redis', 'redis-cluster'],
    default: 'local',
    description:
      'Where counters live: `local` (this gateway process), `redis` (shared by every gateway on one Redis) or `redis-cluster`.',
  },
  allow_degradation: {
    type: 'boolean',
    default: false,
    description:
      'When the Redis store is unavailable: false answers 503 with Retry-After (fail closed); true lets requests through, counted in a metric and logged.',
  },
  redis_host: {
    type: 'string',
    minLength: 1,
    description: "policy redis: another Redis than the gateway's own (`redis.url` in config.yaml), which is used when this is unset.",
  },
  redis_port: { type: 'integer', minimum: 1, maximum: 65535, description: 'policy redis: port of `redis_host` (default 6379).' },
  redis_username: { type: 'string', minLength: 1, description: 'Redis ACL user for `redis_host` or the cluster nodes.' },
  redis_password: { type: 'string', minLength: 0, writeOnly: true, description: 'Redis password (masked for the viewer role).' },
  redis_database: { type: 'integer', minimum: 0, description: 'policy redis: database number on `redis_host` (default 0).' },
  redis_timeout: {
    type: 'integer',
    minimum: 1,
    description:
      "Command timeout in milliseconds for `redis_host` or the cluster (default 1000, as APISIX). The gateway's own Redis uses `redis.command_timeout`.",
  },
  redis_ssl: { type: 'boolean', description: 'Connect to `redis_host` with TLS (certificates are verified).' },
  redis_ssl_verify: { type: 'boolean', description: 'Accepted for APISIX compatibility; TLS connections always verify certificates.' },
  redis_keepalive_timeout: { type: 'integer', minimum: 1000, description: 'Accepted for APISIX compatibility; connections are long-lived and shared.' },
  redis_keepalive_pool: { type: 'integer', minimum: 1, description: 'Accepted for APISIX compatibility; connections are long-lived and shared.' },
  redis_cluster_nodes: {
    type: 'array',
    minItems: 1,
    items: { type: 'string', minLength: 2, pattern: '^[^:\\s]+:[0-9]{1,5}$' },
    description: 'policy redis-cluster: seed nodes as "host:port".',
  },
  redis_cluster_name: { type: 'string', minLength: 1, description: 'policy redis-cluster: a name for the cluster (APISIX requires it; used in logs).' },
};

/** Adds the policy fields to a limit plugin's schema; `redis-cluster` then requires its nodes. */
export function withPolicy(schema: JsonSchema): JsonSchema {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const clusterRule = {
    if: { required: ['policy'], properties: { policy: { const: 'redis-cluster' } } },
    then: { required: ['redis_cluster_nodes'] },
  };
  const allOf = [...((schema.allOf as JsonSchema[] | undefined) ?? []), clusterRule];
  return { ...schema, properties: { ...properties, ...POLICY_PROPERTIES }, allOf };
}

/** Semantic checks of the policy fields, for a plugin's `checkConf`. */
export function checkPolicy(conf: PolicyConf): string | undefined {
  if (conf.redis_ssl && conf.redis_ssl_verify === false) {
    return 'redis_ssl_verify false is not supported: TLS connections to Redis always verify certificates';
  }
  // A port or IP literal no connection can use would fail (closed, 503) every request of the route.
  const hostProblem = conf.redis_host === undefined ? undefined : hostPortProblem(conf.redis_host, undefined);
  if (hostProblem) return `redis_host "${conf.redis_host}" ${hostProblem}`;
  for (const [i, node] of (conf.redis_cluster_nodes ?? []).entries()) {
    const colon = node.lastIndexOf(':');
    const problem = hostPortProblem(node.slice(0, colon), node.slice(colon + 1));
    if (problem) return `redis_cluster_nodes[${i}] "${node}" ${problem}`;
  }
  return undefined;
}

export type LimitRedis = Redis | Cluster;

export interface RedisHandle {
  readonly client: LimitRedis;
  /** Milliseconds a command may take before the store counts as unavailable. */
  readonly timeoutMs: number;
  /** Prefix of every key this gateway writes (`redis.key_prefix`). */
  readonly keyPrefix: string;
  release(): void;
}

/**
 * A Lua script over one key of a limit store (a check and its update in one atomic step), defined
 * on each client the first time it runs there: ioredis then sends EVALSHA, and EVAL only when
 * Redis does not know the script yet. `name` must be unique among the gateway's scripts.
 */
export class LimitScript<Result> {
  constructor(
    private readonly name: string,
    private readonly lua: string,
  ) {}

  run(redis: RedisHandle, key: string, ...args: string[]): Promise<Result> {
    // defineCommand adds a method named after the script; ioredis's types cannot know it.
    const client = redis.client as LimitRedis & Record<string, ((key: string, ...args: string[]) => Promise<Result>) | undefined>;
    let command = client[this.name];
    if (typeof command !== 'function') {
      client.defineCommand(this.name, { numberOfKeys: 1, lua: this.lua });
      command = client[this.name]!;
    }
    return command.call(client, key, ...args);
  }
}

/** This gateway's Redis Cluster clients, shared by the limiters naming the same cluster. */
const clusters = (api: PluginApi) => api.state('limits:redis-cluster', () => new RefCountedMap<Cluster>((cluster) => cluster.disconnect()));

/**
 * A limiter's store for `namespace`: with `policy: local`, this gateway's own, shared through
 * `local` by the route versions (and routes) with the same namespace, so an edit resets nothing;
 * otherwise one on the policy's Redis, its keys under `<key prefix>:<plugin>:<namespace>`.
 * Release it when the route version goes.
 */
export function limitStore<T>(
  api: PluginApi,
  conf: PolicyConf,
  plugin: string,
  namespace: string,
  local: RefCountedMap<T>,
  create: { local: () => T; redis: (redis: RedisHandle, key: string) => T },
): Held<T> {
  if (conf.policy === 'local') return local.acquire(namespace, create.local);
  const redis = limitRedis(api, conf);
  return { value: create.redis(redis, `${redis.keyPrefix}:${plugin}:${namespace}`), release: redis.release };
}

/**
 * The Redis a `redis` / `redis-cluster` policy names: the gateway's own connection unless the
 * config sets `redis_host`, another pooled connection if it does, or a cluster client. Every one
 * is fail-fast: no offline queue, a command timeout, one retry.
 */
export function limitRedis(api: PluginApi, conf: PolicyConf): RedisHandle {
  const keyPrefix = api.redis.keyPrefix;
  const ownTimeoutMs = Math.round(api.config.redis.command_timeout * 1000);
  const timeoutMs = conf.redis_timeout ?? 1000;
  if (conf.policy === 'redis-cluster') {
    const nodes = (conf.redis_cluster_nodes ?? []).map((node) => {
      const colon = node.lastIndexOf(':');
      return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
    });
    const poolKey = JSON.stringify([nodes, conf.redis_username, conf.redis_password, timeoutMs]);
    const held = clusters(api).acquire(poolKey, () => {
      const cluster = new (ioredis().Cluster)(nodes, {
        enableOfflineQueue: false,
        clusterRetryStrategy: reconnectDelay,
        slotsRefreshTimeout: Math.max(timeoutMs, 1000),
        redisOptions: {
          username: conf.redis_username,
          password: conf.redis_password,
          commandTimeout: timeoutMs,
          connectTimeout: Math.max(timeoutMs, 1000),
          maxRetriesPerRequest: 1,
        },
      });
      // Failures surface on the commands; a cluster that is away must not crash the process.
      cluster.on('error', () => {});
      return cluster;
    });
    return { client: held.value, timeoutMs, keyPrefix, release: held.release };
  }
  if (conf.redis_host === undefined) return { client: api.redis.shared(), timeoutMs: ownTimeoutMs, keyPrefix, release: () => {} };
  const options = conf.redis_ssl
    ? {
        url: `rediss://${conf.redis_username ? encodeURIComponent(conf.redis_username) : ''}${conf.redis_password ? `:${encodeURIComponent(conf.redis_password)}` : ''}${conf.redis_username || conf.redis_password ? '@' : ''}${conf.redis_host}:${conf.redis_port ?? 6379}/${conf.redis_database ?? 0}`,
        commandTimeout: timeoutMs / 1000,
      }
    : {
        host: conf.redis_host,
        port: conf.redis_port ?? 6379,
        username: conf.redis_username,
        password: conf.redis_password,
        db: conf.redis_database ?? 0,
        commandTimeout: timeoutMs / 1000,
      };
  return { client: api.redis.connect(options), timeoutMs, keyPrefix, release: () => {} };
}

/**
 * Resolves when the connection can take a command now. A connection still establishing itself is
 * given up to `timeoutMs`; one that is down (reconnecting, closed) fails at once, so a request
 * never waits for a Redis that is away.
 */
export function ensureReady(client: LimitRedis, timeoutMs: number): Promise<void> {
  const status = client.status;
  if (status === 'ready') return Promise.resolve();
  if (status !== 'connecting' && status !== 'connect' && status !== 'wait') {
    return Promise.reject(new Error(`redis is ${status}`));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('redis connection closed'));
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('close', onEnd);
      client.off('end', onEnd);
    };
    client.on('ready', onReady);
    client.on('close', onEnd);
    client.on('end', onEnd);
  });
}

