/**
 * What file-logger and http-logger share (no plugin imports another): their common attributes
 * (APISIX's `log_format`, `include_req_body`, `include_resp_body` and size caps, plus the MCP
 * audit switches), capturing request and response bodies without disturbing the stream, and
 * subscribing to a route's MCP tool calls for audit entries.
 */
import { GLOBAL_RULES_ROUTE_ID, type GatewayContext, type RouteInfo } from '../../core/context.js';
import { BodyCapture, cappedText, requestLogEntry, toolCallAuditEntry } from './log-entry.js';
import type { PluginApi } from '../../core/plugin.js';
import type { JsonSchema } from '../../core/schema.js';
import { ALL_ROUTES } from '../../core/tool-calls.js';

export interface LogSinkConf {
  log_format?: Record<string, unknown>;
  log_format_extra?: Record<string, unknown>;
  include_req_body: boolean;
  include_resp_body: boolean;
  max_req_body_bytes: number;
  max_resp_body_bytes: number;
  mcp_tool_audit: boolean;
  include_tool_arguments: boolean;
}

export const LOG_FORMAT_SCHEMA: JsonSchema = {
  type: 'object',
  minProperties: 1,
  description:
    'Custom entry: each key becomes a field, a value starting with `$` is a variable (`$remote_addr`, `$route_id`, `$status`, `$request_time`, `$upstream_addr`, `$mcp_tool`, `$http_<name>`…), an object is a nested entry built the same way (5 levels deep at most), anything else is copied. Replaces the default entry; `route_id` and `service_id` are added. Credential headers, credential query parameters and cookies come out as "[redacted]".',
};

export const LOG_FORMAT_EXTRA_SCHEMA: JsonSchema = {
  type: 'object',
  description:
    'Fields added to the default entry, written as in `log_format`; a field the default entry already has is kept. Ignored when a `log_format` applies. Set here, it wins over the one in plugin_metadata (even empty).',
};

/** Schema properties both log sinks take (APISIX names and defaults). */
export const LOG_SINK_PROPERTIES: Record<string, JsonSchema> = {
  log_format: LOG_FORMAT_SCHEMA,
  log_format_extra: LOG_FORMAT_EXTRA_SCHEMA,
  include_req_body: { type: 'boolean', default: false, description: 'Add the request body to each entry (`request.body`), up to `max_req_body_bytes`.' },
  include_resp_body: { type: 'boolean', default: false, description: 'Add the response body to each entry (`response.body`), up to `max_resp_body_bytes`.' },
  max_req_body_bytes: { type: 'integer', minimum: 1, default: 524288, description: 'Longest request body logged, bytes (the rest is cut).' },
  max_resp_body_bytes: { type: 'integer', minimum: 1, default: 524288, description: 'Longest response body logged, bytes (the rest is cut).' },
  mcp_tool_audit: {
    type: 'boolean',
    default: false,
    description:
      'Also write one audit entry per MCP tools/call on this route (`"type": "mcp_tool_call"`: consumer, session, tool, arguments size, outcome, JSON-RPC error code, latency), over both transports.',
  },
  include_tool_arguments: {
    type: 'boolean',
    default: false,
    description: "With `mcp_tool_audit`: include the call's arguments themselves when they are at most `max_req_body_bytes` (otherwise `arguments_truncated: true`).",
  },
};

/** The entry formats a log sink's plugin_metadata may set. */
export interface LogFormats {
  log_format?: Record<string, unknown>;
  log_format_extra?: Record<string, unknown>;
}

function nonEmpty(format: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return format && Object.keys(format).length > 0 ? format : undefined;
}

interface Captured {
  request?: BodyCapture;
  response?: BodyCapture;
}

/** One log sink plugin on one route: how it builds entries and where its audit entries come from. */
export class LogSinkRoute {
  private readonly stopAudit?: () => void;

