/**
 * The one error type of the request path. Anything thrown from a plugin phase that is not a
 * GatewayError becomes a 500 whose body says only "Internal Server Error" and the request id;
 * the cause goes to the log (Koa's `expose` rule: 4xx messages reach the client, 5xx do not).
 */
export interface GatewayErrorOptions {
  /** Extra response headers, e.g. `Retry-After` or `WWW-Authenticate`. */
  headers?: Record<string, string>;
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
  readonly body?: unknown;

  constructor(status: number, code: string, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.headers = options.headers;
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

/** The JSON body a client sees for an error; 5xx never carries the message or the cause. */
export function errorBody(err: GatewayError, requestId: string): unknown {
  if (err.body !== undefined) return err.body;
  return {
    error_msg: err.expose ? err.message : statusText(err.status),
    code: err.code,
    request_id: requestId,
  };
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
