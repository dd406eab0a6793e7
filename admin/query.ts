/**
 * Query parameters of Admin API requests that are not list filters: each named one given at most
 * once, and APISIX's `ttl`.
 */
import type { Context } from 'koa';

/** A refused query parameter (400 with this message). */
export class QueryError extends Error {}

/** The longest ttl taken: 2^31 - 1 seconds (68 years), the range of an etcd lease. */
export const MAX_TTL_SECONDS = 2 ** 31 - 1;

/** The named query parameters, each given at most once (`?label=a&label=b` is ambiguous). */
export function singleValued(ctx: Context, names: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const name of names) {
    const value = ctx.query[name];
    if (Array.isArray(value)) throw new QueryError(`query parameter ${name} must be given once`);
    out[name] = value;
  }
  return out;
}

/**
 * `?ttl=` in seconds (APISIX: an etcd lease, checked on every request): undefined when absent.
 * APISIX refuses only what is not a number; a ttl of 0 or less, or beyond a lease's range, is
 * refused here too (etcd's answer to those is not documented), with its own words.
 */
export function ttlOf(ctx: Context): number | undefined {
  const { ttl } = singleValued(ctx, ['ttl']);
  if (ttl === undefined) return undefined;
  const seconds = ttl.trim() === '' ? NaN : Number(ttl);
  if (!Number.isFinite(seconds)) throw new QueryError('invalid argument ttl: should be a number');
  if (seconds <= 0 || seconds > MAX_TTL_SECONDS) throw new QueryError(`invalid argument ttl: should be a number of seconds above 0 and at most ${MAX_TTL_SECONDS}`);
  return seconds;
}
