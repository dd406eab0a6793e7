/**
 * limit-conn — concurrent requests per key (APISIX limit-conn): up to `conn` run at once, up to
 * `burst` more are delayed (by `default_conn_delay` per `conn` ahead of them), the rest get
 * `rejected_code` (503) with Retry-After. A request holds its slot until its response is over,
 * however it ends: a long-lived SSE or MCP stream holds it until the stream closes.
 * Phases: access (admit), log (release). Fails closed (503 + Retry-After) when its Redis store is
 * unavailable, unless `allow_degradation` (then the request passes uncounted).
 */
import type { GatewayContext, RouteInfo } from '../../core/context.js';
import {
  checkPolicy,
  delay,
  keyProperties,
  keyResolver,
  limitNamespace,
  limitStore,
  limitRejection,
  rejectionProperties,
  LIMIT_ERRORS,
  RefCountedMap,
  StoreFailurePolicy,
  withPolicy,
  type KeyType,
  type LimitKeyOf,
  type PolicyConf,
} from '../kit/index.js';
import type { Logger } from '../../core/logger.js';
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { LocalConnCounter, RedisConnCounter, type ConnCounter } from './counter.js';
import { defineErrors } from '../../core/errors.js';

interface LimitConnConf extends PolicyConf {
  conn: number;
  burst: number;
  default_conn_delay: number;
  only_use_default_delay: boolean;
  key: string;
  key_type: Exclude<KeyType, 'constant'>;
  rejected_code: number;
  rejected_msg?: string;
  key_ttl: number;
}

/** What a request holds, per limiter instance (a plugin may run from a global rule and a route). */
interface Held {
  /** Set once the log phase ran: a slot admitted after that is released at once. */
  finished: boolean;
  /** Several per limiter when the access phase ran once per message of a JSON-RPC batch. */
  slots: Map<ConnLimiter, Array<{ key: string; delaySeconds: number }>>;
}

/** This gateway's local counters, shared by route versions with the same config (requests in flight survive an edit). */
const localCounters = (api: PluginApi) => api.state('limit-conn', () => new RefCountedMap<ConnCounter>());

class ConnLimiter {
  readonly counter: ConnCounter;
  readonly keyOf: LimitKeyOf;
  readonly failures: StoreFailurePolicy;
  readonly logger: Logger;
  /** Seconds per `conn` ahead of a delayed request; adapts to latency unless only_use_default_delay. */
  unitDelay: number;
  private readonly release: () => void;

  constructor(conf: LimitConnConf, route: RouteInfo, api: PluginApi) {
    const namespace = limitNamespace(conf, route);
    this.keyOf = keyResolver(conf.key_type, conf.key);
    this.logger = api.logger;
    this.failures = new StoreFailurePolicy('limit-conn', route, api);
    this.unitDelay = conf.default_conn_delay;
    const store = limitStore(api, conf, 'limit-conn', namespace, localCounters(api), {
      local: () => new LocalConnCounter(),
      redis: (redis, key) => new RedisConnCounter(redis, key, conf.key_ttl),
    });
    this.counter = store.value;
    this.release = store.release;
  }

  dispose(): void {
    this.release();
  }
}

function heldBy(ctx: GatewayContext): Held {
  return ctx.gateway.scratch<Held>('limit-conn', () => ({ finished: false, slots: new Map() }));
}

function leave(limiter: ConnLimiter, key: string): void {
  limiter.counter.leaving(key).catch((err: unknown) => {
    // The slot stays counted until key_ttl expires it; say so once per failure, without the key.
    limiter.logger.warn({ plugin: 'limit-conn', err: err instanceof Error ? err.message : String(err) }, 'could not release a connection slot');
  });
}

const ERRORS = {
  ...defineErrors({ GW_CONN_LIMITED: { status: 503, message: 'too many concurrent requests' } }),
  GW_RATE_LIMIT_STORE_UNAVAILABLE: LIMIT_ERRORS.GW_RATE_LIMIT_STORE_UNAVAILABLE,
};

export default definePlugin<LimitConnConf, ConnLimiter>({
  name: 'limit-conn',
  version: '1.0.0',
  priority: 1003,
  errors: ERRORS,
  description: 'Limits concurrent requests (and streams) per key, local or shared through Redis.',
  schema: withPolicy({
    type: 'object',
    additionalProperties: false,
    required: ['conn', 'burst', 'default_conn_delay', 'key'],
    properties: {
      conn: { type: 'integer', exclusiveMinimum: 0, description: 'Requests allowed in flight at once per key.' },
      burst: { type: 'integer', minimum: 0, description: 'Requests above `conn` that are delayed instead of rejected.' },
      default_conn_delay: {
        type: 'number',
        exclusiveMinimum: 0,
        description: 'Seconds a request in the burst waits per `conn` requests ahead of it.',
      },
      only_use_default_delay: {
        type: 'boolean',
        default: false,
        description: 'Always delay by default_conn_delay; otherwise the delay adapts to the observed request latency (APISIX).',
      },
      ...keyProperties(),
      key_type: {
        type: 'string',
        enum: ['var', 'var_combination'],
        default: 'var',
        description: '`var`: `key` names one variable; `var_combination`: `key` is a template such as "$consumer_name $mcp_method".',
      },
      ...rejectionProperties(),
      key_ttl: {
        type: 'integer',
        minimum: 1,
        default: 3600,
        description: 'policy redis: seconds a key lives after its last admission, so slots held by a gateway that died expire.',
      },
    },
  }),

  checkConf: (conf) => checkPolicy(conf),

  destroy: (api) => localCounters(api).clear(),

  create: (conf, route, api) => new ConnLimiter(conf, route, api),

  async access(ctx, conf, limiter) {
    const key = limiter.keyOf(ctx.gateway);
    if (key === undefined) return;
    let count: number;
    try {
      count = await limiter.counter.incoming(key, conf.conn + conf.burst);
    } catch (err) {
      limiter.failures.handle(err, conf.allow_degradation);
      return;
    }
    if (count === 0) {
      throw limitRejection(ERRORS.GW_CONN_LIMITED, { status: conf.rejected_code, rejectedMsg: conf.rejected_msg, retryAfter: 1 });
    }
    const held = heldBy(ctx);
    if (held.finished) {
      // The client left while we asked the store: nothing will release this slot later.
      leave(limiter, key);
      return;
    }
    const delaySeconds = count > conf.conn ? limiter.unitDelay * Math.floor((count - 1) / conf.conn) : 0;
    const slots = held.slots.get(limiter);
    if (slots) slots.push({ key, delaySeconds });
    else held.slots.set(limiter, [{ key, delaySeconds }]);
    if (delaySeconds >= 0.001) await delay(delaySeconds * 1000, ctx.gateway.signal);
  },

  log(ctx, conf, limiter) {
    const held = heldBy(ctx);
    held.finished = true;
    const slots = held.slots.get(limiter);
    if (!slots) return;
    held.slots.delete(limiter);
    for (const slot of slots) leave(limiter, slot.key);
    if (!conf.only_use_default_delay) {
      const latency = (performance.now() - ctx.gateway.startTime) / 1000 - slots[0].delaySeconds;
      limiter.unitDelay = (latency + limiter.unitDelay) / 2;
    }
  },
});
