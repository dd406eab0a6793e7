/**
 * Log entries for the log sink plugins (file-logger, http-logger): APISIX's default entry
 * (`apisix/utils/log-util.lua`: request, response, server, upstream, route and service ids,
 * consumer, client address, start time and latencies) with an `mcp` object for MCP requests, a
 * custom `log_format`, and one audit entry per MCP tool call. Shared here because no plugin
 * imports another.
 *
 * Credentials are redacted wherever they could appear (faults-checklist B-18): the headers, query
 * parameters and cookies of `ctx.gateway.credentials` — the standard names (Authorization,
 * Cookie, X-API-KEY, `?jwt=` …) and every name the request's plugins declare they read
 * credentials from, wherever those plugins are configured (core/credentials.ts) — in the entry
 * and when a `log_format` asks for them by variable. The Cookie header and `$cookie_…` are
 * always redacted whole.
 */
import type { GatewayContext } from '../../core/context.js';
import type { CredentialNames } from '../../core/credentials.js';
import { isoTime } from '../../core/iso-time.js';
import { ownValue, setOwn } from '../../core/own.js';
import { responseStatus } from '../../core/respond.js';
import { compileTemplate, Template, type VarSource } from '../../core/template.js';
import type { ToolCallRecord } from '../../core/tool-calls.js';

export const REDACTED = '[redacted]';

/** Header, query and cookie names whose values never reach a log entry (the request's `ctx.gateway.credentials`). */
export type Redaction = CredentialNames;

export interface EntryOptions {
  redaction: Redaction;
  /** Name → `$variable`, literal or nested object (APISIX `log_format`); replaces the default entry when set. */
  logFormat?: Readonly<Record<string, unknown>>;
  /** Like `logFormat`, but adds its fields to the default entry, never replacing one (APISIX `log_format_extra`). */
  logFormatExtra?: Readonly<Record<string, unknown>>;
  /** Request and response bodies captured for the entry (already capped). */
  requestBody?: string;
  responseBody?: string;
}

/** The entry for a finished request, as file-logger and http-logger write it. */
export function requestLogEntry(ctx: GatewayContext, options: EntryOptions): Record<string, unknown> {
  const state = ctx.gateway;
  if (options.logFormat) {
    const entry = formattedEntry(ctx, options.logFormat, options.redaction);
    // As APISIX's get_custom_format_log: a custom entry still says which route it belongs to.
    if (state.route) {
      if (state.route.serviceId !== undefined) entry.service_id = state.route.serviceId;
      entry.route_id = state.route.id;
    }
    return entry;
  }
  const { req, res } = ctx;
  const now = performance.now();
  const latency = now - state.startTime;
  const outcome = state.upstreamOutcome;
  const query = redactedQuery(state.query, options.redaction);
  const uri = query.text ? `${state.path}?${query.text}` : state.path;
  const entry: Record<string, unknown> = {
    request_id: state.requestId,
    request: {
      url: `${state.var('scheme') ?? 'http'}://${req.headers.host ?? state.var('host') ?? ''}${uri}`,
      uri,
      method: req.method,
      headers: redactedHeaders(req.headers, options.redaction),
      querystring: query.object,
      size: state.bytesIn,
      ...(options.requestBody === undefined ? {} : { body: options.requestBody }),
    },
    response: {
      status: responseStatus(ctx),
      headers: redactedHeaders(res.getHeaders(), options.redaction),
      size: state.bytesOut,
      ...(options.responseBody === undefined ? {} : { body: options.responseBody }),
    },
    server: { hostname: state.var('hostname') },
    upstream: outcome?.addr,
    service_id: state.route?.serviceId,
    route_id: state.route?.id,
    consumer: state.consumer ? { username: state.consumer.username } : undefined,
    client_ip: state.clientIp,
    start_time: Math.round(Date.now() - latency),
    latency: round(latency),
    upstream_latency: outcome?.latency === undefined ? undefined : round(outcome.latency),
    apisix_latency: round(outcome?.latency === undefined ? latency : Math.max(0, latency - outcome.latency)),
  };
  if (state.error) entry.error_code = state.error.code;
  if (options.logFormatExtra) {
    for (const [key, value] of Object.entries(formattedEntry(ctx, options.logFormatExtra, options.redaction))) {
      if (ownValue(entry, key) === undefined) setOwn(entry, key, value);
    }
  }
  const mcp = state.mcp;
  if (mcp) {
    entry.mcp = {
      transport: mcp.transport,
      session_id: state.var('mcp_session_id'),
      method: mcp.method,
      name: mcp.name,
      id: mcp.id,
      error: state.mcpError,
    };
  }
  return entry;
}

/** One audit entry for an MCP tool call; the arguments only when the route opts in, and only up to `maxArgumentBytes`. */
export function toolCallAuditEntry(record: ToolCallRecord, includeArguments: boolean, maxArgumentBytes: number): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    type: 'mcp_tool_call',
    time: isoTime(record.time),
    request_id: record.requestId,
    route_id: record.routeId,
    consumer: record.consumer,
    session_id: record.sessionId,
    transport: record.transport,
    tool: record.tool,
    id: record.id,
    arguments_bytes: record.argumentsBytes,
    outcome: record.outcome,
    error_code: record.errorCode,
    latency: round(record.latencyMs),
  };
  if (includeArguments && record.arguments !== undefined) {
    if (record.argumentsBytes <= maxArgumentBytes) entry.arguments = record.arguments;
    else entry.arguments_truncated = true;
  }
  return entry;
}

