/**
 * Why a token is not accepted, in words fit for the client (RFC 6750 `error_description`): what
 * is wrong with the token, never which keys or secrets it met. `invalid_token` answers 401;
 * `unavailable` (the authorization server cannot be used, and nothing cached can stand in) 503.
 */
export class TokenRejection extends Error {
  override name = 'TokenRejection';
  constructor(
    readonly kind: 'invalid_token' | 'unavailable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
