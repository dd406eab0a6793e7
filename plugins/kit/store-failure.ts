/**
 * The Redis-unavailable policy of the limit plugins (design.md "Failure behaviour";
 * faults-checklist B-19, B-20): a store that fails (down, not connected, slower than its command
 * timeout) answers 503 `GW_RATE_LIMIT_STORE_UNAVAILABLE` with `Retry-After`, unless the route sets
 * `allow_degradation: true`; then the request passes, a metric counts it and a warning is logged at
 * most once per interval. Also the answer a limit gives when it refuses a request.
 */
import type { ErrorCode, GatewayError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { JsonSchema } from '../../core/schema.js';
import type { GatewayMetrics } from '../../core/metrics.js';
import { LIMIT_ERRORS } from './errors.js';

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

  private readonly where: string;

  /**
   * `route`: the route (and consumer, for a consumer's own plugins) its logs name. `api`: the
   * plugin's PluginApi (its logger, and the gateway's metrics that count failures).
   */
  constructor(
    private readonly plugin: string,
    route: { readonly id: string; readonly consumer?: string },
    api: { readonly logger: Logger; readonly metrics: GatewayMetrics },
  ) {
    this.where = route.consumer ? `${route.id}&${route.consumer}` : route.id;
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
    throw LIMIT_ERRORS.GW_RATE_LIMIT_STORE_UNAVAILABLE.error({ retryAfter: STORE_RETRY_AFTER, cause: err });
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

/**
 * The rejection a limit plugin answers with: its code, its configured status, APISIX's body when
 * `rejected_msg` is set, and when to try again.
 */
export function limitRejection(
  code: ErrorCode,
  options: { status: number; rejectedMsg: string | undefined; retryAfter: number; message?: string; headers?: Record<string, string> },
): GatewayError {
  return code.error({
    status: options.status,
    message: options.message,
    retryAfter: options.retryAfter,
    headers: options.headers,
    body: options.rejectedMsg === undefined ? undefined : { error_msg: options.rejectedMsg },
  });
}

/**
 * The schema of a limit's rejection, as APISIX has it: `rejected_code` (503 by default) and
 * `rejected_msg` (the body `{"error_msg": ...}`, what limitRejection writes). `when` describes
 * when the status is answered.
 */
export function rejectionProperties(when = 'Status answered to rejected requests.'): Record<string, JsonSchema> {
  return {
    rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503, description: when },
    rejected_msg: { type: 'string', minLength: 1, description: 'Body of a rejection: {"error_msg": rejected_msg}.' },
  };
}
