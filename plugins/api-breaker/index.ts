/**
 * api-breaker — a circuit breaker in front of a route's backend (APISIX api-breaker): after
 * `unhealthy.failures` responses with an unhealthy status it answers `break_response_code` itself
 * for 2 s, then lets one probe through; a failed probe doubles the break (4, 8 … up to
 * `max_breaker_sec`), `healthy.successes` good probes close it. The backend's status is what
 * counts: an upstream that cannot be reached or times out counts as 502 / 504, and on mcp-bridge
 * routes a child that crashed, never initialized or timed out counts as the 5xx the bridge reports.
 * State is per route (and upstream), per gateway process.
 * Phases: access (answer while open), log (count). Never fails a request by itself: an error in
 * its bookkeeping leaves traffic flowing (fail open).
 */
import type { GatewayContext, RouteInfo } from '../../core/context.js';
import { defineErrors, RETRY_AFTER, GatewayError } from '../../core/errors.js';
import { confVersion, RefCountedMap } from '../kit/index.js';
import type { Logger } from '../../core/logger.js';
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { compileTemplate, type Template } from '../../core/template.js';
import { headerValueEscape } from '../../core/variables.js';
import { BreakerState } from './breaker.js';

interface ApiBreakerConf {
  break_response_code: number;
  break_response_body?: string;
  break_response_headers?: Array<{ key: string; value: string }>;
  max_breaker_sec: number;
  unhealthy: { http_statuses: number[]; failures: number };
  healthy: { http_statuses: number[]; successes: number };
}

class Breaker {
  readonly state: BreakerState;
  /** The request admitted as the half-open probe, whose verdict decides. */
  probe?: object;
  /** `break_response_headers`, their `$var` values compiled once (only sent with a `break_response_body`, as APISIX). */
  readonly breakHeaders: ReadonlyArray<readonly [string, Template]>;
  private readonly release: () => void;

  constructor(
    conf: ApiBreakerConf,
    readonly route: RouteInfo,
    readonly logger: Logger,
    states: RefCountedMap<BreakerState>,
    private readonly live: Set<Breaker>,
  ) {
    const backend = route.record.upstream ?? route.record.upstream_id ?? route.record.service_id ?? '';
    const key = [route.id, route.consumer ?? '', confVersion(conf), JSON.stringify(backend)].join('|');
    const held = states.acquire(key, () =>
      new BreakerState({ failures: conf.unhealthy.failures, successes: conf.healthy.successes, maxBreakerSec: conf.max_breaker_sec }),
    );
    this.state = held.value;
    this.release = held.release;
    this.breakHeaders = conf.break_response_body === undefined ? [] : (conf.break_response_headers ?? []).map(({ key, value }) => [key, compileTemplate(value)] as const);
    live.add(this);
  }

  dispose(): void {
    this.live.delete(this);
    this.release();
  }
}

/** This gateway's breaker states, shared by route versions with the same config and backend (an unrelated edit keeps an open breaker open). */
const breakerStates = (api: PluginApi) => api.state('api-breaker', () => new RefCountedMap<BreakerState>());

/** This gateway's breakers in use, which the `tollgate_breaker_state` gauge reads at scrape time. */
const liveBreakers = (api: PluginApi) =>
  api.state('api-breaker/live', () => {
    const breakers = new Set<Breaker>();
    const unregister = api.metrics.provideBreakers(() => [...breakers].map((b) => ({ route: b.route.id, state: b.state.state })));
    return { breakers, unregister };
  });

const statuses = (minimum: number, maximum: number, fallback: number) => ({
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'integer', minimum, maximum },
  default: [fallback],
});

const ERRORS = defineErrors({
  GW_BREAKER_OPEN: { status: 502, message: 'upstream circuit breaker is open' },
});

