/**
 * limit-count — a fixed-window request quota per key (APISIX limit-count): `count` requests per
 * `time_window` seconds, or several `rules`. Answers `X-RateLimit-Limit`, `-Remaining` and
 * `-Reset` (names configurable in plugin_metadata), and `rejected_code` (503) once the quota is
 * spent. With `policy: redis` every gateway on that Redis shares one counter.
 * Phase: access. Fails closed (503 + Retry-After) when its Redis store is unavailable, unless
 * `allow_degradation`.
 */
import type { GatewayContext, RouteInfo } from '../../core/context.js';
import {
  canonicalConf,
  checkPolicy,
  keyProperties,
  keyResolver,
  limitNamespace,
  limitRedis,
  limitRejection,
  rejectionProperties,
  LIMIT_ERRORS,
  ruleKeyResolver,
  RefCountedMap,
  StoreFailurePolicy,
  withPolicy,
  type KeyType,
  type LimitKeyOf,
  type PolicyConf,
  type RedisHandle,
} from '../kit/index.js';
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { WindowCounter } from './window-counter.js';

interface RuleConf {
  count: number;
  time_window: number;
  key: string;
  header_prefix?: string;
}

interface LimitCountConf extends PolicyConf {
  count?: number;
  time_window?: number;
  rules?: RuleConf[];
  window_type?: 'fixed';
  group?: string;
  key: string;
  key_type: KeyType;
  rejected_code: number;
  rejected_msg?: string;
  show_limit_quota_header: boolean;
}

interface HeaderNames {
  limit: string;
  remaining: string;
  reset: string;
}

interface Rule {
  counter: WindowCounter;
  count: number;
  /** undefined: the rule does not count this request (see keyResolver and ruleKeyResolver in tollgate/kit). */
  keyOf: LimitKeyOf;
  headerPrefix?: string;
}

const DEFAULT_HEADERS: HeaderNames = { limit: 'X-RateLimit-Limit', remaining: 'X-RateLimit-Remaining', reset: 'X-RateLimit-Reset' };

/** This gateway's local counters, shared by route versions (and routes of one `group`) with the same config. */
const localCounters = (api: PluginApi) => api.state('limit-count', () => new RefCountedMap<WindowCounter>());

class Quota {
  readonly rules: Rule[];
  readonly failures: StoreFailurePolicy;
  private readonly releases: Array<() => void> = [];

  constructor(
    conf: LimitCountConf,
    route: RouteInfo,
    readonly api: PluginApi,
  ) {
    const namespace = limitNamespace(conf, route, conf.group);
    this.failures = new StoreFailurePolicy('limit-count', route, api);
    let redis: RedisHandle | undefined;
    if (conf.policy !== 'local') {
      redis = limitRedis(api, conf);
      this.releases.push(redis.release);
    }
    const specs: Array<RuleConf & { fromRules: boolean }> = conf.rules
      ? conf.rules.map((r) => ({ ...r, fromRules: true }))
      : [{ count: conf.count!, time_window: conf.time_window!, key: conf.key, fromRules: false }];
    this.rules = specs.map((spec, index) => {
      const prefix = `${namespace}:${index}`;
      let counter: WindowCounter;
      if (redis) {
        counter = new WindowCounter(spec.count, spec.time_window, `${redis.keyPrefix}:limit-count:${prefix}`, redis);
      } else {
        const held = localCounters(api).acquire(prefix, () => new WindowCounter(spec.count, spec.time_window, ''));
        this.releases.push(held.release);
        counter = held.value;
      }
      return {
        counter,
        count: spec.count,
        keyOf: spec.fromRules ? ruleKeyResolver(spec.key) : keyResolver(conf.key_type, spec.key),
        headerPrefix: spec.header_prefix,
      };
    });
  }

  dispose(): void {
    for (const release of this.releases.splice(0)) release();
  }
}

function headerNames(api: PluginApi, prefix: string | undefined): HeaderNames {
  const meta = api.metadata('limit-count') as Partial<Record<'limit_header' | 'remaining_header' | 'reset_header', string>> | undefined;
  const names = {
    limit: meta?.limit_header ?? DEFAULT_HEADERS.limit,
    remaining: meta?.remaining_header ?? DEFAULT_HEADERS.remaining,
    reset: meta?.reset_header ?? DEFAULT_HEADERS.reset,
  };
  if (!prefix) return names;
  // APISIX: X-RateLimit-Limit becomes X-<prefix>-RateLimit-Limit.
  const withPrefix = (name: string) => name.replace(/^X-/i, `X-${prefix}-`);
  return { limit: withPrefix(names.limit), remaining: withPrefix(names.remaining), reset: withPrefix(names.reset) };
}

