/**
 * limit-count's counter: APISIX's fixed window, kept by rate-limiter-flexible in memory or in Redis.
 */
import { createRequire } from 'node:module';
import type { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ensureReady, type RedisHandle } from '../kit/index.js';

/** rate-limiter-flexible, loaded by the first counter (a route using limit-count), not by every start. */
let limiterModule: typeof import('rate-limiter-flexible') | undefined;
const limiters = () => (limiterModule ??= createRequire(import.meta.url)('rate-limiter-flexible') as typeof import('rate-limiter-flexible'));

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
      ? new (limiters().RateLimiterRedis)({ storeClient: redis.client, points, duration: durationSec, keyPrefix })
      : new (limiters().RateLimiterMemory)({ points, duration: durationSec, keyPrefix });
  }

  async consume(key: string): Promise<WindowOutcome> {
    if (this.redis) await ensureReady(this.redis.client, this.redis.timeoutMs);
    let res: RateLimiterRes;
    let allowed = true;
    try {
      res = await this.limiter.consume(key);
    } catch (err) {
      if (!(err instanceof limiters().RateLimiterRes)) throw err;
      res = err;
      allowed = false;
    }
    return { allowed, remaining: allowed ? res.remainingPoints : 0, resetSeconds: Math.max(0, Math.ceil(res.msBeforeNext / 1000)) };
  }
}