export default definePlugin<ApiBreakerConf, Breaker>({
  name: 'api-breaker',
  version: '1.0.0',
  priority: 1005,
  errors: ERRORS,
  description: 'Stops calling a failing backend for a while and answers for it (circuit breaker).',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['break_response_code'],
    properties: {
      break_response_code: { type: 'integer', minimum: 200, maximum: 599, description: 'Status answered while the breaker is open.' },
      break_response_body: { type: 'string', description: 'Body answered while the breaker is open (otherwise the standard JSON error).' },
      break_response_headers: {
        type: 'array',
        minItems: 1,
        description: 'Headers answered while open, when a body is set; values may contain $variables.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'value'],
          properties: { key: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }, value: { type: 'string', minLength: 1, pattern: '^[\\t\\x20-\\x7e]*$', description: 'Printable ASCII (a CR or LF could never be sent).' } },
        },
      },
      max_breaker_sec: { type: 'integer', minimum: 3, default: 300, description: 'Longest break, in seconds (breaks double from 2 s).' },
      unhealthy: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'What opens the breaker.',
        properties: {
          http_statuses: { ...statuses(500, 599, 500), description: 'Backend statuses that count as failures (502/504: unreachable or timed out).' },
          failures: { type: 'integer', minimum: 1, default: 3, description: 'Failures that open the breaker.' },
        },
      },
      healthy: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'What closes it again.',
        properties: {
          http_statuses: { ...statuses(200, 499, 200), description: 'Backend statuses that count as successes.' },
          successes: { type: 'integer', minimum: 1, default: 3, description: 'Successes in a row that close the breaker and reset the failures.' },
        },
      },
    },
  },

  destroy(api) {
    breakerStates(api).clear();
    const live = liveBreakers(api);
    live.unregister();
    live.breakers.clear();
  },

  create: (conf, route, api) => new Breaker(conf, route, api.logger, breakerStates(api), liveBreakers(api).breakers),

  access(ctx, conf, breaker) {
    const admission = breaker.state.admit();
    if (admission.allowed) {
      if (admission.probe) breaker.probe = ctx.gateway;
      return;
    }
    throw breakResponse(ctx, conf, breaker, Math.max(1, Math.ceil(admission.retryAfterMs / 1000)));
  },

  log(ctx, conf, breaker) {
    const probe = breaker.probe === ctx.gateway;
    if (probe) breaker.probe = undefined;
    const status = backendStatus(ctx);
    const verdict =
      status === undefined ? 'none' : conf.unhealthy.http_statuses.includes(status) ? 'unhealthy' : conf.healthy.http_statuses.includes(status) ? 'healthy' : 'none';
    const change = breaker.state.record(verdict, probe);
    if (change === 'opened') {
      breaker.logger.warn({ plugin: 'api-breaker', route: breaker.route.id, status, seconds: breaker.state.breakSeconds() }, 'circuit breaker opened');
    } else if (change === 'closed') {
      breaker.logger.info({ plugin: 'api-breaker', route: breaker.route.id }, 'circuit breaker closed');
    }
  },
});

/**
 * The backend's status: what the upstream answered, or, when it was contacted but never
 * answered, the 502/504 the gateway answered for it (nginx records the same in $upstream_status).
 * Undefined when no backend was involved (a request answered by a plugin, a client that left).
 */
function backendStatus(ctx: GatewayContext): number | undefined {
  const outcome = ctx.gateway.upstreamOutcome;
  if (!outcome) return undefined;
  if (outcome.status !== undefined) return outcome.status;
  return ctx.status === 502 || ctx.status === 504 ? ctx.status : undefined;
}

function breakResponse(ctx: GatewayContext, conf: ApiBreakerConf, breaker: Breaker, retryAfter: number): GatewayError {
  const headers: Record<string, string> = {};
  for (const [key, template] of breaker.breakHeaders) headers[key] = template.render(ctx.gateway, headerValueEscape);
  // A Retry-After the operator configured is theirs to say.
  const configured = Object.keys(headers).some((name) => name.toLowerCase() === RETRY_AFTER.toLowerCase());
  return ERRORS.GW_BREAKER_OPEN.error({
    status: conf.break_response_code,
    headers,
    retryAfter: configured ? undefined : retryAfter,
    body: conf.break_response_body,
  });
}
