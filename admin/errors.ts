/**
 * How Admin API handlers refuse a request: an error carrying APISIX's status and body, which the
 * server writes as it is. A body may be plain text where APISIX answers plain text.
 */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown> | string,
  ) {
    super(typeof body === 'string' ? body : String(body.error_msg ?? body.message));
  }
}

/** `{"error_msg": message}` with `status`. */
export function fail(status: number, message: string, extra: Record<string, unknown> = {}): AdminError {
  return new AdminError(status, { error_msg: message, ...extra });
}

/** APISIX's answer for a record that does not exist. */
export const NOT_FOUND_KEY = new AdminError(404, { message: 'Key not found' });