/** Collects a body up to `limit` bytes, for `include_req_body` / `include_resp_body`. */
export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.size >= this.limit) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const room = this.limit - this.size;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    // Copied: the proxy may reuse or keep writing the buffer it handed us.
    this.chunks.push(Buffer.from(part));
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks, this.size).toString('utf8');
  }
}

/** Cuts a buffered body (an MCP request's) to `limit` bytes, as text. */
export function cappedText(body: Buffer, limit: number): string {
  return (body.length > limit ? body.subarray(0, limit) : body).toString('utf8');
}

/** APISIX's MAX_LOG_FORMAT_DEPTH: deeper objects come out empty. */
const MAX_FORMAT_DEPTH = 5;

/** A `log_format` compiled: each key with a template, a nested format, or a value copied as it is. */
type CompiledFormat = ReadonlyArray<readonly [string, Template | CompiledFormat | { readonly copy: unknown }]>;

/**
 * `log_format`s compiled once per format object (plugin metadata and route configs are replaced,
 * never mutated, when they change). As in APISIX, a value starting with `$` is a variable — here
 * any `$var` template (`$remote_addr`, `${consumer_name ?? anonymous}`, `$host:$server_port`) —,
 * an object is a nested format, and anything else is copied.
 */
const compiledFormats = new WeakMap<object, CompiledFormat>();

function compileFormat(format: Readonly<Record<string, unknown>>, depth: number): CompiledFormat {
  let compiled = compiledFormats.get(format);
  if (compiled) return compiled;
  compiled = Object.entries(format).map(([key, spec]) => {
    if (typeof spec === 'string' && spec.startsWith('$')) return [key, compileTemplate(spec)] as const;
    if (typeof spec === 'object' && spec !== null && !Array.isArray(spec)) {
      return [key, depth >= MAX_FORMAT_DEPTH ? [] : compileFormat(spec as Record<string, unknown>, depth + 1)] as const;
    }
    return [key, { copy: spec }] as const;
  });
  compiledFormats.set(format, compiled);
  return compiled;
}

function formattedEntry(ctx: GatewayContext, format: Readonly<Record<string, unknown>>, redaction: Redaction): Record<string, unknown> {
  return buildEntry(compileFormat(format, 1), new LogVariables(ctx, redaction));
}

function buildEntry(format: CompiledFormat, vars: VarSource): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of format) {
    setOwn(out, key, spec instanceof Template ? spec.value(vars) : Array.isArray(spec) ? buildEntry(spec, vars) : (spec as { copy: unknown }).copy);
  }
  return out;
}

/** Measurements an entry keeps as JSON numbers, which log pipelines aggregate. */
const NUMERIC_VARIABLES = new Set(['status', 'request_time', 'request_length', 'bytes_sent', 'upstream_status', 'upstream_response_time', 'msec', 'mcp_error']);

/** The request's variables (`ctx.gateway.var`) as a log entry shows them: credentials redacted, measurements as numbers. */
class LogVariables implements VarSource {
  constructor(
    private readonly ctx: GatewayContext,
    private readonly redaction: Redaction,
  ) {}

  var(name: string): unknown {
    const { redaction } = this;
    const state = this.ctx.gateway;
    if (name.startsWith('http_') && redaction.headers.has(name.slice(5).replaceAll('_', '-').toLowerCase())) return REDACTED;
    if (name.startsWith('arg_') && redaction.params.has(name.slice(4))) return REDACTED;
    if (name.startsWith('cookie_')) return REDACTED;
    if (name === 'args' || name === 'request_uri') {
      const query = redactedQuery(state.query, redaction).text;
      if (name === 'args') return query;
      return query ? `${state.path}?${query}` : state.path;
    }
    const value = state.var(name);
    return value !== undefined && NUMERIC_VARIABLES.has(name) ? Number(value) : value;
  }
}

function redactedHeaders(headers: Record<string, unknown>, redaction: Redaction): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // Header and parameter names are the client's: `__proto__` must stay an entry, not a prototype.
    setOwn(out, name, redaction.headers.has(name.toLowerCase()) ? REDACTED : value);
  }
  return out;
}

function redactedQuery(query: string, redaction: Redaction): { text: string; object: Record<string, string | string[]> } {
  const object: Record<string, string | string[]> = {};
  if (!query) return { text: '', object };
  const params = new URLSearchParams(query);
  let changed = false;
  for (const name of new Set(params.keys())) {
    const values = redaction.params.has(name) ? params.getAll(name).map(() => REDACTED) : params.getAll(name);
    if (redaction.params.has(name)) changed = true;
    setOwn(object, name, values.length === 1 ? values[0] : values);
  }
  if (!changed) return { text: query, object };
  const rebuilt = new URLSearchParams();
  for (const [name, value] of params) rebuilt.append(name, redaction.params.has(name) ? REDACTED : value);
  return { text: rebuilt.toString(), object };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
