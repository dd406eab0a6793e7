/**
 * The leaky bucket of APISIX's limit-req (lua-resty-limit-traffic `resty.limit.req`): `excess`
 * counts queued requests in thousandths and drains at `rate` per second; a request that would
 * push it past `burst` is rejected and not counted. Kept in memory, or in Redis as one hash per
 * key updated by a script, with Redis's clock so that every gateway agrees on time.
 */
import { ensureReady, LimitScript, type RedisHandle } from '../kit/index.js';

export interface BucketOutcome {
  allowed: boolean;
  /** The bucket's excess after this request, in thousandths of a request. */
  excess: number;
}

/** rate: requests per second; burst: requests. Both as configured. */
export interface BucketLimits {
  rate: number;
  burst: number;
}

export interface Bucket {
  take(key: string): Promise<BucketOutcome>;
}

export class LocalBucket implements Bucket {
  private readonly entries = new Map<string, { excess: number; last: number }>();
  private sweepAt = 1024;

  constructor(private readonly limits: BucketLimits) {}

  take(key: string): Promise<BucketOutcome> {
    // Sub-millisecond time: at high rates two requests in one millisecond are not simultaneous.
    const now = performance.timeOrigin + performance.now();
    const { rate, burst } = this.limits;
    const entry = this.entries.get(key);
    let excess = 0;
    if (entry) {
      excess = Math.max(entry.excess - rate * Math.abs(now - entry.last) + 1000, 0);
      if (excess > burst * 1000) return Promise.resolve({ allowed: false, excess });
      entry.excess = excess;
      entry.last = now;
    } else {
      this.entries.set(key, { excess, last: now });
      if (this.entries.size >= this.sweepAt) this.sweep(now);
    }
    return Promise.resolve({ allowed: true, excess });
  }

  /** Forgets keys whose bucket has drained: they behave exactly like new keys. */
  private sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.excess - this.limits.rate * (now - entry.last) <= 0) this.entries.delete(key);
    }
    this.sweepAt = Math.max(1024, this.entries.size * 2);
  }
}

const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rec = redis.call('HMGET', KEYS[1], 'excess', 'last')
local excess = 0
if rec[1] then
  excess = math.max(tonumber(rec[1]) - rate * math.abs(now - tonumber(rec[2])) + 1000, 0)
  if excess > burst then
    return {0, tostring(excess)}
  end
end
redis.call('HSET', KEYS[1], 'excess', tostring(excess), 'last', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, tostring(excess)}
`;

const leakyBucket = new LimitScript<[number, string]>('tollgateLimitReq', SCRIPT);

export class RedisBucket implements Bucket {
  private readonly ttlMs: string;

  constructor(
    private readonly limits: BucketLimits,
    private readonly redis: RedisHandle,
    private readonly keyPrefix: string,
  ) {
    // Once this long has passed without requests, the bucket has drained: Redis may forget it.
    this.ttlMs = String(Math.ceil(((limits.burst + 1) * 1000) / limits.rate) + 1000);
  }

  async take(key: string): Promise<BucketOutcome> {
    await ensureReady(this.redis.client, this.redis.timeoutMs);
    const [allowed, excess] = await leakyBucket.run(
      this.redis,
      `${this.keyPrefix}:${key}`,
      String(this.limits.rate),
      String(this.limits.burst * 1000),
      this.ttlMs,
    );
    return { allowed: allowed === 1, excess: Number(excess) };
  }
}
