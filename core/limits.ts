/**
 * What the limit plugins (limit-req, limit-count, limit-conn) share, so that none of them imports
 * another: APISIX's key and Redis policy fields, resolving a request's limit key, the Redis
 * connection a policy names, counter namespaces, state that outlives a route version, and the
 * Redis-unavailable policy (design.md "Failure behaviour"; faults-checklist B-19, B-20).
 *
 * The Redis-unavailable policy: a store that fails (down, not connected, slower than its command
 * timeout) answers 503 `GW_RATE_LIMIT_STORE_UNAVAILABLE` with `Retry-After`, unless the route sets
 * `allow_degradation: true`; then the request passes, a metric counts it and a warning is logged at
 * most once per interval. Never after ioredis's retries: connections are fail-fast (core/redis.ts).
 */
import { createHash } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { hostPortProblem } from './address.js';
import type { GatewayState, RouteInfo } from './context.js';
import { GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';
import type { PluginApi } from './plugin.js';
import { reconnectDelay } from './redis.js';
import type { JsonSchema } from './schema.js';

export type LimitPolicy = 'local' | 'redis' | 'redis-cluster';
export type KeyType = 'var' | 'var_combination' | 'constant';

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

/** Key fields as APISIX spells them (`key_type`, `key`). */
export function keyProperties(defaultKey?: string): Record<string, JsonSchema> {
  return {
    key_type: {
      enum: ['var', 'var_combination', 'constant'],
      default: 'var',
      description:
        '`var`: `key` names one variable; `var_combination`: `key` is a template such as "$consumer_name $mcp_tool"; `constant`: `key` itself (one counter for everyone).',
    },
    key: {
      type: 'string',
      minLength: 1,
      ...(defaultKey === undefined ? {} : { default: defaultKey }),
      description:
        'What requests are counted by: remote_addr, consumer_name, route_id, http_<header>, arg_<name>, cookie_<name>, mcp_method, mcp_tool, mcp_name … An empty value falls back to remote_addr, except for MCP variables: a key naming them counts only the requests where one of them resolves (mcp_tool: tools/call, per tool). DELETE of an MCP session and notifications/initialized are never counted.',
    },
  };
}

const TEMPLATE_VAR = /\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)/g;

/** A request's limit key; undefined when this limit does not count the request at all. */
export type LimitKeyOf = (state: GatewayState) => string | undefined;

/**
 * Compiles `key_type` + `key` into a function from a request to its limit key. As in APISIX, a
 * key that resolves to nothing (an absent header, a combination in which no variable resolved)
 * falls back to the client address — except a key naming an MCP variable, and the MCP messages
 * no limit may refuse: see `countsAgainst`.
 */
export function keyResolver(keyType: KeyType, key: string): LimitKeyOf {
  if (keyType === 'constant') return countsAgainst([], () => key);
  if (keyType === 'var') {
    return countsAgainst([key], (state) => {
      const value = state.var(key);
      return value === undefined || value === '' ? state.clientIp : value;
    });
  }
  const template = templateResolver(key);
  return countsAgainst(variablesOf(key), (state) => template(state) ?? state.clientIp);
}

/**
 * A `rules` key of limit-count: a template such as "$consumer_name:${mcp_tool}" whose rule is
 * skipped for a request in which no variable resolved; MCP variables as in `countsAgainst`.
 */
export function ruleKeyResolver(template: string): LimitKeyOf {
  return countsAgainst(variablesOf(template), templateResolver(template));
}

/**
 * Compiles a template such as "$consumer_name:${mcp_tool}" (APISIX `resolve_var`). The function
 * returns undefined when no variable in it resolved, and the template itself when it has none.
 */
export function templateResolver(template: string): (state: GatewayState) => string | undefined {
  const parts: Array<string | { name: string }> = [];
  let last = 0;
  for (const match of template.matchAll(TEMPLATE_VAR)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    parts.push({ name: match[1] ?? match[2] });
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  if (parts.every((p) => typeof p === 'string')) return () => template;
  return (state) => {
    let out = '';
    let resolved = 0;
    for (const part of parts) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const value = state.var(part.name);
      if (value !== undefined && value !== '') {
        out += value;
        resolved += 1;
      }
    }
    return resolved === 0 ? undefined : out;
  };
}

