/**
 * The gateway's metrics: one prom-client Registry per gateway (several gateways in one process
 * never share a counter), with every standard metric defined here once so that names, labels and
 * buckets are the same whoever records them. Names follow APISIX's with our prefix
 * (`apisix_http_status` → `tollgate_http_status`), so dashboards port by a rename.
 *
 * Who records what: the prometheus plugin records the per-request HTTP metrics on the routes (or
 * global rules) that enable it, as in APISIX; the core records what the gateway does whatever the
 * routes say (plugin rejections, passive upstream health); mcp-bridge, api-breaker and the limit
 * helpers record their own through `PluginApi.metrics`; gauges that describe current state
 * (sessions, children, breakers, catalog, Redis, connections) are read from their owners at scrape
 * time, so they can never drift.
 *
 * Label cardinality is bounded: route, service and consumer ids (configured by the operator),
 * status codes, fixed enums, and MCP tool names capped per route (`metrics.max_tool_names`); never
 * a raw path, a session id or a client address.
 *
 * Several workers (node:cluster, `gateway.workers` above 1): each worker keeps its own registry;
 * the exporter in the primary (bin/cluster.ts) asks every worker for `registry.getMetricsAsJSON()`
 * and serves `aggregateMetrics()` of the answers. Every metric declares how it aggregates
 * (counters and histograms sum; gauges say which), so that change stays in the exporter's source.
 */
import { hostname } from 'node:os';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { GatewayContext, McpRequestInfo } from './context.js';
import { httpMetrics, LATENCY_BUCKETS_MS, type HttpMetrics, type HttpSample, type MetricNames } from './http-metrics.js';

export { LATENCY_BUCKETS_MS, type HttpSample, type MetricNames, type ResponseSource } from './http-metrics.js';

/** What became of one MCP tools/call (a closed set: it is a label). */
export type ToolCallOutcome =
  /** A result. */
  | 'ok'
  /** A result with `isError: true`: the tool ran and reported a failure. */
  | 'tool_error'
  /** A JSON-RPC error from the server (unknown tool, invalid arguments…). */
  | 'error'
  /** No answer within the route's request_timeout (the gateway cancelled it). */
  | 'timeout'
  /** The client cancelled it or went away. */
  | 'cancelled'
  /** The session ended under it (the server crashed or exited, the route changed). */
  | 'failed'
  /** A plugin refused it (an access rule, `refuse`); the client got the answer for an unknown tool. */
  | 'denied';

/** Why an MCP session ended (a closed set: it is a label). */
export type SessionEndReason =
  | 'client_closed'
  | 'client_disconnected'
  | 'idle'
  | 'reclaimed'
  | 'start_queue_full'
  | 'route_changed'
  | 'server_exited'
  | 'spawn_failed'
  | 'init_failed'
  | 'init_timeout'
  | 'message_too_large'
  /** An operator ended it (the Admin API's DELETE of a session). */
  | 'admin_ended'
  /** A remote MCP server failed it: unreachable, an error status, a broken stream, a lost session. */
  | 'upstream_failed'
  | 'other';

/** Current MCP state of one route, read at scrape time from mcp-bridge. */
export interface McpRouteGauges {
  route: string;
  /** The MCP server (`mcp_servers` id); empty for a route's inline command. */
  server?: string;
  sessions: number;
  children: number;
}

export type BreakerStateName = 'closed' | 'open' | 'half-open';

/** Current state of one circuit breaker, read at scrape time from api-breaker. */
export interface BreakerGauge {
  route: string;
  state: BreakerStateName;
}

/** Pending entries of one log batch processor, read at scrape time. */
export interface LogQueueGauge {
  plugin: string;
  route: string;
  entries: number;
}

