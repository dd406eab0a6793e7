/**
 * Which origin a response allows, as APISIX's cors plugin decides it: `*` allows any origin,
 * `**` echoes the request's, a comma-separated list echoes an origin on it (and allows nothing
 * else), a single origin is allowed only to itself. Compiled once per route version.
 */

export type OriginRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'echo' }
  | { readonly kind: 'list'; readonly origins: ReadonlySet<string> }
  | { readonly kind: 'single'; readonly origin: string };

export function originRule(allowOrigins: string): OriginRule {
  if (allowOrigins === '*') return { kind: 'any' };
  if (allowOrigins === '**') return { kind: 'echo' };
  if (allowOrigins.includes(',')) return { kind: 'list', origins: splitOrigins(allowOrigins) };
  return { kind: 'single', origin: allowOrigins };
}

/** APISIX's `process_with_allow_origins`: the origin to allow, or undefined. */
export function allowedBy(rule: OriginRule, requestOrigin: string | undefined): string | undefined {
  switch (rule.kind) {
    case 'any':
      return '*';
    case 'echo':
      // APISIX substitutes the origin and then reads it as a list: one with a comma is never on it.
      if (requestOrigin === undefined) return '*';
      return requestOrigin.includes(',') ? undefined : requestOrigin;
    case 'list':
      return requestOrigin !== undefined && rule.origins.has(requestOrigin) ? requestOrigin : undefined;
    default:
      return rule.origin;
  }
}

/** APISIX's `match_origins`: the allowed origin is the request's, or any (nil equals nil in Lua). */
export function allows(requestOrigin: string | undefined, allowed: string | undefined): boolean {
  return requestOrigin === allowed || allowed === '*';
}

/** `a,b,,c` → {a, b, c}, entries as written (no trimming, as APISIX's `[^,]+`). */
function splitOrigins(list: string): Set<string> {
  return new Set(list.split(',').filter(Boolean));
}