function variablesOf(template: string): string[] {
  return [...template.matchAll(TEMPLATE_VAR)].map((match) => match[1] ?? match[2]);
}

/**
 * Which requests a limit counts (issue 10, item 16). Two kinds of request pass every limit
 * uncounted:
 * - when its key names MCP variables (`mcp_tool`, `mcp_method`, `mcp_name`, `mcp_session_id`),
 *   a request for which none of them resolves: such a key describes MCP messages, and a request
 *   it does not describe is not its business. A per-tool limit counts tools/call, per tool;
 *   falling back to the client address, as other keys do, put initialize, ping, lists,
 *   notifications, the GET stream and DELETE of every session of a client into one bucket, and
 *   the limit refused the session itself.
 * - the MCP messages that end a session (DELETE on the Streamable HTTP endpoint) or complete its
 *   handshake (notifications/initialized). Refusing them never saves anything: the child is
 *   running already, and a client that cannot finish its handshake or end its session leaves it
 *   running until session_idle_timeout. A session's start (initialize) is counted as usual: a
 *   refusal then comes before any child exists.
 */
function countsAgainst(variables: readonly string[], resolve: (state: GatewayState) => string | undefined): LimitKeyOf {
  const mcpVariables = variables.filter((name) => name.startsWith('mcp_'));
  return (state) => {
    if (isSessionLifecycle(state)) return undefined;
    if (mcpVariables.length > 0 && !mcpVariables.some((name) => !!state.var(name))) return undefined;
    return resolve(state);
  };
}

/** DELETE of an MCP session, or the notification that completes its handshake. */
function isSessionLifecycle(state: GatewayState): boolean {
  const mcp = state.mcp;
  if (!mcp) return false;
  if (mcp.transport === 'streamable-http' && state.var('request_method') === 'DELETE') return true;
  return mcp.kind === 'notification' && mcp.method === 'notifications/initialized';
}

/** A short, stable digest of a plugin config (without `_meta`): changing the config resets counters. */
export function confVersion(conf: object): string {
  const { _meta: _ignored, ...rest } = conf as Record<string, unknown>;
  return createHash('sha1').update(JSON.stringify(rest)).digest('hex').slice(0, 12);
}

/**
 * Whose counters a plugin instance uses, as APISIX keys them: the resource holding the config
 * (a route, or a consumer for a consumer's own plugins, which then counts across every route),
 * or a `group` shared by several routes; plus the config's version.
 */
export function limitNamespace(conf: object, route: RouteInfo, group?: string): string {
  const owner = group !== undefined ? `group:${group}` : route.consumer !== undefined ? `consumer:${route.consumer}` : `route:${route.id}`;
  return `${owner}:${confVersion(conf)}`;
}

/**
 * Values shared by every instance that asks for the same key, released when the last one lets go.
 * Route versions are created before the previous one is disposed, so state keyed by namespace
 * (local counters, connections in flight, a breaker) survives an unrelated edit of its route.
 */
export class SharedStates<T> {
  private readonly entries = new Map<string, { value: T; users: number }>();

  constructor(private readonly onRelease?: (value: T) => void) {}

