/**
 * http-logger — sends log entries to an HTTP collector in batches (APISIX http-logger): APISIX's
 * default entry with an `mcp` object on MCP routes, or a custom `log_format`; optionally the
 * bodies, and one audit entry per MCP tool call.
 *
 * Phases: access (listens to the request body when asked), body filter (keeps the response body
 * when asked), log (queues the entry). Fails open: the request path only queues (tollgate/kit's BatchProcessor);
 * a collector that is down, slow, or answers garbage costs retries with backoff in the background,
 * and while it is away at most `max_pending_entries` entries wait; the rest are dropped and counted
 * (`tollgate_log_entries_dropped_total{plugin="http-logger"}`). Requests never notice (faults-checklist B-23).
 */
import { Agent, request } from 'undici';
import type { RouteInfo } from '../../core/context.js';
import { BatchProcessor } from '../kit/index.js';
import { LOG_FORMAT_EXTRA_SCHEMA, LOG_FORMAT_SCHEMA, LOG_SINK_PROPERTIES, LOG_SINK_TAPS, LogSinkRoute, type LogFormats, type LogSinkConf } from '../kit/index.js';
import { LogThrottle } from '../../core/log-throttle.js';
import { definePlugin, type Disposable, type PluginApi } from '../../core/plugin.js';

interface HttpLoggerConf extends LogSinkConf {
  uri: string;
  auth_header?: string;
  timeout: number;
  concat_method: 'json' | 'new_line';
  ssl_verify: boolean;
  name: string;
  batch_max_size: number;
  inactive_timeout: number;
  buffer_duration: number;
  max_retry_count: number;
  retry_delay: number;
  max_concurrent_batches: number;
}

interface HttpLoggerMetadata extends LogFormats {
  max_pending_entries?: number;
}

type Entry = Record<string, unknown>;

/** Entries waiting per route when plugin_metadata sets no `max_pending_entries` (APISIX's figure). */
const DEFAULT_MAX_PENDING_ENTRIES = 8192;
/** A collector's answer is read up to this much, then the connection is dropped (a huge or endless body). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** How long a replaced route version keeps sending entries of requests that were still running. */
const RETIRE_AFTER_MS = 10_000;
/** Longest a gateway shutdown waits for the last batches. */
const SHUTDOWN_FLUSH_MS = 5_000;

/** This gateway's http-logger instances (for the queue gauge and the shutdown flush). */
class Loggers {
  readonly live = new Set<HttpLog>();
  readonly throttle = new LogThrottle(1);
  private readonly stopGauge: () => void;

  constructor(api: PluginApi) {
    this.stopGauge = api.metrics.provideLogQueues(() =>
      [...this.live].map((log) => ({ plugin: 'http-logger', route: log.routeId, entries: log.processor.pending })),
    );
  }

  async closeAll(): Promise<void> {
    this.stopGauge();
    await Promise.all([...this.live].map((log) => log.close(SHUTDOWN_FLUSH_MS)));
    this.live.clear();
  }
}

const loggers = (api: PluginApi) => api.state('http-logger', () => new Loggers(api));

class HttpLog implements Disposable {
  readonly routeId: string;
  readonly processor: BatchProcessor<Entry>;
  readonly route: LogSinkRoute;
  private agent?: Agent;
  private retireTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  constructor(
    private readonly conf: HttpLoggerConf,
    route: RouteInfo,
    private readonly api: PluginApi,
  ) {
    this.routeId = route.id;
    const metadata = api.metadata('http-logger') as HttpLoggerMetadata | undefined;
    const labels = { plugin: 'http-logger', route: route.id };
    const { metrics } = api;
    const group = loggers(api);
    this.processor = new BatchProcessor<Entry>(
      {
        batchMaxSize: conf.batch_max_size,
        inactiveTimeoutMs: conf.inactive_timeout * 1000,
        bufferDurationMs: conf.buffer_duration * 1000,
        maxRetryCount: conf.max_retry_count,
        retryDelayMs: conf.retry_delay * 1000,
        maxPendingEntries: metadata?.max_pending_entries ?? DEFAULT_MAX_PENDING_ENTRIES,
        maxConcurrentBatches: conf.max_concurrent_batches,
      },
      (entries, signal) => this.send(entries, signal),
      {
        sent: () => metrics.logBatches.inc({ ...labels, outcome: 'sent' }),
        failed: (err, attempt, final) => {
          metrics.logBatches.inc({ ...labels, outcome: 'failed' });
          // One line per second per route at most: a dead collector must not flood the gateway's log.
          if (!group.throttle.take(route.id).ok) return;
          api.logger.warn(
            { plugin: 'http-logger', name: conf.name, route: route.id, collector: withoutCredentials(conf.uri), attempt, err: (err as Error).message ?? String(err) },
            final ? 'log collector failed; batch dropped' : 'log collector failed; will retry',
          );
        },
        dropped: (entries, reason) => metrics.logEntriesDropped.inc({ ...labels, reason }, entries),
      },
    );
    this.route = new LogSinkRoute('http-logger', conf, route, api, (entry) => this.processor.push(entry));
    group.live.add(this);
  }

