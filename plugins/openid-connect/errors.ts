/**
 * openid-connect's codes: the bearer-token ones it shares with jwt-auth (from the plugin kit), and
 * its own, after RFC 6750's error kinds and the protected resource metadata endpoint.
 */
import { defineErrors } from '../../core/errors.js';
import { TOKEN_ERRORS } from '../kit/index.js';

export const ERRORS = {
  ...TOKEN_ERRORS,
  ...defineErrors({
    GW_AUTH_MALFORMED_TOKEN: { status: 400, message: 'the request carries a malformed token' },
    GW_AUTH_INSUFFICIENT_SCOPE: { status: 403, message: 'the token lacks a scope this resource needs' },
    GW_AUTH_METADATA_AMBIGUOUS: { status: 404, message: 'several protected resources share this origin' },
    GW_METHOD_NOT_ALLOWED: { status: 405, message: 'protected resource metadata is read with GET' },
    GW_AUTH_SERVER_UNAVAILABLE: { status: 503, message: 'cannot verify the access token now' },
  }),
};