  constructor(
    private readonly plugin: string,
    private readonly conf: LogSinkConf,
    route: RouteInfo,
    api: PluginApi,
    write: (entry: Record<string, unknown>) => void,
  ) {
    if (conf.mcp_tool_audit) {
      // A global rule's instance hears every route; a consumer's own instance only its calls.
      const scope = route.id === GLOBAL_RULES_ROUTE_ID ? ALL_ROUTES : route.id;
      const consumer = route.consumer;
      this.stopAudit = api.toolCalls.subscribe(scope, (record) => {
        if (consumer !== undefined && record.consumer !== consumer) return;
        write(toolCallAuditEntry(record, conf.include_tool_arguments, conf.max_req_body_bytes));
      });
    }
  }

  /**
   * Access phase: with `include_req_body`, listens to the request body as the proxy streams it.
   * The stream is paused first so that the listener does not start the flow before the proxy
   * pipes it (the proxy's pipe resumes it; both see every chunk).
   */
  tapRequest(ctx: GatewayContext): void {
    if (!this.conf.include_req_body || ctx.gateway.body !== undefined) return;
    const { req } = ctx;
    if (req.readableEnded || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) return;
    const capture = new BodyCapture(this.conf.max_req_body_bytes);
    ctx.gateway.scratch<Captured>(this.plugin, () => ({})).request = capture;
    req.pause();
    req.on('data', (chunk: Buffer) => capture.push(chunk));
  }

  /** Body filter: with `include_resp_body`, keeps the response body up to its cap. */
  tapResponse(ctx: GatewayContext, chunk: Buffer): void {
    if (!this.conf.include_resp_body || chunk.length === 0) return;
    const captured = ctx.gateway.scratch<Captured>(this.plugin, () => ({}));
    (captured.response ??= new BodyCapture(this.conf.max_resp_body_bytes)).push(chunk);
  }

  /**
   * The entry for a finished request: the route's `log_format`, else the metadata's, else the
   * default entry with the route's `log_format_extra` (or, when the route sets none, the metadata's).
   */
  entry(ctx: GatewayContext, metadata: LogFormats | undefined): Record<string, unknown> {
    const logFormat = this.conf.log_format ?? nonEmpty(metadata?.log_format);
    const logFormatExtra = logFormat ? undefined : nonEmpty(this.conf.log_format_extra ?? metadata?.log_format_extra);
    const captured = this.conf.include_req_body || this.conf.include_resp_body ? ctx.gateway.scratch<Captured>(this.plugin, () => ({})) : undefined;
    let requestBody: string | undefined;
    if (this.conf.include_req_body) {
      const body = ctx.gateway.body;
      requestBody = body !== undefined ? cappedText(body, this.conf.max_req_body_bytes) : captured?.request?.text();
    }
    return requestLogEntry(ctx, {
      // The request's, not this route's: the credential may be read by a plugin on a service,
      // a plugin_config, a global rule or the consumer.
      redaction: ctx.gateway.credentials,
      logFormat,
      logFormatExtra,
      requestBody,
      responseBody: this.conf.include_resp_body ? (captured?.response?.text() ?? '') : undefined,
    });
  }

  dispose(): void {
    this.stopAudit?.();
  }
}

/**
 * The phase handlers both log sinks run alike (spread into their definitions): the body taps, and
 * the body filter only where a route keeps the response body (it sends the response chunked).
 * The access handler only listens, so the sinks declare they only observe: a global rule whose
 * sink cannot run is skipped rather than failing every request.
 */
export const LOG_SINK_TAPS = {
  observesOnly: true,
  access(ctx: GatewayContext, _conf: LogSinkConf, log: { route: LogSinkRoute }): void {
    log.route.tapRequest(ctx);
  },
  bodyFilter(ctx: GatewayContext, _conf: LogSinkConf, log: { route: LogSinkRoute }, chunk: Buffer): void {
    log.route.tapResponse(ctx, chunk);
  },
  filtersBody: (conf: LogSinkConf): boolean => conf.include_resp_body,
};
