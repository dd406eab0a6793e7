/**
 * proxy-rewrite — changes what is sent upstream: the path (`uri` with `$var` interpolation, or
 * `regex_uri` [pattern, replacement, …] applied to the path), the method, the Host header, and
 * headers (add / set / remove). The client's query string is kept. Patterns are RE2, matched in
 * linear time (core/regex.ts); what RE2 cannot run is refused when the route is written.
 * Phase: rewrite. Never fails a request.
 */
import { definePlugin } from '../../core/plugin.js';
import { LinearRegex, RegexError, Replacement } from '../../core/regex.js';
import type { GatewayContext } from '../../core/context.js';

interface HeaderEdits {
  add?: Record<string, string>;
  set?: Record<string, string>;
  remove?: string[];
}

interface ProxyRewriteConf {
  uri?: string;
  regex_uri?: string[];
  method?: string;
  host?: string;
  headers?: HeaderEdits | Record<string, string>;
}

interface Compiled {
  rules: Array<[LinearRegex, Replacement]>;
  headers: { add: Array<[string, string]>; set: Array<[string, string]>; remove: string[] };
}

const headerMap = { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { pattern: '^[^:\\s]+$' } };

export default definePlugin<ProxyRewriteConf, Compiled>({
  name: 'proxy-rewrite',
  version: '1.0.0',
  priority: 1008,
  description: 'Rewrites the upstream request: path, method, host and headers.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      uri: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^/', description: 'New upstream path; `$var` is replaced by a variable (e.g. `$uri`, `$arg_id`).' },
      regex_uri: {
        type: 'array',
        minItems: 2,
        items: { type: 'string' },
        description:
          'Pairs of [pattern, replacement]: the first pattern that matches the path rewrites it. Patterns are RE2 (no backreferences or lookaround); in the replacement `$1` or `${1}` is a capture, `$$` a dollar sign.',
      },
      method: { enum: ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'LOCK', 'UNLOCK', 'PATCH', 'TRACE'], description: 'Method sent upstream.' },
      host: { type: 'string', pattern: '^[0-9a-zA-Z._:\\[\\]-]+$', description: 'Host header sent upstream.' },
      headers: {
        description: 'Header edits: {add, set, remove}, or a plain map (treated as set). Values may contain `$var`.',
        anyOf: [
          {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              add: headerMap,
              set: headerMap,
              remove: { type: 'array', items: { type: 'string', pattern: '^[^:\\s]+$' } },
            },
          },
          headerMap,
        ],
      },
    },
  },

  checkConf(conf, config) {
    const pairs = conf.regex_uri;
    if (!pairs) return undefined;
    if (pairs.length % 2 !== 0) return 'regex_uri must hold [pattern, replacement] pairs';
    for (let i = 0; i < pairs.length; i += 2) {
      let regex: LinearRegex;
      try {
        regex = LinearRegex.compile(pairs[i], config.limits.max_regex_program);
      } catch (err) {
        if (err instanceof RegexError) return `regex_uri[${i}] pattern ${JSON.stringify(pairs[i])} is refused: ${err.message}`;
        throw err;
      }
      try {
        Replacement.parse(pairs[i + 1], regex.groupCount);
      } catch (err) {
        if (err instanceof RegexError) return `regex_uri[${i + 1}] replacement ${JSON.stringify(pairs[i + 1])} is refused: ${err.message}`;
        throw err;
      }
    }
    return undefined;
  },

  create(conf, _route, api) {
    const rules: Compiled['rules'] = [];
    for (let i = 0; conf.regex_uri && i < conf.regex_uri.length; i += 2) {
      const regex = LinearRegex.compile(conf.regex_uri[i], api.config.limits.max_regex_program);
      rules.push([regex, Replacement.parse(conf.regex_uri[i + 1], regex.groupCount)]);
    }
    const edits: HeaderEdits = conf.headers && ('add' in conf.headers || 'set' in conf.headers || 'remove' in conf.headers)
      ? (conf.headers as HeaderEdits)
      : { set: conf.headers as Record<string, string> | undefined };
    return {
      rules,
      headers: {
        add: Object.entries(edits.add ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        set: Object.entries(edits.set ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        remove: (edits.remove ?? []).map((k) => k.toLowerCase()),
      },
    };
  },

  rewrite(ctx, conf, compiled) {
    const plan = ctx.gateway.upstream;
    // The query as it will go upstream: an auth plugin may already have removed a credential.
    const mark = plan.uri.indexOf('?');
    const query = mark < 0 ? '' : plan.uri.slice(mark + 1);
    let path: string | undefined;
    if (conf.uri) {
      path = interpolate(ctx, conf.uri);
    } else {
      for (const [regex, replacement] of compiled.rules) {
        path = regex.replaceFirst(ctx.gateway.path, replacement);
        if (path !== undefined) break;
      }
    }
    // The client's query is kept, appended to one the new path brings (APISIX does the same).
    if (path !== undefined) plan.uri = query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path;
    if (conf.method) plan.method = conf.method;
    if (conf.host) plan.host = conf.host;
    const { add, set, remove } = compiled.headers;
    for (const name of remove) plan.headers.set(name, null);
    for (const [name, value] of set) plan.headers.set(name, interpolate(ctx, value));
    for (const [name, value] of add) {
      const existing = plan.headers.get(name) ?? ctx.get(name);
      const added = interpolate(ctx, value);
      plan.headers.set(name, existing ? `${existing}, ${added}` : added);
    }
  },
});

function interpolate(ctx: GatewayContext, template: string): string {
  if (!template.includes('$')) return template;
  return template.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => ctx.gateway.var(name) ?? '');
}
