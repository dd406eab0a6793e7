/**
 * The circuit breaker's state machine, APISIX's numbers with an explicit half-open state:
 *
 *   closed ──(every `failures`-th unhealthy status)──▶ open for 2 s
 *   open ──(break time over)──▶ half-open: one probe request at a time goes upstream
 *   half-open ──(probe unhealthy)──▶ open again, break time doubled: 4, 8, 16 … ≤ max_breaker_sec
 *   half-open ──(`successes` healthy probes)──▶ closed, every counter reset
 *
 * Unhealthy counts accumulate until `successes` healthy statuses in a row reset them, as in
 * APISIX (a healthy status clears nothing on its own).
 */
export interface BreakerPolicy {
  failures: number;
  successes: number;
  maxBreakerSec: number;
}

export type Admission = { allowed: true; probe: boolean } | { allowed: false; retryAfterMs: number };

export class BreakerState {
  private unhealthy = 0;
  private healthy = 0;
  /** Times opened since it was last closed; the break time is 2^trips seconds. */
  private trips = 0;
  private openUntil = 0;
  private probing = false;

  constructor(private readonly policy: BreakerPolicy) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.trips === 0) return 'closed';
    return Date.now() < this.openUntil ? 'open' : 'half-open';
  }

  admit(now = Date.now()): Admission {
    if (this.trips === 0) return { allowed: true, probe: false };
    if (now < this.openUntil) return { allowed: false, retryAfterMs: this.openUntil - now };
    if (this.probing) return { allowed: false, retryAfterMs: 1000 };
    this.probing = true;
    return { allowed: true, probe: true };
  }

  /** Records a response; returns what changed, for the log. */
  record(verdict: 'unhealthy' | 'healthy' | 'none', probe: boolean, now = Date.now()): 'opened' | 'closed' | undefined {
    if (probe) this.probing = false;
    if (verdict === 'unhealthy') {
      this.unhealthy += 1;
      this.healthy = 0;
      const reopen = probe && this.trips > 0;
      const trip = this.trips === 0 && this.unhealthy % this.policy.failures === 0;
      if (reopen || trip) {
        this.trips += 1;
        this.openUntil = now + this.breakSeconds() * 1000;
        return 'opened';
      }
      return undefined;
    }
    if (verdict === 'healthy' && (this.unhealthy > 0 || this.trips > 0)) {
      // While open, only the probe's verdict counts; responses to requests admitted earlier do not.
      if (this.trips > 0 && !probe) return undefined;
      this.healthy += 1;
      if (this.healthy >= this.policy.successes) {
        const wasOpen = this.trips > 0;
        this.unhealthy = 0;
        this.healthy = 0;
        this.trips = 0;
        this.openUntil = 0;
        return wasOpen ? 'closed' : undefined;
      }
    }
    return undefined;
  }

  breakSeconds(): number {
    return Math.min(2 ** this.trips, this.policy.maxBreakerSec);
  }
}
