/**
 * proxy-rewrite — changes what is sent upstream: the path (`uri` with `$var` interpolation, or
 * `regex_uri` [pattern, replacement, …] applied to the path), the method, the Host header, and
 * headers (add / set / remove). The client's query string is kept. Patterns are RE2, matched in
 * linear time (core/regex.ts); what RE2 cannot run is refused when the route is written, and so
 * is a header or path that could never be sent. Values the client chose are pasted encoded and
 * kept under the prefix the route wrote (upstream-path.ts).
 * Phase: rewrite. Fails only a request whose rewritten path would leave its prefix (400).
 */
import { definePlugin } from '../../core/plugin.js';
import { compileTemplate } from '../../core/template.js';
import { LinearRegex, RegexError, Replacement } from '../../core/regex.js';
import { CompiledHeaderEdits, headerEditsProblem, type HeadersConf } from './header-edits.js';
import { ERRORS, RegexRule, UriTemplate, urlTextProblem } from './upstream-path.js';

interface ProxyRewriteConf {
  uri?: string;
  regex_uri?: string[];
  method?: string;
  host?: string;
  headers?: HeadersConf;
}

interface Compiled {
  uri?: UriTemplate;
  rules: RegexRule[];
  headers: CompiledHeaderEdits;
}

// Names and values are checked in checkConf, whose messages name the field.
const headerMap = { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { minLength: 1 } };

export default definePlugin<ProxyRewriteConf, Compiled>({
  name: 'proxy-rewrite',
  version: '1.0.0',
  priority: 1008,
  errors: ERRORS,
  description: 'Rewrites the upstream request: path, method, host and headers.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      uri: {
        type: 'string',
        minLength: 1,
        maxLength: 4096,
        pattern: '^/',
        description:
          'New upstream path; `$var` is replaced by a variable (e.g. `$uri`, `$arg_id`), percent-encoded, and the result must stay under the path written before the first variable.',
      },
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
        description:
          'Header edits: {add, set, remove}, or a plain map (treated as set). Names are HTTP tokens, values printable ASCII; values may contain `$var`.',
        anyOf: [
          {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              add: headerMap,
              set: headerMap,
              remove: { type: 'array', items: { type: 'string', minLength: 1 } },
            },
          },
          headerMap,
        ],
      },
    },
  },

  checkConf(conf, config) {
    if (conf.uri !== undefined) {
      // Variables' values are escaped where they land; only the route's own text must be URL text.
      const problem = urlTextProblem(compileTemplate(conf.uri).ownText);
      if (problem) return `uri: ${JSON.stringify(conf.uri)} ${problem}`;
    }
    if (conf.headers) {
      const problem = headerEditsProblem(conf.headers);
      if (problem) return problem;
    }
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
      const replacement = pairs[i + 1];
      let problem: string | undefined;
      try {
        Replacement.parse(replacement, regex.groupCount);
        // `${N}` references are placeholders of the same length, so offsets stay true.
        problem = urlTextProblem(replacement.replace(/\$\{\d+\}|\$\d+|\$\$/g, (ref) => 'x'.repeat(ref.length)));
      } catch (err) {
        if (!(err instanceof RegexError)) throw err;
        problem = err.message;
      }
      if (problem) return `regex_uri[${i + 1}] replacement ${JSON.stringify(replacement)} is refused: ${problem}`;
    }
    return undefined;
  },

  create(conf, _route, api) {
    const rules: RegexRule[] = [];
    for (let i = 0; conf.regex_uri && i < conf.regex_uri.length; i += 2) {
      const regex = LinearRegex.compile(conf.regex_uri[i], api.config.limits.max_regex_program);
      rules.push(new RegexRule(regex, Replacement.parse(conf.regex_uri[i + 1], regex.groupCount)));
    }
    return { uri: conf.uri === undefined ? undefined : new UriTemplate(conf.uri), rules, headers: new CompiledHeaderEdits(conf.headers) };
  },

  rewrite(ctx, conf, compiled) {
    const plan = ctx.gateway.upstream;
    // The query as it will go upstream: an auth plugin may already have removed a credential.
    const mark = plan.uri.indexOf('?');
    const query = mark < 0 ? '' : plan.uri.slice(mark + 1);
    let path: string | undefined;
    if (compiled.uri) {
      path = compiled.uri.expand(ctx.gateway);
    } else {
      for (const rule of compiled.rules) {
        path = rule.apply(ctx.gateway.path);
        if (path !== undefined) break;
      }
    }
    // The client's query is kept, appended to one the new path brings (APISIX does the same).
    if (path !== undefined) plan.uri = query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path;
    if (conf.method) plan.method = conf.method;
    if (conf.host) plan.host = conf.host;
    compiled.headers.apply(ctx);
  },
});