export default definePlugin<LimitCountConf, Quota>({
  name: 'limit-count',
  version: '1.0.0',
  priority: 1002,
  errors: LIMIT_ERRORS,
  description: 'Limits requests per key in a fixed time window (local or shared through Redis).',
  schema: withPolicy({
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: 'integer', exclusiveMinimum: 0, description: 'Requests allowed per window. Required unless `rules` is set.' },
      time_window: { type: 'integer', exclusiveMinimum: 0, description: 'Window length in seconds. Required unless `rules` is set.' },
      rules: {
        type: 'array',
        minItems: 1,
        description:
          'Several quotas checked in order, each with its own counter. A rule whose `key` (a template such as "$consumer_name $mcp_tool") resolves no variable is skipped for that request.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['count', 'time_window', 'key'],
          properties: {
            count: { type: 'integer', exclusiveMinimum: 0 },
            time_window: { type: 'integer', exclusiveMinimum: 0 },
            key: { type: 'string', minLength: 1 },
            header_prefix: { type: 'string', pattern: '^[A-Za-z0-9-]+$', description: 'Headers become X-<prefix>-RateLimit-*.' },
          },
        },
      },
      window_type: { enum: ['fixed'], description: 'Only fixed windows are supported (APISIX default).' },
      group: {
        type: 'string',
        minLength: 1,
        description: 'Routes with the same group and the same config share one counter.',
      },
      ...keyProperties('remote_addr'),
      ...rejectionProperties('Status answered once the quota is spent.'),
      show_limit_quota_header: { type: 'boolean', default: true, description: 'Send the X-RateLimit-* headers.' },
    },
    oneOf: [{ required: ['count', 'time_window'] }, { required: ['rules'] }],
  }),
  metadataSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit_header: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: DEFAULT_HEADERS.limit },
      remaining_header: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: DEFAULT_HEADERS.remaining },
      reset_header: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: DEFAULT_HEADERS.reset },
    },
  },

  checkConf(conf) {
    const policy = checkPolicy(conf);
    if (policy) return policy;
    const keys = new Set<string>();
    for (const rule of conf.rules ?? []) {
      if (keys.has(rule.key)) return `duplicate key '${rule.key}' in rules`;
      keys.add(rule.key);
    }
    return undefined;
  },

  // Routes of one group share one counter: a group whose routes disagreed on the limit would
  // count by whichever config a request's route has (APISIX: "group conf mismatched").
  checkWithOthers(conf, others) {
    if (conf.group === undefined) return undefined;
    const mine = canonicalConf(conf);
    return others.some((other) => other.group === conf.group && canonicalConf(other) !== mine) ? 'group conf mismatched' : undefined;
  },

  destroy: (api) => localCounters(api).clear(),

  create: (conf, route, api) => new Quota(conf, route, api),

  async access(ctx, conf, quota) {
    for (const rule of quota.rules) {
      if (!(await checkRule(ctx, conf, quota, rule))) return;
    }
  },
});

/** Counts one rule; returns false when the store failed and the request passes (degraded). */
async function checkRule(ctx: GatewayContext, conf: LimitCountConf, quota: Quota, rule: Rule): Promise<boolean> {
  const state = ctx.gateway;
  const key = rule.keyOf(state);
  if (key === undefined) return true;
  let outcome;
  try {
    outcome = await rule.counter.consume(key);
  } catch (err) {
    quota.failures.handle(err, conf.allow_degradation);
    return false;
  }
  const names = conf.show_limit_quota_header ? headerNames(quota.api, rule.headerPrefix) : undefined;
  if (!outcome.allowed) {
    const headers: Record<string, string> = {};
    if (names) {
      headers[names.limit] = String(rule.count);
      headers[names.remaining] = '0';
      headers[names.reset] = String(outcome.resetSeconds);
    }
    throw limitRejection(LIMIT_ERRORS.GW_RATE_LIMITED, { status: conf.rejected_code, rejectedMsg: conf.rejected_msg, retryAfter: Math.max(1, outcome.resetSeconds), headers });
  }
  if (names) {
    // Straight to the response: this runs on every request, and Koa's set() adds nothing here.
    const { res } = ctx;
    res.setHeader(names.limit, String(rule.count));
    res.setHeader(names.remaining, String(outcome.remaining));
    res.setHeader(names.reset, String(outcome.resetSeconds));
  }
  return true;
}
