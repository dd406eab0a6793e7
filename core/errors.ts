/**
 * The one error type of the request path, and the tables its codes come from (as Fastify's
 * `lib/errors.js`: code, status, message, in one place). Anything thrown from a plugin phase that
 * is not a GatewayError becomes a 500 whose body says only "Internal Server Error" and the request
 * id; the cause goes to the log (Koa's `expose` rule: 4xx messages reach the client, 5xx do not).
 *
 * Every code is defined once, in a table: the core's below, each plugin's in its `errors`
 * (docs/errors.md lists them all; test/core/error-codes.test.ts holds the source and the page to
 * that). A code is raised from its table — `CORE_ERRORS.GW_BODY_TOO_LARGE.error({ message })` —
 * never spelled as a string elsewhere.
 */
export interface GatewayErrorOptions {
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  headers?: Record<string, string>;
  /** Seconds a client should wait before trying again: sent as `Retry-After`. */
  retryAfter?: number;
  /** A body to send instead of the standard `{error_msg, code, request_id}` (APISIX plugins answer `{message}`). */
  body?: unknown;
  cause?: unknown;
}

/**
 * A plugin loaded at run time may import its own copy of this module (a custom plugin resolving
 * `tollgate` to the built package while the gateway runs from source, or a fresh import on
 * reload). The brand makes `instanceof GatewayError` hold across copies.
 */
const BRAND = Symbol.for('tollgate.GatewayError');

export class GatewayError extends Error {
  readonly [BRAND] = true;
  readonly status: number;
  readonly code: string;
  readonly headers?: Record<string, string>;
  readonly retryAfter?: number;
  readonly body?: unknown;

  constructor(status: number, code: string, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.headers = options.headers;
    this.retryAfter = options.retryAfter;
    this.body = options.body;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** Whether the message may reach the client: only for 4xx, as in Koa. */
  get expose(): boolean {
    return this.status < 500;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** One row of an error table, as written. */
export interface ErrorDefinition {
  /** The HTTP status it answers with (a plugin may configure another: `rejected_code`). */
  readonly status: number;
  /** What the client reads (4xx) or the log says (5xx); a raise may say more (`{ message }`). */
  readonly message: string;
}

/** What a raise may change from its row. */
export interface RaiseOptions extends GatewayErrorOptions {
  message?: string;
  status?: number;
}

/** A code of a table. */
export interface ErrorCode extends ErrorDefinition {
  readonly code: string;
  /** A GatewayError with this code, its row's status and message unless `options` says otherwise. */
  error(options?: RaiseOptions): GatewayError;
  /** Whether `err` carries this code. */
  is(err: unknown): boolean;
}

/** The codes of one owner (the core, a plugin), keyed by code. */
export type ErrorTable<K extends string = string> = { readonly [P in K]: ErrorCode };

/** `GW_<AREA>_<WHAT>`: capitals, digits and underscores. */
export const ERROR_CODE_PATTERN = /^GW_[A-Z0-9]+(?:_[A-Z0-9]+)*$/;

/** Builds a table: each key is a code (`GW_<AREA>_<WHAT>`) with its status and message. */
export function defineErrors<const K extends string>(rows: { readonly [P in K]: ErrorDefinition }): ErrorTable<K> {
  const table = {} as Record<K, ErrorCode>;
  for (const code of Object.keys(rows) as K[]) {
    const { status, message } = rows[code];
    table[code] = {
      code,
      status,
      message,
      error: (options = {}) => new GatewayError(options.status ?? status, code, options.message ?? message, options),
      is: (err) => isGatewayError(err) && err.code === code,
    };
  }
  return Object.freeze(table);
}

/** The core's codes: what the data plane, the upstream proxy and the route table answer themselves. */
export const CORE_ERRORS = defineErrors({
  GW_BAD_REQUEST: { status: 400, message: 'bad request' },
  GW_BAD_REQUEST_TARGET: { status: 400, message: 'request target must be an absolute path' },
  GW_BAD_PATH: { status: 400, message: 'malformed percent-encoding in path' },
  GW_BAD_HOST: { status: 400, message: 'invalid Host' },
  GW_BAD_FORWARDED_ADDRESS: { status: 400, message: 'the forwarded client address from a trusted proxy is not an IP address' },
  GW_HEADERS_TIMEOUT: { status: 408, message: 'request headers not received in time' },
  GW_HEADERS_TOO_LARGE: { status: 431, message: 'request headers are too large' },
  GW_TOO_MANY_HEADERS: { status: 431, message: 'too many request headers' },
  GW_BODY_TOO_LARGE: { status: 413, message: 'request body is too large' },
  GW_BODY_TIMEOUT: { status: 408, message: 'request body not received in time' },
  GW_BODY_ABORTED: { status: 400, message: 'request body ended early' },
  GW_BAD_REQUEST_BODY: { status: 400, message: 'request body ended early' },
  GW_REQUEST_NOT_FORWARDABLE: { status: 400, message: 'request cannot be forwarded' },
  GW_ROUTE_NOT_FOUND: { status: 404, message: '404 Route Not Found' },
  GW_SESSION_OWNER_GONE: { status: 404, message: 'session not found: the gateway process that held it is gone; initialize a new one' },
  GW_RELAY_FORBIDDEN: { status: 403, message: 'not a relayed request from a gateway of this deployment' },
  GW_CLIENT_GONE: { status: 499, message: 'client went away' },
  GW_INTERNAL: { status: 500, message: 'internal error' },
  GW_UPSTREAM_UNAVAILABLE: { status: 502, message: 'upstream unavailable' },
  GW_ROUTE_BROKEN: { status: 503, message: 'route is misconfigured' },
  GW_GLOBAL_RULE_BROKEN: { status: 503, message: 'a global rule is misconfigured' },
  GW_CONSUMER_BROKEN: { status: 503, message: "the consumer's plugins are misconfigured" },
  GW_NO_UPSTREAM: { status: 503, message: 'route has no upstream' },
  GW_UPSTREAM_NO_NODE: { status: 503, message: 'no upstream node is available' },
  GW_UPSTREAM_CONNECT_TIMEOUT: { status: 504, message: 'upstream connection timed out' },
  GW_UPSTREAM_TIMEOUT: { status: 504, message: 'upstream timed out' },
  GW_UPSTREAM_SEND_TIMEOUT: { status: 504, message: 'upstream did not accept the request body in time' },
});

/** The client left before its answer: one error for every place that notices (nginx's 499). */
export function clientGone(cause?: unknown): GatewayError {
  return CORE_ERRORS.GW_CLIENT_GONE.error({ cause });
}

/** The JSON body a client sees for an error; 5xx never carries the message or the cause. */
export function errorBody(err: GatewayError, requestId: string): unknown {
  if (err.body !== undefined) return err.body;
  return {
    error_msg: err.expose ? err.message : statusText(err.status),
    code: err.code,
    request_id: requestId,
  };
}

/** The header that says when to come back (RFC 9110 §10.2.3), in seconds. */
export const RETRY_AFTER = 'Retry-After';

/** The headers of an error answer: its own, and `Retry-After` when it says when to come back. */
export function errorHeaders(err: GatewayError): Record<string, string> | undefined {
  if (err.retryAfter === undefined) return err.headers;
  return { ...err.headers, [RETRY_AFTER]: String(err.retryAfter) };
}

const STATUS_TEXT: Record<number, string> = {
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Error';
}
