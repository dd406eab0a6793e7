/**
 * limit-req — a leaky bucket per key (APISIX limit-req): requests drain at `rate` per second;
 * up to `burst` more wait their turn (delayed by excess / rate seconds, unless `nodelay`), and
 * anything beyond is answered `rejected_code` (503) with Retry-After.
 * Phase: access. Fails closed (503 + Retry-After) when its Redis store is unavailable, unless
 * `allow_degradation`.
 */
import type { RouteInfo } from '../../core/context.js';
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
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { LocalBucket, RedisBucket, type Bucket, type BucketOutcome } from './bucket.js';

interface LimitReqConf extends PolicyConf {
  rate: number;
  burst: number;
  key: string;
  key_type: Exclude<KeyType, 'constant'>;
  rejected_code: number;
  rejected_msg?: string;
  nodelay: boolean;
}

/** This gateway's local buckets, shared by route versions with the same config. */
const localBuckets = (api: PluginApi) => api.state('limit-req', () => new RefCountedMap<Bucket>());

class Limiter {
  readonly bucket: Bucket;
  readonly keyOf: LimitKeyOf;
  readonly failures: StoreFailurePolicy;
  private readonly release: () => void;

  constructor(conf: LimitReqConf, route: RouteInfo, api: PluginApi) {
    const namespace = limitNamespace(conf, route);
    this.keyOf = keyResolver(conf.key_type, conf.key);
    this.failures = new StoreFailurePolicy('limit-req', route, api);
    const limits = { rate: conf.rate, burst: conf.burst };
    const store = limitStore(api, conf, 'limit-req', namespace, localBuckets(api), {
      local: () => new LocalBucket(limits),
      redis: (redis, key) => new RedisBucket(limits, redis, key),
    });
    this.bucket = store.value;
    this.release = store.release;
  }

  dispose(): void {
    this.release();
  }
}

export default definePlugin<LimitReqConf, Limiter>({
  name: 'limit-req',
  version: '1.0.0',
  priority: 1001,
  errors: LIMIT_ERRORS,
  description: 'Limits the request rate per key with a leaky bucket (local or shared through Redis).',
  schema: withPolicy({
    type: 'object',
    additionalProperties: false,
    required: ['rate', 'burst', 'key'],
    properties: {
      rate: { type: 'number', exclusiveMinimum: 0, description: 'Requests per second let through per key.' },
      burst: {
        type: 'number',
        minimum: 0,
        description: 'Requests per second above `rate` that are delayed (not rejected); beyond rate + burst requests are rejected.',
      },
      ...keyProperties(),
      key_type: {
        type: 'string',
        enum: ['var', 'var_combination'],
        default: 'var',
        description: '`var`: `key` names one variable; `var_combination`: `key` is a template such as "$consumer_name $mcp_tool".',
      },
      ...rejectionProperties(),
      nodelay: { type: 'boolean', default: false, description: 'Let requests within the burst through at once instead of delaying them.' },
    },
  }),

  checkConf: (conf) => checkPolicy(conf),

  destroy: (api) => localBuckets(api).clear(),

  create: (conf, route, api) => new Limiter(conf, route, api),

  async access(ctx, conf, limiter) {
    const key = limiter.keyOf(ctx.gateway);
    if (key === undefined) return;
    let outcome: BucketOutcome;
    try {
      outcome = await limiter.bucket.take(key);
    } catch (err) {
      limiter.failures.handle(err, conf.allow_degradation);
      return;
    }
    if (!outcome.allowed) {
      const waitMs = (outcome.excess - conf.burst * 1000) / conf.rate;
      throw limitRejection(LIMIT_ERRORS.GW_RATE_LIMITED, {
        status: conf.rejected_code,
        rejectedMsg: conf.rejected_msg,
        retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
        message: 'request rate limit exceeded',
      });
    }
    // excess / rate is the time this request waits for its turn in the bucket (APISIX sleeps it).
    const waitMs = outcome.excess / conf.rate;
    if (!conf.nodelay && waitMs >= 1) await delay(waitMs, ctx.gateway.signal);
  },
});
