/**
 * response-rewrite — changes the response (APISIX response-rewrite): its status, its headers
 * (add, set, remove, with `$variables`), and its body (replaced whole, or rewritten by RE2
 * `filters`), optionally only when a `vars` expression holds; `vars` may read `status`. Proxied
 * responses, local replies and errors alike. Everything is compiled once per route version.
 * A changed body loses Content-Length, Content-Encoding (it is decoded first), ETag and
 * Last-Modified. Event streams are filtered one event at a time (body.ts).
 * Phases: headerFilter (vars, status, headers), bodyFilter (body). Fails closed on a body it
 * cannot hold: the response is aborted rather than sent altered by half.
 */
import type { GatewayContext } from '../../core/context.js';
import { compileExpression, expressionProblem, type Expression } from '../../core/expr.js';
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { RegexError } from '../../core/regex.js';
import { BodyRewrite, compileFilters, decodable, type BodyMode, type FilterConf } from './body.js';
import { headersProblem, headersSchema, ResponseHeaderEdits, type HeadersConf } from './headers.js';

interface ResponseRewriteConf {
  status_code?: number;
  body?: string;
  body_base64: boolean;
  headers?: HeadersConf;
  vars?: unknown[];
  filters?: FilterConf[];
  max_resp_body_size: number;
}

interface Compiled {
  condition?: Expression;
  headers?: ResponseHeaderEdits;
  replacement?: Buffer;
  filters: ReturnType<typeof compileFilters>;
  api: PluginApi;
  routeId: string;
}

/** One response of one instance: whether its condition held, and its body change. */
type Responses = Map<Compiled, BodyRewrite | undefined>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export default definePlugin<ResponseRewriteConf, Compiled>({
  name: 'response-rewrite',
  version: '1.0.0',
  priority: 899,
  description: 'Rewrites the response: status, headers and body.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status_code: { type: 'integer', minimum: 200, maximum: 598, description: 'New response status.' },
      body: { type: 'string', description: 'New response body, replacing the whole body (no variables). Not with `filters`.' },
      body_base64: { type: 'boolean', default: false, description: '`body` is base64 and is decoded once (binary bodies).' },
      headers: headersSchema,
      vars: { type: 'array', description: 'A `vars` expression (docs/expressions.md); the plugin acts only when it holds. Evaluated when the response head is ready, so `status` is the upstream\'s status.' },
      filters: {
        type: 'array',
        minItems: 1,
        description: 'Rewrites of the body, in order: each RE2 `regex` is replaced by `replace` (`$0`, `$1`, `${1}`, `$$`) once or everywhere (`scope`). Not with `body`.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['regex', 'replace'],
          properties: {
            regex: { type: 'string', minLength: 1, description: 'RE2 pattern.' },
            replace: { type: 'string', description: 'Replacement; `$1` or `${1}` inserts a capture, `$$` a dollar sign.' },
            scope: { enum: ['once', 'global'], default: 'once', description: 'Replace the first match only, or every match.' },
            options: { type: 'string', default: 'jo', description: 'ngx.re options: `i` ignores case, `m` multi-line, `s` dot matches newline; `j`, `o`, `u` are accepted and change nothing.' },
          },
        },
      },
      max_resp_body_size: {
        type: 'integer',
        minimum: 1,
        default: 67108864,
        description: 'Most bytes of a body (or of one event of a stream) held for `filters`, decoded size included; a larger one aborts the response.',
      },
    },
  },

  checkConf(conf, config) {
    if (conf.body !== undefined && conf.filters) return '"body" and "filters" cannot be used together';
    if (conf.headers) {
      const problem = headersProblem(conf.headers);
      if (problem) return problem;
    }
    if (conf.body_base64 && !(conf.body && BASE64.test(conf.body))) return 'invalid base64 content';
    if (conf.vars !== undefined) {
      const problem = expressionProblem(conf.vars, { maxRegexProgram: config.limits.max_regex_program });
      if (problem) return problem;
    }
    if (conf.filters) {
      try {
        compileFilters(conf.filters, config.limits.max_regex_program);
      } catch (err) {
        if (err instanceof RegexError) return err.message;
        throw err;
      }
    }
    return undefined;
  },

  filtersBody: (conf) => conf.body !== undefined || conf.filters !== undefined,

  create(conf, route, api) {
    const maxRegexProgram = api.config.limits.max_regex_program;
    return {
      condition: conf.vars === undefined ? undefined : compileExpression(conf.vars, { maxRegexProgram }),
      headers: conf.headers && new ResponseHeaderEdits(conf.headers),
      replacement: conf.body === undefined ? undefined : Buffer.from(conf.body, conf.body_base64 ? 'base64' : 'utf8'),
      filters: conf.filters ? compileFilters(conf.filters, maxRegexProgram) : [],
      api,
      routeId: route.id,
    };
  },

  headerFilter(ctx, conf, compiled) {
    // The request's variables; `status` is the response status as it stands in a header filter.
    const vars = ctx.gateway;
    if (compiled.condition && !compiled.condition.test(vars)) return;
    if (conf.status_code !== undefined) ctx.status = conf.status_code;
    let rewrite: BodyRewrite | undefined;
    if (compiled.replacement || compiled.filters.length > 0) {
      const mode = bodyMode(ctx, compiled);
      rewrite = new BodyRewrite(mode, {
        replacement: compiled.replacement,
        filters: compiled.filters,
        maxBytes: conf.max_resp_body_size,
        encoding: responseHeader(ctx, 'content-encoding') || undefined,
        abort: (reason) => {
          compiled.api.logger.warn({ requestId: ctx.gateway.requestId, route: compiled.routeId, reason }, 'response-rewrite aborted the response');
          ctx.res.destroy();
        },
      });
      if (mode !== 'untouched') {
        // The body changes: what described the old one no longer holds.
        for (const name of ['content-length', 'content-encoding', 'etag', 'last-modified']) ctx.remove(name);
      }
    }
    // Only a body rewrite has anything for the body filter; header edits need no per-request state.
    if (rewrite) responses(ctx).set(compiled, rewrite);
    compiled.headers?.apply(ctx, vars);
  },

  bodyFilter(ctx, _conf, compiled, chunk, eof) {
    return responses(ctx).get(compiled)?.chunk(chunk, eof);
  },
});

function responses(ctx: GatewayContext): Responses {
  return ctx.gateway.scratch<Responses>('response-rewrite', () => new Map());
}

function bodyMode(ctx: GatewayContext, compiled: Compiled): BodyMode {
  if (compiled.replacement) return 'replace';
  const encoding = responseHeader(ctx, 'content-encoding');
  if (!decodable(encoding)) {
    compiled.api.logger.warn({ requestId: ctx.gateway.requestId, route: compiled.routeId, encoding }, 'response-rewrite filters cannot read this Content-Encoding; the body goes out unchanged');
    return 'untouched';
  }
  const type = responseHeader(ctx, 'content-type');
  return type.startsWith('text/event-stream') && (!encoding || encoding === 'identity') ? 'events' : 'whole';
}

/** A response header as one lower-case string ('' when absent). */
function responseHeader(ctx: GatewayContext, name: string): string {
  const value = ctx.res.getHeader(name);
  return value === undefined ? '' : String(value).toLowerCase();
}