  /** Read per entry: plugin_metadata may change while the route stays. */
  metadata(): HttpLoggerMetadata | undefined {
    return this.api.metadata('http-logger') as HttpLoggerMetadata | undefined;
  }

  /**
   * The route version is gone. Requests that matched it may still be finishing, so it keeps
   * queueing for a while; what is buffered goes out now.
   */
  dispose(): void {
    this.route.dispose();
    this.processor.flush();
    this.retireTimer ??= setTimeout(() => void this.close(Number(this.conf.timeout) * 1000).finally(() => loggers(this.api).live.delete(this)), RETIRE_AFTER_MS);
    this.retireTimer.unref();
  }

  /** Sends what is left (up to `deadlineMs`), then releases the connections. */
  close(deadlineMs: number): Promise<void> {
    clearTimeout(this.retireTimer);
    this.route.dispose();
    this.closing ??= this.processor.close(deadlineMs).finally(() => this.agent?.destroy().catch(() => undefined));
    return this.closing;
  }

  private async send(entries: Entry[], closed: AbortSignal): Promise<void> {
    const { conf } = this;
    const json = conf.concat_method === 'json';
    // APISIX: with batch_max_size 1 a json batch is the entry itself, not an array of one.
    const body = json ? JSON.stringify(conf.batch_max_size === 1 ? entries[0] : entries) : entries.map((e) => JSON.stringify(e)).join('\n');
    const headers: Record<string, string> = { 'content-type': json ? 'application/json' : 'text/plain' };
    if (conf.auth_header) headers.authorization = conf.auth_header;
    const timeoutMs = conf.timeout * 1000;
    this.agent ??= new Agent({ connections: conf.max_concurrent_batches, keepAliveTimeout: 4000, connect: { timeout: timeoutMs, rejectUnauthorized: conf.ssl_verify } });
    const res = await request(conf.uri, {
      method: 'POST',
      body,
      headers,
      dispatcher: this.agent,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.any([closed, AbortSignal.timeout(timeoutMs)]),
    });
    // Whatever it answers (garbage, a huge body), read a little and move on.
    await res.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`collector answered ${res.statusCode}`);
  }
}

export default definePlugin<HttpLoggerConf, HttpLog>({
  name: 'http-logger',
  version: '1.0.0',
  priority: 410,
  description: 'Sends log entries (and optionally MCP tool-call audit entries) to an HTTP collector in batches.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['uri'],
    properties: {
      uri: { type: 'string', pattern: '^https?://', description: 'Collector URL (http or https); entries are POSTed to it.' },
      auth_header: { type: 'string', minLength: 1, writeOnly: true, description: 'Authorization header value sent to the collector (masked for the viewer role).' },
      timeout: { type: 'integer', minimum: 1, default: 3, description: 'Seconds to connect to the collector and for each step of its answer.' },
      concat_method: {
        enum: ['json', 'new_line'],
        default: 'json',
        description: '`json`: a batch is a JSON array (a single object when `batch_max_size` is 1); `new_line`: one JSON entry per line.',
      },
      ssl_verify: {
        type: 'boolean',
        default: true,
        description: "Verify an https collector's certificate. APISIX defaults to false; Tollgate verifies unless told not to.",
      },
      name: { type: 'string', minLength: 1, default: 'http logger', description: 'A name for this batch processor, used in log lines.' },
      batch_max_size: { type: 'integer', minimum: 1, default: 1000, description: 'Entries per batch; a full batch is sent at once.' },
      inactive_timeout: { type: 'integer', minimum: 1, default: 5, description: 'Seconds without a new entry after which a batch is sent.' },
      buffer_duration: { type: 'integer', minimum: 1, default: 60, description: "Seconds after a batch's first entry by which it is sent." },
      max_retry_count: { type: 'integer', minimum: 0, default: 0, description: 'Retries of a failed batch before it is dropped (and counted).' },
      retry_delay: {
        type: 'integer',
        minimum: 0,
        default: 1,
        description: 'Seconds before the first retry; each further retry waits twice as long as the one before (at most 60 s).',
      },
      max_concurrent_batches: {
        type: 'integer',
        minimum: 1,
        maximum: 64,
        default: 4,
        description:
          'Batches sent to the collector at the same time (and connections opened to it), at most. A full batch goes out at once unless this many are in flight; raise it for a slow collector with small batches. Tollgate\'s: APISIX sends every batch at once.',
      },
      ...LOG_SINK_PROPERTIES,
    },
  },
  metadataSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      log_format: LOG_FORMAT_SCHEMA,
      log_format_extra: LOG_FORMAT_EXTRA_SCHEMA,
      max_pending_entries: {
        type: 'integer',
        minimum: 1,
        description: `Entries that may wait per route while the collector is slow or down (default ${DEFAULT_MAX_PENDING_ENTRIES}); further entries are dropped and counted.`,
      },
    },
  },

  destroy: (api) => loggers(api).closeAll(),

  create: (conf, route, api) => new HttpLog(conf, route, api),

  ...LOG_SINK_TAPS,

  log(ctx, _conf, log) {
    log.processor.push(log.route.entry(ctx, log.metadata()));
  },
});

/** A collector URL for the gateway's own log: without user:password@. */
function withoutCredentials(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//');
}
