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
import type { Registry } from 'prom-client';
import { KeyedCounter, KeyedHistogram } from './keyed-series.js';

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

/** Separates label values in a series key; no route id, name, node or consumer contains it. */
const SEP = '\u0001';

class TollgateHttpMetrics implements HttpMetrics {
  private readonly status: KeyedCounter<'code' | 'route' | 'service' | 'consumer'>;
  private readonly latency: KeyedHistogram<'type' | 'route'>;
  private readonly bandwidth: KeyedCounter<'type' | 'route'>;

  constructor(registry: Registry) {
    this.status = new KeyedCounter(
      registry,
      'tollgate_http_status',
      'HTTP responses by status code, route, service and consumer (routes and global rules with the prometheus plugin).',
    );
    this.latency = new KeyedHistogram(
      registry,
      'tollgate_http_latency',
      'HTTP request latency in milliseconds: request (total), upstream (until the response head), gateway (request minus upstream).',
      LATENCY_BUCKETS_MS,
    );
    this.bandwidth = new KeyedCounter(registry, 'tollgate_bandwidth', 'Bytes received from clients (ingress) and sent to them (egress), by route.');
  }

  record(s: HttpSample): void {
    const route = s.route;
    this.status.at(s.code + SEP + route + SEP + s.service + SEP + s.consumer, () => ({ code: s.code, route, service: s.service, consumer: s.consumer })).inc();
    this.latency.at(`request${SEP}${route}`, () => ({ type: 'request', route })).observe(s.latencyMs);
    if (s.upstreamLatencyMs !== undefined) this.latency.at(`upstream${SEP}${route}`, () => ({ type: 'upstream', route })).observe(s.upstreamLatencyMs);
    // Answered without a backend (a plugin's reply, a rejection): all of it is the gateway's.
    this.latency.at(`gateway${SEP}${route}`, () => ({ type: 'gateway', route })).observe(gatewayLatency(s));
    if (s.bytesIn) this.bandwidth.at(`ingress${SEP}${route}`, () => ({ type: 'ingress', route })).inc(s.bytesIn);
    if (s.bytesOut) this.bandwidth.at(`egress${SEP}${route}`, () => ({ type: 'egress', route })).inc(s.bytesOut);
  }
}

type ApisixLabel = 'route' | 'service' | 'consumer' | 'node' | 'request_type' | 'request_llm_model' | 'llm_model';
type ApisixStatusLabel = 'code' | 'matched_uri' | 'matched_host' | 'response_source' | ApisixLabel;

class ApisixHttpMetrics implements HttpMetrics {
  private readonly status: KeyedCounter<ApisixStatusLabel>;
  private readonly latency: KeyedHistogram<'type' | ApisixLabel>;
  private readonly bandwidth: KeyedCounter<'type' | ApisixLabel>;

  constructor(registry: Registry) {
    this.status = new KeyedCounter(registry, 'apisix_http_status', 'HTTP status codes per service in APISIX');
    this.latency = new KeyedHistogram(registry, 'apisix_http_latency', 'HTTP request latency in milliseconds per service in APISIX', LATENCY_BUCKETS_MS);
    this.bandwidth = new KeyedCounter(registry, 'apisix_bandwidth', 'Total bandwidth in bytes consumed per service in APISIX');
  }

  record(s: HttpSample): void {
    const common = s.route + SEP + s.service + SEP + s.consumer + SEP + s.node;
    // Labels in APISIX's order, which is the order they are printed in.
    const labels = (type: string) => ({ type, route: s.route, service: s.service, consumer: s.consumer, node: s.node, request_type: 'traditional_http', request_llm_model: '', llm_model: '' });
    const statusKey = s.code + SEP + s.matchedUri + SEP + s.matchedHost + SEP + s.responseSource + SEP + common;
    this.status
      .at(statusKey, () => ({
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
      }))
      .inc();
    this.latency.at(`request${SEP}${common}`, () => labels('request')).observe(s.latencyMs);
    if (s.upstreamLatencyMs !== undefined) this.latency.at(`upstream${SEP}${common}`, () => labels('upstream')).observe(s.upstreamLatencyMs);
    this.latency.at(`apisix${SEP}${common}`, () => labels('apisix')).observe(gatewayLatency(s));
    // APISIX adds both on every request, zero included: the series exist from the first one.
    this.bandwidth.at(`ingress${SEP}${common}`, () => labels('ingress')).inc(s.bytesIn ?? 0);
    this.bandwidth.at(`egress${SEP}${common}`, () => labels('egress')).inc(s.bytesOut ?? 0);
  }
}

/** The gateway's share: request minus upstream, never below 0 (the clocks differ). */
function gatewayLatency(s: HttpSample): number {
  return s.upstreamLatencyMs === undefined ? s.latencyMs : Math.max(0, s.latencyMs - s.upstreamLatencyMs);
}
