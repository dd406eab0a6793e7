/**
 * Codes several plugins raise, defined once here (an owner's own codes live in its `errors`).
 *
 * The codes the limit plugins share (limit-req, limit-count, limit-conn; an owner's own codes live
 * in its `errors`). A limit answers with its configured `rejected_code`; the status here is
 * APISIX's default.
 */
import { defineErrors } from '../../core/errors.js';

export const LIMIT_ERRORS = defineErrors({
  GW_RATE_LIMITED: { status: 503, message: 'rate limit exceeded' },
  GW_RATE_LIMIT_STORE_UNAVAILABLE: { status: 503, message: 'rate limit store unavailable' },
});

/** The bearer-token codes jwt-auth and openid-connect share. */
export const TOKEN_ERRORS = defineErrors({
  GW_AUTH_MISSING_TOKEN: { status: 401, message: 'Missing token in request' },
  GW_AUTH_INVALID_TOKEN: { status: 401, message: 'token invalid' },
});
