/**
 * prometheus — HTTP metrics for the routes (or global rules) that enable it, as in APISIX:
 * responses by status, route, service and consumer (`tollgate_http_status`), request, upstream and
 * gateway latency (`tollgate_http_latency`, ms) and bytes in and out (`tollgate_bandwidth`), or
 * APISIX's own names and labels with `metrics.names: apisix` (core/http-metrics.ts). The
 * exporter serving them, and everything the gateway records whatever the routes say (MCP sessions
 * and tool calls, limits, breakers, catalog, Redis, the process), is the core's
 * (core/metrics.ts, `metrics.listen`).
 *
 * Phase: log, after the response; never delays or fails a request (fail open: a recording error is
 * logged by the core, the client never sees it). Labels are bounded: route, service and consumer
 * ids (or names with `prefer_name`), never paths.
 */
import type { GatewayContext } from '../../core/context.js';
import { responseStatus } from '../../core/respond.js';
import type { GatewayMetrics } from '../../core/metrics.js';
import { definePlugin } from '../../core/plugin.js';

interface PrometheusConf {
  prefer_name: boolean;
}

/** The metrics of one gateway, as this route's plugin instance records them. */
class Recorder {
  constructor(readonly metrics: GatewayMetrics) {}
}

export default definePlugin<PrometheusConf, Recorder>({
  name: 'prometheus',
  version: '1.0.0',
  priority: 500,
  description: 'Records HTTP status, latency and bandwidth metrics for the route, served by the Prometheus exporter.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      prefer_name: {
        type: 'boolean',
        default: false,
        description: 'Label metrics with the route `name` instead of its id (the id when the route has no name). Services are always labelled by id.',
      },
    },
  },

  create: (_conf, _route, api) => new Recorder(api.metrics),

  log(ctx, conf, recorder) {
    record(recorder.metrics, ctx, conf.prefer_name);
  },
});

function record(metrics: GatewayMetrics, ctx: GatewayContext, preferName: boolean): void {
  const state = ctx.gateway;
  // The matched route (for a global rule's instance, whichever route the request matched).
  const route = state.route;
  const outcome = state.upstreamOutcome;
  metrics.recordHttp({
    code: String(responseStatus(ctx)),
    route: route ? (preferName ? (route.name ?? route.id) : route.id) : '',
    matchedUri: state.matchedUri ?? '',
    matchedHost: state.matchedHost ?? '',
    service: route?.serviceId ?? '',
    consumer: state.consumer?.username ?? '',
    node: state.var('balancer_ip') ?? '',
    // An upstream that sent a response head answered; one that was tried and did not is the
    // proxy's failure (APISIX: nginx); anything else the gateway answered itself.
    responseSource: outcome?.status !== undefined ? 'upstream' : outcome?.addr !== undefined ? 'nginx' : 'apisix',
    latencyMs: performance.now() - state.startTime,
    upstreamLatencyMs: outcome?.latency,
    bytesIn: state.bytesIn,
    bytesOut: state.bytesOut,
  });
}
