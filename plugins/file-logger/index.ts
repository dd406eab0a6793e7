/**
 * file-logger — appends one JSON line per request to a file (APISIX file-logger): APISIX's default
 * entry (request, response, upstream, route, service, consumer, latencies) with an `mcp` object on
 * MCP routes, or a custom `log_format`; optionally the bodies, and one audit line per MCP tool call.
 *
 * Phases: access (listens to the request body when asked), body filter (keeps the response body
 * when asked), log. Fails open: writes are asynchronous and buffered up to 16 MiB per file; past
 * that, or when the file cannot be written, lines are dropped and counted
 * (`tollgate_log_entries_dropped_total{plugin="file-logger"}`), and requests never notice.
 * The path is opened as the gateway's own user: only admins can set it (Admin API).
 */
import { resolve } from 'node:path';
import type { RouteInfo } from '../../core/context.js';
import { openLogFile, type LineWriter } from '../../core/line-writer.js';
import { LOG_FORMAT_EXTRA_SCHEMA, LOG_FORMAT_SCHEMA, LOG_SINK_PROPERTIES, LOG_SINK_TAPS, LogSinkRoute, type LogFormats, type LogSinkConf } from '../kit/index.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../../core/metrics.js';
import { definePlugin, type Disposable, type PluginApi } from '../../core/plugin.js';
import { RefCountedMap, type Held } from '../../core/ref-counted-map.js';

interface FileLoggerConf extends LogSinkConf {
  path?: string;
}

interface FileLoggerMetadata extends LogFormats {
  path?: string;
}


/**
 * How long a file nobody configures any more stays open: requests that matched the old route
 * version may still be finishing, and a route edit often brings the same path straight back.
 */
const UNUSED_CLOSE_MS = 10_000;

/** One open file, shared by every route that logs to it. */
class FileSink {
  private readonly writer?: LineWriter;
  private closing?: Promise<void>;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    private readonly dropped: (lines: number) => void,
  ) {
    // Opened here, synchronously (once per file, when a route is compiled): a path that cannot be
    // opened is reported at once, and the asynchronous writer starts with a file it can flush.
    // Lines go out in chunks, at least once a second, up to 16 MiB waiting (core/line-writer.ts);
    // SIGHUP reopens the file (logrotate).
    try {
      this.writer = openLogFile(path, { onDrop: dropped, onError: (err) => this.fail(err) });
    } catch (err) {
      this.fail(err);
    }
  }

  /** Once per file: a full disk must not add a log line per request. */
  private fail(err: unknown): void {
    if (!this.failed) this.logger.error({ err, path: this.path }, 'file-logger cannot write its file; entries are dropped');
    this.failed = true;
  }

  write(entry: Record<string, unknown>): void {
    // After a failed write (a full disk) later lines are still tried: the disk may have room again.
    if (!this.writer || this.closing) {
      this.dropped(1);
      return;
    }
    try {
      this.writer.write(`${JSON.stringify(entry)}\n`);
    } catch (err) {
      this.dropped(1);
      this.fail(err);
    }
  }

  /** Writes what is buffered and closes the file. */
  end(): Promise<void> {
    this.closing ??= this.writer?.close() ?? Promise.resolve();
    return this.closing;
  }
}

/** This gateway's open files, by absolute path; one nobody holds closes after UNUSED_CLOSE_MS. */
class FileSinks {
  private readonly closing = new Set<Promise<void>>();
  private readonly sinks = new RefCountedMap<FileSink>((sink) => this.track(sink.end()), { lingerMs: UNUSED_CLOSE_MS });

  constructor(
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {}

  acquire(path: string, route: string): Held<FileSink> {
    const absolute = resolve(path);
    return this.sinks.acquire(
      absolute,
      () => new FileSink(absolute, this.logger, (lines) => this.metrics.logEntriesDropped.inc({ plugin: 'file-logger', route, reason: 'buffer_full' }, lines)),
    );
  }

  /** Gateway shutdown (after requests in flight have finished): flush and close every file. */
  async closeAll(): Promise<void> {
    this.sinks.clear((sink) => this.track(sink.end()));
    await Promise.all(this.closing);
  }

  private track(closed: Promise<void>): void {
    this.closing.add(closed);
    void closed.finally(() => this.closing.delete(closed));
  }
}

const fileSinks = (api: PluginApi) => api.state('file-logger', () => new FileSinks(api.logger, api.metrics));

class FileLog implements Disposable {
  readonly sink?: FileSink;
  private readonly held?: Held<FileSink>;
  readonly route: LogSinkRoute;
  private disposed = false;

  constructor(
    conf: FileLoggerConf,
    route: RouteInfo,
    private readonly api: PluginApi,
  ) {
    const path = conf.path ?? (api.metadata('file-logger') as FileLoggerMetadata | undefined)?.path;
    if (path) {
      this.held = fileSinks(api).acquire(path, route.id);
      this.sink = this.held.value;
    }
    else api.logger.error({ plugin: 'file-logger', route: route.id }, 'file-logger has no path (route config or plugin_metadata); nothing is logged');
    this.route = new LogSinkRoute('file-logger', conf, route, api, (entry) => this.sink?.write(entry));
  }

  /** Read per entry: plugin_metadata may change while the route stays. */
  metadata(): FileLoggerMetadata | undefined {
    return this.api.metadata('file-logger') as FileLoggerMetadata | undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.route.dispose();
    this.held?.release();
  }
}

export default definePlugin<FileLoggerConf, FileLog>({
  name: 'file-logger',
  version: '1.0.0',
  priority: 399,
  description: 'Appends one JSON line per request (and optionally per MCP tool call) to a file.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      path: {
        type: 'string',
        minLength: 1,
        description: 'File to append to, relative to the working directory (created with its directory). Required unless plugin_metadata sets one.',
      },
      ...LOG_SINK_PROPERTIES,
    },
  },
  metadataSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      path: { type: 'string', minLength: 1, description: 'File for routes whose config sets no `path`.' },
      log_format: LOG_FORMAT_SCHEMA,
      log_format_extra: LOG_FORMAT_EXTRA_SCHEMA,
    },
  },

  // As APISIX: a route that could never log is refused when it is written.
  checkWithMetadata(conf, metadata) {
    if (conf.path !== undefined || typeof metadata?.path === 'string') return undefined;
    return 'property "path" is not set in either the plugin conf or the metadata';
  },

  destroy: (api) => fileSinks(api).closeAll(),

  create: (conf, route, api) => new FileLog(conf, route, api),

  ...LOG_SINK_TAPS,

  log(ctx, _conf, log) {
    log.sink?.write(log.route.entry(ctx, log.metadata()));
  },
});