  acquire(key: string, create: () => T): { value: T; release: () => void } {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { value: create(), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users += 1;
    const held = entry;
    let released = false;
    return {
      value: held.value,
      release: () => {
        if (released) return;
        released = true;
        held.users -= 1;
        if (held.users > 0 || this.entries.get(key) !== held) return;
        this.entries.delete(key);
        this.onRelease?.(held.value);
      },
    };
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    const values = [...this.entries.values()];
    this.entries.clear();
    for (const { value } of values) this.onRelease?.(value);
  }
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

/** This gateway's Redis Cluster clients, shared by the limiters naming the same cluster. */
const clusters = (api: PluginApi) => api.state('limits:redis-cluster', () => new SharedStates<Cluster>((cluster) => cluster.disconnect()));

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
      const cluster = new Cluster(nodes, {
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

/** How often the warning for a degraded (fail-open) limiter may be logged, per plugin and route. */
export const DEGRADED_LOG_INTERVAL_MS = 10_000;

/** Retry-After, in seconds, for a 503 caused by an unavailable store. */
export const STORE_RETRY_AFTER = 1;

/**
 * Applies the Redis-unavailable policy to a store failure for one plugin on one route: throws the
 * 503 (fail closed), or returns so that the request passes (allow_degradation). Either way the
 * metric counts it; logs are rate-limited so an outage does not flood them.
 */
export class StoreFailurePolicy {
  private lastWarning = 0;
  private suppressed = 0;

  private readonly logger: Logger;
  private readonly metrics: GatewayMetrics;

  /** `api`: the plugin's PluginApi (its logger, and the gateway's metrics that count failures). */
  constructor(
    private readonly plugin: string,
    private readonly where: string,
    api: { readonly logger: Logger; readonly metrics: GatewayMetrics },
  ) {
    this.logger = api.logger;
    this.metrics = api.metrics;
  }

  handle(err: unknown, allowDegradation: boolean): void {
    if (allowDegradation) {
      this.metrics.limitStoreUnavailable.inc({ plugin: this.plugin, action: 'allowed' });
      const now = Date.now();
      if (now - this.lastWarning >= DEGRADED_LOG_INTERVAL_MS) {
        this.logger.warn(
          { plugin: this.plugin, route: this.where, err: describe(err), suppressed: this.suppressed },
          'rate limit store unavailable; letting requests through (allow_degradation)',
        );
        this.lastWarning = now;
        this.suppressed = 0;
      } else {
        this.suppressed += 1;
      }
      return;
    }
    this.metrics.limitStoreUnavailable.inc({ plugin: this.plugin, action: 'rejected' });
    throw new GatewayError(503, 'GW_RATE_LIMIT_STORE_UNAVAILABLE', 'rate limit store unavailable', {
      headers: { 'Retry-After': String(STORE_RETRY_AFTER) },
      cause: err,
    });
  }
}

/** The current value of one gateway's store-failure metric (tests and status pages). */
export async function storeFailureCount(metrics: GatewayMetrics, plugin: string, action: 'allowed' | 'rejected'): Promise<number> {
  const metric = await metrics.limitStoreUnavailable.get();
  return metric.values.find((v) => v.labels.plugin === plugin && v.labels.action === action)?.value ?? 0;
}

/** A store error reduced to its message: connection errors can carry option objects with passwords. */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The rejection a limit plugin answers with: its configured code, and APISIX's body when `rejected_msg` is set. */
export function limitRejection(
  status: number,
  code: string,
  message: string,
  rejectedMsg: string | undefined,
  headers: Record<string, string>,
): GatewayError {
  return new GatewayError(status, code, message, {
    headers,
    body: rejectedMsg === undefined ? undefined : { error_msg: rejectedMsg },
  });
}

export interface WindowOutcome {
  allowed: boolean;
  /** Requests left in the window (0 when rejected). */
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/**
 * A fixed-window counter (`points` per `durationSec`, the window starting at its first request,
 * as APISIX's limit-count), in memory or in Redis through rate-limiter-flexible. Store errors are
 * thrown as they are; the caller applies the Redis-unavailable policy.
 */
export class WindowCounter {
  private readonly limiter: RateLimiterMemory | RateLimiterRedis;

  constructor(
    points: number,
    durationSec: number,
    keyPrefix: string,
    private readonly redis?: RedisHandle,
  ) {
    this.limiter = redis
      ? new RateLimiterRedis({ storeClient: redis.client, points, duration: durationSec, keyPrefix })
      : new RateLimiterMemory({ points, duration: durationSec, keyPrefix });
  }

  async consume(key: string): Promise<WindowOutcome> {
    if (this.redis) await ensureReady(this.redis.client, this.redis.timeoutMs);
    let res: RateLimiterRes;
    let allowed = true;
    try {
      res = await this.limiter.consume(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      res = err;
      allowed = false;
    }
    return { allowed, remaining: allowed ? res.remainingPoints : 0, resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)) };
  }
}

/** Waits `ms`, or throws the client-gone error as soon as the client leaves. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(clientGone());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(clientGone());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function clientGone(): GatewayError {
  return new GatewayError(499, 'GW_CLIENT_GONE', 'client went away');
}