/** What the composition root knows about the gateway's own parts, read at scrape time. */
export interface GatewaySources {
  catalog?(): { revision: number; reachable: boolean; syncErrors: number; storeReset?: boolean; resets?: { detected: number; restored: number } };
  /** Connections to Redis by name (`gateway`, `catalog`); absent when not in use. */
  redis?(): Array<{ name: string; reachable: boolean }>;
  /** Client connections open now, accepted since start, and requests in flight. */
  connections?(): { active: number; accepted: number; requests: number };
}

export interface GatewayMetricsOptions {
  /** Distinct tool names per route kept as label values; more are counted as `_other`. */
  maxToolNames?: number;
  /** Tollgate's version, for `tollgate_node_info`. */
  version?: string;
  /** `apisix`: the HTTP, node and connection metrics under APISIX's names and labels (core/http-metrics.ts). */
  names?: MetricNames;
}

const BREAKER_VALUE: Record<BreakerStateName, number> = { closed: 0, open: 1, 'half-open': 2 };
const OTHER_TOOL = '_other';
const MAX_TOOL_NAME_LENGTH = 128;

/**
 * One gateway's metrics. The fields are the metrics themselves (prom-client objects) for readers
 * that need them; recorders use the methods, which keep labels consistent and bounded.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  /** The prometheus plugin's per-request metrics, under the configured names. */
  readonly http: HttpMetrics;
  readonly connections: Gauge<'state'>;
  readonly upstreamStatus: Gauge<'upstream' | 'node'>;
  /** upstream → node address → the status value last set (1 reachable, 0 not). */
  private readonly lastUpstreamStatus = new Map<string, Map<string, number>>();
  readonly rejections: Counter<'plugin' | 'code'>;
  readonly limitStoreUnavailable: Counter<'plugin' | 'action'>;
  readonly breakerState: Gauge<'route'>;
  readonly catalogRevision: Gauge;
  readonly catalogReachable: Gauge;
  readonly catalogSyncErrors: Counter;
  readonly catalogStoreReset: Gauge;
  readonly catalogStoreResets: Counter;
  readonly catalogRestores: Counter;
  readonly redisReachable: Gauge<'connection'>;
  // MCP metrics carry the route and the MCP server (an `mcp_servers` id, empty for an inline
  // command): both are catalog records, so their number is the operator's, not the clients'.
  readonly mcpSessions: Gauge<'route' | 'server'>;
  readonly mcpChildren: Gauge<'route' | 'server'>;
  readonly mcpSessionsCreated: Counter<'route' | 'server' | 'transport'>;
  readonly mcpSessionsEnded: Counter<'route' | 'server' | 'reason'>;
  readonly mcpToolCalls: Counter<'route' | 'server' | 'tool' | 'outcome'>;
  readonly mcpToolCallLatency: Histogram<'route' | 'server' | 'tool'>;
  readonly mcpChildCrashes: Counter<'route' | 'server' | 'reason'>;
  readonly mcpDenied: Counter<'route' | 'plugin' | 'method' | 'name'>;
  readonly logEntriesDropped: Counter<'plugin' | 'route' | 'reason'>;
  /** Requests for a session another process owns (core/relay), by outcome: relayed, owner_gone, failed, received. */
  readonly relayRequests: Counter<'outcome'>;
  readonly logBatches: Counter<'plugin' | 'route' | 'outcome'>;
  readonly logQueue: Gauge<'plugin' | 'route'>;

  private readonly maxToolNames: number;
  private readonly toolNames = new Map<string, Set<string>>();
  private readonly mcpProviders = new Set<() => Iterable<McpRouteGauges>>();
  private readonly breakerProviders = new Set<() => Iterable<BreakerGauge>>();
  private readonly logQueueProviders = new Set<() => Iterable<LogQueueGauge>>();
  private sources: GatewaySources = {};
  /** Requests finished since start (APISIX's apisix_http_requests_total). */
  private requestsDone = 0;

  constructor(options: GatewayMetricsOptions = {}) {
    this.maxToolNames = options.maxToolNames ?? 100;
    const registers = [this.registry];
    const self = this;

    const apisix = options.names === 'apisix';
    this.http = httpMetrics(options.names ?? 'tollgate', this.registry);
    this.connections = apisix
      ? new Gauge({
          name: 'apisix_nginx_http_current_connections',
          help: 'Number of HTTP connections',
          labelNames: ['state'] as const,
          registers,
          collect() {
            const now = self.sources.connections?.();
            this.reset();
            if (!now) return;
            // nginx's stub_status from what Node knows: there is no separate "reading" state
            // (a request is counted once its head is parsed), so it is left out.
            this.set({ state: 'active' }, now.active);
            this.set({ state: 'accepted' }, now.accepted);
            this.set({ state: 'handled' }, now.accepted);
            this.set({ state: 'writing' }, now.requests);
            this.set({ state: 'waiting' }, Math.max(0, now.active - now.requests));
          },
        })
      : new Gauge({
          name: 'tollgate_http_current_connections',
          help: 'Client connections open on the data plane (active) and requests in flight (requests).',
          labelNames: ['state'] as const,
          registers,
          collect() {
            const now = self.sources.connections?.();
            this.reset();
            if (!now) return;
            this.set({ state: 'active' }, now.active);
            this.set({ state: 'requests' }, now.requests);
          },
        });
    if (apisix) {
      new Gauge({
        name: 'apisix_http_requests_total',
        help: 'The total number of client requests since APISIX started',
        registers,
        collect() {
          this.set(self.requestsDone);
        },
      });
    }
    new Gauge({
      name: apisix ? 'apisix_node_info' : 'tollgate_node_info',
      help: apisix ? 'Info of APISIX node' : 'This gateway: host name and Tollgate version (always 1).',
      labelNames: ['hostname', 'version'] as const,
      registers,
      aggregator: 'first',
    }).set({ hostname: hostname(), version: options.version ?? 'unknown' }, 1);
    this.upstreamStatus = new Gauge({
      name: 'tollgate_upstream_status',
      help: 'Passive upstream node health from real traffic: 1 when its last request got a response, 0 when it could not be reached or timed out.',
      labelNames: ['upstream', 'node'] as const,
      registers,
      aggregator: 'min',
    });
    this.rejections = new Counter({
      name: 'tollgate_rejected_requests_total',
      help: 'Requests a plugin ended before the backend (auth, limits, breaker…), by plugin and status code.',
      labelNames: ['plugin', 'code'] as const,
      registers,
    });
    this.limitStoreUnavailable = new Counter({
      name: 'tollgate_limit_store_unavailable_total',
      help: 'Requests whose rate limit store (Redis) was unavailable, by plugin and what happened to the request (rejected, or allowed by allow_degradation).',
      labelNames: ['plugin', 'action'] as const,
      registers,
    });
    this.breakerState = new Gauge({
      name: 'tollgate_breaker_state',
      help: 'Circuit breaker state by route: 0 closed, 1 open, 2 half-open (the worst when a route has several).',
      labelNames: ['route'] as const,
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        const worst = new Map<string, number>();
        for (const provider of self.breakerProviders) {
          for (const { route, state } of provider()) worst.set(route, Math.max(worst.get(route) ?? 0, BREAKER_VALUE[state]));
        }
        for (const [route, value] of worst) this.set({ route }, value);
      },
    });
    this.catalogRevision = new Gauge({
      name: 'tollgate_catalog_revision',
      help: "Revision of the catalog snapshot this gateway serves (APISIX's configuration modify index).",
      registers,
      aggregator: 'min',
      collect() {
        const catalog = self.sources.catalog?.();
        if (catalog) this.set(catalog.revision);
      },
    });
    this.catalogReachable = new Gauge({
      name: 'tollgate_catalog_reachable',
      help: 'Whether the catalog store is reachable (1) or the gateway serves its last good snapshot (0).',
      registers,
      aggregator: 'min',
      collect() {
        const catalog = self.sources.catalog?.();
        if (catalog) this.set(catalog.reachable ? 1 : 0);
      },
    });
    this.catalogSyncErrors = new Counter({
      name: 'tollgate_catalog_sync_errors_total',
      help: 'Times the catalog store failed while the gateway was following it (a failed load, poll or write).',
      registers,
      collect() {
        const catalog = self.sources.catalog?.();
        if (!catalog) return;
        this.reset();
        this.inc(catalog.syncErrors);
      },
    });
    this.catalogStoreReset = new Gauge({
      name: 'tollgate_catalog_store_reset',
      help: 'Whether the catalog store lost the catalog (a Redis restarted empty) and the gateway serves its snapshot instead (1) or not (0).',
      registers,
      aggregator: 'max',
      collect() {
        const catalog = self.sources.catalog?.();
        if (catalog) this.set(catalog.storeReset ? 1 : 0);
      },
    });
    const catalogCounter = (name: string, help: string, field: 'detected' | 'restored') =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const catalog = self.sources.catalog?.();
          if (!catalog) return;
          this.reset();
          this.inc(catalog.resets?.[field] ?? 0);
        },
      });
    this.catalogStoreResets = catalogCounter(
      'tollgate_catalog_store_resets_total',
      'Times this gateway found the catalog store without its catalog (a Redis restarted empty) and kept serving its snapshot.',
      'detected',
    );
    this.catalogRestores = catalogCounter(
      'tollgate_catalog_restores_total',
      "Times this gateway wrote its snapshot back into a catalog store that had lost it (catalog.restore_on_reset).",
      'restored',
    );
    this.redisReachable = new Gauge({
      name: 'tollgate_redis_reachable',
      help: "Whether the gateway's Redis connections are ready (1) or not (0), by connection (gateway: limits and sessions; catalog).",
      labelNames: ['connection'] as const,
      registers,
      aggregator: 'min',
      collect() {
        this.reset();
        for (const { name, reachable } of self.sources.redis?.() ?? []) this.set({ connection: name }, reachable ? 1 : 0);
      },
    });
    const mcpGauge = (name: string, help: string, field: 'sessions' | 'children') =>
      new Gauge({
        name,
        help,
        labelNames: ['route', 'server'] as const,
        registers,
        collect() {
          this.reset();
          const totals = new Map<string, { route: string; server: string; value: number }>();
          for (const provider of self.mcpProviders) {
            for (const entry of provider()) {
              const server = entry.server ?? '';
              const key = `${entry.route}\n${server}`;
              const total = totals.get(key) ?? { route: entry.route, server, value: 0 };
              total.value += entry[field];
              totals.set(key, total);
            }
          }
          for (const { route, server, value } of totals.values()) this.set({ route, server }, value);
        },
      });
    this.mcpSessions = mcpGauge('tollgate_mcp_sessions', 'Open MCP sessions by route and MCP server.', 'sessions');
    this.mcpChildren = mcpGauge('tollgate_mcp_children', 'Running MCP server processes by route and MCP server (stopping ones included).', 'children');
    this.mcpSessionsCreated = new Counter({
      name: 'tollgate_mcp_sessions_created_total',
      help: 'MCP sessions opened, by route, MCP server and transport (streamable-http, sse).',
      labelNames: ['route', 'server', 'transport'] as const,
      registers,
    });
    this.mcpSessionsEnded = new Counter({
      name: 'tollgate_mcp_sessions_ended_total',
      help: 'MCP sessions ended, by route, MCP server and reason.',
      labelNames: ['route', 'server', 'reason'] as const,
      registers,
    });
    this.mcpToolCalls = new Counter({
      name: 'tollgate_mcp_tool_calls_total',
      help: 'MCP tools/call requests by route, MCP server, tool and outcome (ok, tool_error, error, timeout, cancelled, failed, denied).',
      labelNames: ['route', 'server', 'tool', 'outcome'] as const,
      registers,
    });
    this.mcpToolCallLatency = new Histogram({
      name: 'tollgate_mcp_tool_call_latency',
      help: 'MCP tools/call latency in milliseconds, from the request reaching the server process to its answer.',
      labelNames: ['route', 'server', 'tool'] as const,
      buckets: LATENCY_BUCKETS_MS,
      registers,
    });
    this.mcpChildCrashes = new Counter({
      name: 'tollgate_mcp_child_crashes_total',
      help: 'MCP server processes that exited without being asked (exited) or could not be started (spawn_failed), by route and MCP server.',
      labelNames: ['route', 'server', 'reason'] as const,
      registers,
    });
    this.mcpDenied = new Counter({
      name: 'tollgate_mcp_denied_total',
      help: 'MCP requests a plugin refused (tools/call, prompts/get, resources/read, resources/(un)subscribe, completion/complete), by route, plugin, method and name (tool, prompt or resource URI; names past the first metrics.max_tool_names of a route count as _other).',
      labelNames: ['route', 'plugin', 'method', 'name'] as const,
      registers,
    });
    this.relayRequests = new Counter({
      name: 'tollgate_relay_requests_total',
      help: "Requests naming a session another worker or instance owns: relayed to it, answered 404 because it is gone (owner_gone), or failed mid-way; and received from another (received).",
      labelNames: ['outcome'] as const,
      registers,
    });
    this.logEntriesDropped = new Counter({
      name: 'tollgate_log_entries_dropped_total',
      help: 'Log entries a log sink plugin dropped, by plugin, route and reason (buffer_full, send_failed, shutdown).',
      labelNames: ['plugin', 'route', 'reason'] as const,
      registers,
    });
    this.logBatches = new Counter({
      name: 'tollgate_log_batches_total',
      help: 'Log batches sent to a collector, by plugin, route and outcome (sent; failed counts every failed attempt).',
      labelNames: ['plugin', 'route', 'outcome'] as const,
      registers,
    });
    this.logQueue = new Gauge({
      name: 'tollgate_batch_process_entries',
      help: 'Log entries waiting in a batch processor, by plugin and route (APISIX: apisix_batch_process_entries).',
      labelNames: ['plugin', 'route'] as const,
      registers,
      collect() {
        this.reset();
        for (const provider of self.logQueueProviders) {
          for (const { plugin, route, entries } of provider()) this.inc({ plugin, route }, entries);
        }
      },
    });
  }

  /** The composition root tells the metrics where the gateway's own state lives. */
  setSources(sources: GatewaySources): void {
    this.sources = sources;
  }

  /** mcp-bridge: current sessions and children per route; returns the unregister function. */
  provideMcp(provider: () => Iterable<McpRouteGauges>): () => void {
    return addProvider(this.mcpProviders, provider);
  }

  /** api-breaker: current breaker states; returns the unregister function. */
  provideBreakers(provider: () => Iterable<BreakerGauge>): () => void {
    return addProvider(this.breakerProviders, provider);
  }

  /** Log sink plugins: entries waiting per processor; returns the unregister function. */
  provideLogQueues(provider: () => Iterable<LogQueueGauge>): () => void {
    return addProvider(this.logQueueProviders, provider);
  }

  /**
   * A tool name as a label value: the first `maxToolNames` distinct names seen on a route are
   * kept, later ones count as `_other`, so a client inventing tool names cannot grow the registry.
   */
  toolLabel(route: string, tool: string | undefined): string {
    if (!tool || tool.length > MAX_TOOL_NAME_LENGTH) return OTHER_TOOL;
    let seen = this.toolNames.get(route);
    if (!seen) {
      seen = new Set();
      this.toolNames.set(route, seen);
    }
    if (seen.has(tool)) return tool;
    if (seen.size >= this.maxToolNames) return OTHER_TOOL;
    seen.add(tool);
    return tool;
  }

  /** The prometheus plugin: one finished request. */
  recordHttp(sample: HttpSample): void {
    this.http.record(sample);
  }

  /** `server`: the MCP server's `mcp_servers` id, empty for a route's inline command. */
  recordToolCall(route: string, tool: string | undefined, outcome: ToolCallOutcome, latencyMs: number, server = ''): void {
    const label = this.toolLabel(route, tool);
    this.mcpToolCalls.inc({ route, server, tool: label, outcome });
    this.mcpToolCallLatency.observe({ route, server, tool: label }, latencyMs);
  }

  /**
   * Called by the core after every request (the log phase has run): rejections by plugin and
   * passive upstream health. Cheap on the common path: two field reads.
   */
  requestDone(ctx: GatewayContext): void {
    this.requestsDone += 1;
    const state = ctx.gateway;
    // The error's own status: an MCP client gets a rate limit as a JSON-RPC error inside a 200.
    const status = state.error?.status ?? ctx.status;
    if (state.answeredBy !== undefined && status >= 400) {
      this.rejections.inc({ plugin: state.answeredBy, code: String(status) });
    }
    const mcp = state.mcp;
    if (mcp !== undefined) this.countDenials(state.route?.id ?? '', mcp);
    const outcome = state.upstreamOutcome;
    if (outcome?.addr !== undefined) {
      // Unreachable or timed out: the proxy answered 502/504 without an upstream status.
      const reached = outcome.status !== undefined;
      if (reached || ctx.status === 502 || ctx.status === 504) {
        const route = state.route;
        const upstream = route?.upstreamId ?? (route ? `route/${route.id}` : '');
        // Set only on a change: the label lookup would otherwise run on every proxied request.
        let nodes = this.lastUpstreamStatus.get(upstream);
        if (!nodes) this.lastUpstreamStatus.set(upstream, (nodes = new Map()));
        const value = reached ? 1 : 0;
        if (nodes.get(outcome.addr) !== value) {
          nodes.set(outcome.addr, value);
          this.upstreamStatus.set({ upstream, node: outcome.addr }, value);
        }
      }
    }
  }

  /** MCP requests the message filters refused (`McpRequestInfo.refuse`). */
  private countDenials(route: string, mcp: McpRequestInfo): void {
    for (const message of mcp.kind === 'batch' ? (mcp.batch ?? []) : [mcp]) {
      if (message.refusedBy === undefined) continue;
      this.mcpDenied.inc({ route, plugin: message.refusedBy, method: message.method ?? '', name: this.toolLabel(route, message.name) });
    }
  }

  /** The exposition text (Prometheus text format), process metrics included when asked. */
  async exposition(withProcess: boolean): Promise<string> {
    const own = await this.registry.metrics();
    return withProcess ? own + (await processRegistry().metrics()) : own;
  }

  /** This gateway's metrics as JSON, what a worker would send its primary for aggregation. */
  async snapshot(withProcess: boolean): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    const own = await this.registry.getMetricsAsJSON();
    return withProcess ? [...own, ...(await processRegistry().getMetricsAsJSON())] : own;
  }
}

/**
 * Sums what several workers (or gateways) report into one exposition: counters and histograms
 * add up, gauges aggregate as each declares (sum by default; min/max/first where a sum would lie).
 */
export function aggregateMetrics(snapshots: Array<MetricObjectWithValues<MetricValue<string>>[]>): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots).metrics();
}

/** The same sum as JSON (what the Admin API's `/metrics` serves the dashboard). */
export function aggregateMetricsJson(snapshots: Array<MetricObjectWithValues<MetricValue<string>>[]>): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
  return AggregatorRegistry.aggregate(snapshots).getMetricsAsJSON();
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

function addProvider<T>(set: Set<T>, provider: T): () => void {
  set.add(provider);
  return () => set.delete(provider);
}

let processMetrics: Registry | undefined;

/**
 * Node process metrics (CPU, memory, heap, event loop lag, GC, handles) under their standard
 * names (`process_*`, `nodejs_*`), so stock Node.js dashboards work. They describe the process,
 * not a gateway, so there is one registry per process, created on first use: prom-client's event
 * loop and GC monitors cannot be stopped, and one set per gateway would pile up in a process that
 * starts many (the test suite).
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
