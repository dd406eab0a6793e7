/**
 * The access log: one JSON line per request (pino), written after the response has finished (the
 * data plane's `onRequestDone`), so a slow disk or pipe never delays a client. Writes are
 * asynchronous and buffered up to a bound; past it lines are dropped and counted rather than
 * letting memory grow (design.md "log sink down").
 *
 * Credentials never reach it: a line carries the path without its query string and no header
 * values, so an `apikey`, `Authorization`, a cookie or a `?jwt=` token has nowhere to appear.
 */
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { ConfigError } from './config.js';
import type { GatewayContext } from './context.js';
import type { Logger } from './logger.js';

/** Past this many bytes waiting for the disk or pipe, lines are dropped (and counted). */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Lines are written in chunks of about this size… */
export const WRITE_CHUNK_BYTES = 8 * 1024;
/** …or at least this often, so a quiet gateway's lines still appear within a second. */
export const FLUSH_INTERVAL_MS = 1000;
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
}

export class AccessLog {
  private readonly pino: PinoLogger;
  private readonly sonic?: DestinationStream & { end(): void; flushSync(): void; on(event: string, fn: (...args: any[]) => void): unknown };
  private sinkFailed = false;

  constructor(private readonly options: AccessLogOptions) {
    let destination: DestinationStream;
    if (options.destination) {
      destination = options.destination as unknown as DestinationStream;
    } else {
      const sonic = pino.destination({
        fd: options.path === '' ? 1 : openAppend(options.path),
        sync: false,
        // Lines are gathered into writes of WRITE_CHUNK_BYTES (or whatever a second brought): one
        // write per line costs a thread-pool round trip each, which measured as half the
        // gateway's throughput.
        minLength: WRITE_CHUNK_BYTES,
        periodicFlush: FLUSH_INTERVAL_MS,
        maxLength: MAX_BUFFERED_BYTES,
      });
      sonic.on('drop', (data: string) => options.onDrop?.(countLines(data)));
      sonic.on('error', (err: Error) => {
        // Reported once: a full disk must not turn every request into a log line of its own.
        if (this.sinkFailed) return;
        this.sinkFailed = true;
        options.logger.error({ err, path: options.path || 'stdout' }, 'access log cannot be written');
      });
      this.sonic = sonic as unknown as AccessLog['sonic'];
      destination = sonic;
    }
    this.pino = pino(
      {
        base: null,
        // An access line has no level (every request is worth the same), so the time opens the
        // object: without the leading comma pino's own time functions carry.
        formatters: { level: () => ({}) },
        timestamp: () => `"time":"${new Date().toISOString()}"`,
      },
      destination,
    );
  }

  /** Writes the line for a finished request; never throws into the data plane. */
  write(ctx: GatewayContext): void {
    try {
      this.pino.info(accessLogEntry(ctx));
    } catch (err) {
      if (this.sinkFailed) return;
      this.sinkFailed = true;
      this.options.logger.error({ err }, 'access log line could not be written');
    }
  }

  /** Flushes what is buffered and closes a file (stdout stays open). */
  close(): Promise<void> {
    const sonic = this.sonic;
    if (!sonic) return Promise.resolve();
    return new Promise((resolve) => {
      sonic.on('close', () => resolve());
      sonic.on('error', () => resolve());
      try {
        sonic.end();
      } catch {
        resolve();
      }
    });
  }
}

/** The access log fields of a finished request. */
export function accessLogEntry(ctx: GatewayContext): AccessLogEntry {
  const state = ctx.gateway;
  const { res } = ctx;
  const finished = res.writableFinished;
  const outcome = state.upstreamOutcome;
  const mcp = state.mcp;
  return {
    request_id: state.requestId,
    client_ip: state.clientIp,
    method: ctx.req.method,
    host: state.var('host') ?? '',
    path: state.path,
    route_id: state.route?.id,
    service_id: state.route?.serviceId,
    consumer: state.consumer?.username,
    // nginx's 499: the client left before it was answered.
    status: res.headersSent || finished ? res.statusCode : 499,
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
    // An initialize has no session id yet: the one it opened is in the answer's header.
    mcp_session_id: mcp ? sessionIdOf(mcp.sessionId, res.getHeader('mcp-session-id')) : undefined,
    mcp_method: mcp?.method === undefined ? undefined : cut(mcp.method),
    mcp_name: mcp?.name === undefined ? undefined : cut(mcp.name),
    mcp_id: typeof mcp?.id === 'string' ? cut(mcp.id) : mcp?.id,
    mcp_error: state.mcpError,
  };
}

/**
 * Opens the access log file at start-up, synchronously: a path that cannot be opened stops the
 * start with its reason rather than losing every line quietly.
 */
function openAppend(path: string): number {
  try {
    mkdirSync(dirname(path), { recursive: true });
    return openSync(path, 'a');
  } catch (err) {
    throw new ConfigError(`invalid config: key "access_log.path": ${path} cannot be opened: ${(err as Error).message}`);
  }
}

/** Milliseconds to the microsecond. */
function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function cut(value: string): string {
  return value.length > MAX_FIELD_CHARS ? value.slice(0, MAX_FIELD_CHARS) : value;
}

function sessionIdOf(requested: string | undefined, answered: unknown): string | undefined {
  if (requested !== undefined) return cut(requested);
  return typeof answered === 'string' ? cut(answered) : undefined;
}

function countLines(data: string): number {
  let lines = 0;
  for (let i = data.indexOf('\n'); i >= 0; i = data.indexOf('\n', i + 1)) lines += 1;
  return Math.max(1, lines);
}
