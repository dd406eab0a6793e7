/**
 * The per-request HTTP metrics the prometheus plugin records, under one of two namings
 * (`metrics.names`):
 *
 * - `tollgate` (the default): `tollgate_http_status{code,route,service,consumer}`,
 *   `tollgate_http_latency{type,route}` (types request, upstream, gateway) and
 *   `tollgate_bandwidth{type,route}`.
 * - `apisix`: APISIX's exporter exactly (`apisix/plugins/prometheus/exporter.lua`): names, label
 *   sets in APISIX's order and latency types (request, upstream, apisix), so APISIX's Grafana
 *   dashboard (11719) and alert rules work unchanged. The LLM labels are always "".
 *
 * Both are bounded as the rest of the metrics: ids, route patterns and node addresses the
 * operator configured, never a raw path or a client address.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** APISIX's latency buckets, milliseconds. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000];

export type MetricNames = 'tollgate' | 'apisix';

/** Where a response came from (APISIX's `response_source`). */
export type ResponseSource = 'upstream' | 'apisix' | 'nginx';

/** One finished request, as the prometheus plugin saw it. Unknown values are "". */
export interface HttpSample {
  code: string;
  route: string;
  /** The route's uri pattern that matched (`/hello*`), APISIX's `matched_uri`. */
  matchedUri: string;
  /** The route's host pattern that matched (`*.example.com`), APISIX's `matched_host`. */
  matchedHost: string;
  service: string;
  consumer: string;
  /** The upstream node's host (APISIX's `balancer_ip`). */
  node: string;
  responseSource: ResponseSource;
  latencyMs: number;
  /** Until the upstream's response head; absent when no upstream answered. */
  upstreamLatencyMs?: number;
  bytesIn?: number;
  bytesOut?: number;
}

export interface HttpMetrics {
  record(sample: HttpSample): void;
}

export function httpMetrics(names: MetricNames, registry: Registry): HttpMetrics {
  return names === 'apisix' ? new ApisixHttpMetrics(registry) : new TollgateHttpMetrics(registry);
}

class TollgateHttpMetrics implements HttpMetrics {
  private readonly status: Counter<'code' | 'route' | 'service' | 'consumer'>;
  private readonly latency: Histogram<'type' | 'route'>;
  private readonly bandwidth: Counter<'type' | 'route'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.status = new Counter({
      name: 'tollgate_http_status',
      help: 'HTTP responses by status code, route, service and consumer (routes and global rules with the prometheus plugin).',
      labelNames: ['code', 'route', 'service', 'consumer'] as const,
      registers,
    });
    this.latency = new Histogram({
      name: 'tollgate_http_latency',
      help: 'HTTP request latency in milliseconds: request (total), upstream (until the response head), gateway (request minus upstream).',
      labelNames: ['type', 'route'] as const,
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });
    this.bandwidth = new Counter({
      name: 'tollgate_bandwidth',
      help: 'Bytes received from clients (ingress) and sent to them (egress), by route.',
      labelNames: ['type', 'route'] as const,
      registers,
    });
  }

  record(s: HttpSample): void {
    const route = s.route;
    this.status.inc({ code: s.code, route, service: s.service, consumer: s.consumer });
    this.latency.observe({ type: 'request', route }, s.latencyMs);
    if (s.upstreamLatencyMs !== undefined) this.latency.observe({ type: 'upstream', route }, s.upstreamLatencyMs);
    // Answered without a backend (a plugin's reply, a rejection): all of it is the gateway's.
    this.latency.observe({ type: 'gateway', route }, gatewayLatency(s));
    if (s.bytesIn) this.bandwidth.inc({ type: 'ingress', route }, s.bytesIn);
    if (s.bytesOut) this.bandwidth.inc({ type: 'egress', route }, s.bytesOut);
  }
}

const APISIX_LABELS = ['route', 'service', 'consumer', 'node', 'request_type', 'request_llm_model', 'llm_model'] as const;
type ApisixLabel = (typeof APISIX_LABELS)[number];

class ApisixHttpMetrics implements HttpMetrics {
  private readonly status: Counter<'code' | 'matched_uri' | 'matched_host' | 'response_source' | ApisixLabel>;
  private readonly latency: Histogram<'type' | ApisixLabel>;
  private readonly bandwidth: Counter<'type' | ApisixLabel>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.status = new Counter({
      name: 'apisix_http_status',
      help: 'HTTP status codes per service in APISIX',
      labelNames: ['code', 'route', 'matched_uri', 'matched_host', 'service', 'consumer', 'node', 'request_type', 'request_llm_model', 'llm_model', 'response_source'] as const,
      registers,
    });
    this.latency = new Histogram({
      name: 'apisix_http_latency',
      help: 'HTTP request latency in milliseconds per service in APISIX',
      labelNames: ['type', ...APISIX_LABELS] as const,
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });
    this.bandwidth = new Counter({
      name: 'apisix_bandwidth',
      help: 'Total bandwidth in bytes consumed per service in APISIX',
      labelNames: ['type', ...APISIX_LABELS] as const,
      registers,
    });
  }

  record(s: HttpSample): void {
    const common = { route: s.route, service: s.service, consumer: s.consumer, node: s.node, request_type: 'traditional_http', request_llm_model: '', llm_model: '' };
    // Spelled out in APISIX's label order, which is the order they are printed in.
    this.status.inc({
      code: s.code,
      route: s.route,
      matched_uri: s.matchedUri,
      matched_host: s.matchedHost,
      service: s.service,
      consumer: s.consumer,
      node: s.node,
      request_type: 'traditional_http',
      request_llm_model: '',
      llm_model: '',
      response_source: s.responseSource,
    });
    this.latency.observe({ type: 'request', ...common }, s.latencyMs);
    if (s.upstreamLatencyMs !== undefined) this.latency.observe({ type: 'upstream', ...common }, s.upstreamLatencyMs);
    this.latency.observe({ type: 'apisix', ...common }, gatewayLatency(s));
    // APISIX adds both on every request, zero included: the series exist from the first one.
    this.bandwidth.inc({ type: 'ingress', ...common }, s.bytesIn ?? 0);
    this.bandwidth.inc({ type: 'egress', ...common }, s.bytesOut ?? 0);
  }
}

/** The gateway's share: request minus upstream, never below 0 (the clocks differ). */
function gatewayLatency(s: HttpSample): number {
  return s.upstreamLatencyMs === undefined ? s.latencyMs : Math.max(0, s.latencyMs - s.upstreamLatencyMs);
}
