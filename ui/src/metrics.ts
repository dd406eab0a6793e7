/**
 * The overview's figures from the gateway's own metrics (`GET /apisix/admin/metrics`, prom-client's
 * JSON of the same registry the Prometheus exporter serves). Counters are sampled every few
 * seconds and rates are the difference between two samples, as Prometheus's `rate()` would give.
 * HTTP figures come from the prometheus plugin's metrics, so they cover the routes (or global
 * rules) that enable it — as in APISIX. With gateway.workers above 1 the Admin API serves every
 * worker's metrics summed by the primary, so the figures are the whole gateway's, and names the
 * workers in the sum: between two samples of different workers (one late and left out, or one
 * replaced and counting from zero) the sum moves by a worker's whole count, so no rate is taken.
 */

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface Metric {
  name: string;
  type: string;
  values: MetricValue[];
}

export interface Sample {
  time: number;
  /** Whether any route records HTTP metrics (the prometheus plugin ran at least once). */
  http: boolean;
  requests: number;
  serverErrors: number;
  /** Request latency histogram, summed over routes: upper bound (ms) → cumulative count. */
  buckets: Map<number, number>;
  toolCalls: number;
  toolErrors: number;
  mcpSessions: number;
  mcpChildren: number;
  rejected: number;
  /** With gateway.workers above 1: how many workers' metrics were summed. */
  workers?: number;
  /** With gateway.workers above 1: which worker processes' counters the sum holds (`id:pid,…`). */
  summed?: string;
}

/** A worker in the Admin API's sum (its `workers`). */
export interface SummedWorker {
  id: number;
  pid: number;
}

const STATUS = ['tollgate_http_status', 'apisix_http_status'];
const LATENCY = ['tollgate_http_latency', 'apisix_http_latency'];

export function sampleOf(time: number, metrics: Metric[], workers?: SummedWorker[]): Sample {
  const byName = new Map(metrics.map((m) => [m.name, m]));
  const find = (names: string[]) => names.map((n) => byName.get(n)).find(Boolean);
  const sum = (metric: Metric | undefined, keep: (v: MetricValue) => boolean = () => true) =>
    (metric?.values ?? []).filter(keep).reduce((total, v) => total + v.value, 0);

  const status = find(STATUS);
  const latency = find(LATENCY);
  const buckets = new Map<number, number>();
  for (const v of latency?.values ?? []) {
    if (!v.metricName?.endsWith('_bucket') || v.labels.type !== 'request') continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const calls = byName.get('tollgate_mcp_tool_calls_total');
  return {
    time,
    http: (status?.values.length ?? 0) > 0,
    requests: sum(status),
    serverErrors: sum(status, (v) => String(v.labels.code).startsWith('5')),
    buckets,
    toolCalls: sum(calls),
    toolErrors: sum(calls, (v) => v.labels.outcome !== 'ok' && v.labels.outcome !== 'denied'),
    mcpSessions: sum(byName.get('tollgate_mcp_sessions')),
    mcpChildren: sum(byName.get('tollgate_mcp_children')),
    rejected: sum(byName.get('tollgate_rejected_requests_total')),
    workers: workers?.length,
    summed: workers?.map((w) => `${w.id}:${w.pid}`).join(','),
  };
}

export interface Rates {
  /** Seconds between the two samples. */
  seconds: number;
  requestsPerSecond: number;
  /** Share of 5xx among requests (undefined without requests). */
  errorRate?: number;
  /** 99th percentile of request latency, ms, as histogram_quantile estimates it (undefined without requests). */
  p99?: number;
  toolCallsPerMinute: number;
  rejectedPerSecond: number;
}

/** Rates between two samples; undefined when their sums hold different workers' counters. */
export function ratesBetween(older: Sample, newer: Sample): Rates | undefined {
  if (older.summed !== newer.summed) return undefined;
  const seconds = Math.max(0.001, (newer.time - older.time) / 1000);
  // A counter that went down was reset (a restart): count from zero, as rate() does.
  const delta = (a: number, b: number) => (b >= a ? b - a : b);
  const requests = delta(older.requests, newer.requests);
  const errors = delta(older.serverErrors, newer.serverErrors);
  const buckets = [...newer.buckets.entries()].sort(([a], [b]) => a - b).map(([le, count]) => [le, delta(older.buckets.get(le) ?? 0, count)] as const);
  return {
    seconds,
    requestsPerSecond: requests / seconds,
    errorRate: requests > 0 ? errors / requests : undefined,
    p99: quantile(0.99, buckets),
    toolCallsPerMinute: (delta(older.toolCalls, newer.toolCalls) / seconds) * 60,
    rejectedPerSecond: delta(older.rejected, newer.rejected) / seconds,
  };
}

/** Prometheus's histogram_quantile: linear interpolation inside the bucket the rank falls in. */
export function quantile(q: number, buckets: ReadonlyArray<readonly [number, number]>): number | undefined {
  if (buckets.length === 0) return undefined;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      return lowerBound + (le - lowerBound) * ((rank - lowerCount) / Math.max(1e-9, count - lowerCount));
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
