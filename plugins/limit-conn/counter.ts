/**
 * Requests in flight per key, in memory or in Redis (one counter per key, refreshed to `key_ttl`
 * on every admission so that a gateway that died holding slots cannot block a key forever).
 */
import { ensureReady, LimitScript, type RedisHandle } from '../kit/index.js';

export interface ConnCounter {
  /** Admits one more unless that would exceed `max`; resolves with the count including this one, or 0 when refused. */
  incoming(key: string, max: number): Promise<number>;
  leaving(key: string): Promise<void>;
}

export class LocalConnCounter implements ConnCounter {
  private readonly counts = new Map<string, number>();

  incoming(key: string, max: number): Promise<number> {
    const next = (this.counts.get(key) ?? 0) + 1;
    if (next > max) return Promise.resolve(0);
    this.counts.set(key, next);
    return Promise.resolve(next);
  }

  leaving(key: string): Promise<void> {
    const next = (this.counts.get(key) ?? 0) - 1;
    if (next > 0) this.counts.set(key, next);
    else this.counts.delete(key);
    return Promise.resolve();
  }

  /** Keys with requests in flight (tests and leak checks). */
  get size(): number {
    return this.counts.size;
  }
}

const INCOMING = `
local n = redis.call('INCR', KEYS[1])
if n > tonumber(ARGV[1]) then
  if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
  return 0
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
`;

const LEAVING = `
local n = redis.call('DECR', KEYS[1])
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
`;

const admitScript = new LimitScript<number>('tollgateConnIn', INCOMING);
const leaveScript = new LimitScript<number>('tollgateConnOut', LEAVING);

export class RedisConnCounter implements ConnCounter {
  constructor(
    private readonly redis: RedisHandle,
    private readonly keyPrefix: string,
    private readonly keyTtl: number,
  ) {}

  async incoming(key: string, max: number): Promise<number> {
    await ensureReady(this.redis.client, this.redis.timeoutMs);
    return Number(await admitScript.run(this.redis, `${this.keyPrefix}:${key}`, String(max), String(this.keyTtl)));
  }

  async leaving(key: string): Promise<void> {
    await leaveScript.run(this.redis, `${this.keyPrefix}:${key}`);
  }
}
