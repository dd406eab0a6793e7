/**
 * The access log: one JSON line per request, written after the response has finished (the data
 * plane's `onRequestDone`), so a slow disk or pipe never delays a client. Writes are asynchronous
 * and buffered up to a bound; past it lines are dropped and counted rather than letting memory
 * grow (design.md "log sink down").
 *
 * The lines are what pino writes (a JSON object per line, `time` first) but are serialized with
 * JSON.stringify into a LineWriter: through pino's serializer and sonic-boom a line cost about
 * 11 µs of CPU, this way 4–5 µs (core/line-writer.ts), on a path that runs for every request.
 *
 * Credentials never reach it: a line carries the path without its query string and no header
 * values, so an `apikey`, `Authorization`, a cookie or a `?jwt=` token has nowhere to appear.
 */
import { ConfigError } from './config.js';
import type { GatewayContext, McpRequestInfo } from './context.js';
import { isoTime } from './iso-time.js';
import { LineWriter, openLogFile } from './line-writer.js';
import type { Logger } from './logger.js';
import { responseStatus } from './respond.js';

/** Client-chosen strings (a tool name, a JSON-RPC id) are cut to this length in a line. */
const MAX_FIELD_CHARS = 256;

export interface AccessLogOptions {
  /** A file to append to; empty for stdout. Ignored when `destination` is given. */
  path: string;
  /** Where lines go instead (tests capture them). */
  destination?: NodeJS.WritableStream;
  /** The gateway's own logger, for the sink's errors. */
  logger: Logger;
  /** Called with the number of lines dropped because the sink could not keep up. */
  onDrop?(lines: number): void;
}

/** The fields of one access log line (undefined fields are left out of the line). */
export interface AccessLogEntry {
  request_id: string;
  client_ip: string;
  method: string | undefined;
  host: string;
  path: string;
  route_id?: string;
  service_id?: string;
  consumer?: string;
  status: number;
  bytes_in?: number;
  bytes_out?: number;
  /** Milliseconds from the request's arrival to the end of the response. */
  latency: number;
  upstream_addr?: string;
  upstream_status?: number;
  upstream_latency?: number;
  /** The gateway's error code (`GW_…`) when the request was answered with an error. */
  error_code?: string;
  /** The plugin that ended the request early (an auth failure, a limit, an open breaker). */
  answered_by?: string;
  /** True when the client went away before the response was complete. */
  aborted?: boolean;
  mcp_transport?: string;
  mcp_session_id?: string;
  mcp_method?: string;
  mcp_name?: string;
  mcp_id?: string | number;
  mcp_error?: number;
  /**
   * Names (tools, prompts, resource URIs) of the request's MCP messages that a plugin refused
   * (`McpRequestInfo.refuse`, an access list): the client got the answer for a name that does not exist.
   */
  mcp_denied?: string[];
  /** The plugin that refused them. */
  mcp_denied_by?: string;
}

export class AccessLog {
  private readonly writer?: LineWriter;
  private sinkFailed = false;

  constructor(private readonly options: AccessLogOptions) {
    if (options.destination) return;
    const sink = { onDrop: options.onDrop, onError: (err: NodeJS.ErrnoException) => this.failed(err) };
    // stdout is shared with the gateway's own log: writes that a pipe keeps whole.
    this.writer = options.path !== '' ? openFile(options.path, sink) : new LineWriter(1, { ...sink, maxWriteBytes: 4096 });
  }

  /** Writes the line for a finished request; never throws into the data plane. */
  write(ctx: GatewayContext): void {
    try {
      const line = formatLine(accessLogEntry(ctx));
      if (this.writer) this.writer.write(line);
      else this.options.destination!.write(line);
    } catch (err) {
      this.failed(err);
    }
  }

  /** Writes what is buffered and closes a file (stdout stays open). */
  close(): Promise<void> {
    return this.writer?.close() ?? Promise.resolve();
  }

  /** Reported once: a full disk must not turn every request into a log line of its own. */
  private failed(err: unknown): void {
    if (this.sinkFailed) return;
    this.sinkFailed = true;
    this.options.logger.error({ err, path: this.options.path || 'stdout' }, 'access log cannot be written');
  }
}

/** One line: `{"time":"…",` then the entry's fields (those undefined are left out). */
export function formatLine(entry: object): string {
  const json = JSON.stringify(entry);
  return `{"time":"${isoTime()}"${json === '{}' ? '}' : `,${json.slice(1)}`}\n`;
}

/** The access log fields of a finished request. */
export function accessLogEntry(ctx: GatewayContext): AccessLogEntry {
  const state = ctx.gateway;
  const { res } = ctx;
  const finished = res.writableFinished;
  const outcome = state.upstreamOutcome;
  const mcp = state.mcp;
  const denied = mcp ? denials(mcp) : undefined;
  return {
    request_id: state.requestId,
    client_ip: state.clientIp,
    method: ctx.req.method,
    host: state.var('host') ?? '',
    path: state.path,
    route_id: state.route?.id,
    service_id: state.route?.serviceId,
    consumer: state.consumer?.username,
    status: responseStatus(ctx),
    bytes_in: state.bytesIn,
    bytes_out: state.bytesOut,
    latency: round(performance.now() - state.startTime),
    upstream_addr: outcome?.addr,
    upstream_status: outcome?.status,
    upstream_latency: outcome?.latency === undefined ? undefined : round(outcome.latency),
    error_code: state.error?.code,
    answered_by: state.answeredBy,
    aborted: finished ? undefined : true,
    mcp_transport: mcp?.transport,
    // The variable every reader sees: for an initialize, the session it opened (the answer's header).
    mcp_session_id: mcp ? cutOrUndefined(state.var('mcp_session_id')) : undefined,
    mcp_method: mcp?.method === undefined ? undefined : cut(mcp.method),
    mcp_name: mcp?.name === undefined ? undefined : cut(mcp.name),
    mcp_id: typeof mcp?.id === 'string' ? cut(mcp.id) : mcp?.id,
    mcp_error: state.mcpError,
    mcp_denied: denied?.names,
    mcp_denied_by: denied?.by,
  };
}

/**
 * Opens the access log file at start-up, synchronously: a path that cannot be opened stops the
 * start with its reason rather than losing every line quietly. SIGHUP reopens it (logrotate).
 */
function openFile(path: string, options: Parameters<typeof openLogFile>[1]): LineWriter {
  try {
    return openLogFile(path, options);
  } catch (err) {
    throw new ConfigError(`invalid config: key "access_log.path": ${path} cannot be opened: ${(err as Error).message}`);
  }
}

/** The names of a request's refused MCP messages and the plugin that refused them; undefined when none was. */
function denials(mcp: McpRequestInfo): { names: string[]; by: string } | undefined {
  if (mcp.kind !== 'batch') return mcp.refusedBy === undefined ? undefined : { names: [cut(mcp.name ?? '')], by: mcp.refusedBy };
  const refused = (mcp.batch ?? []).filter((m) => m.refusedBy !== undefined);
  if (refused.length === 0) return undefined;
  return { names: refused.map((m) => cut(m.name ?? '')), by: refused[0].refusedBy! };
}

/** Milliseconds to the microsecond. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function cut(value: string): string {
  return value.length > MAX_FIELD_CHARS ? value.slice(0, MAX_FIELD_CHARS) : value;
}

function cutOrUndefined(value: string | undefined): string | undefined {
  return value === undefined ? undefined : cut(value);
}
