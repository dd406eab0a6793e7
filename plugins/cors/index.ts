/**
 * cors — Cross-Origin Resource Sharing headers (APISIX cors). Every OPTIONS request is answered
 * 200 at once, in rewrite at priority 4000, before authentication runs (a browser's preflight
 * carries no credentials); every response — proxied, local or an error — gets
 * Access-Control-Allow-Origin and the rest when its Origin is allowed, overwriting the upstream's.
 * Origins come from `allow_origins` (`*`, `**` to echo, a list), `allow_origins_by_regex` (RE2,
 * linear time) or plugin metadata.
 * MCP-aware: on MCP routes and MCP exchanges it also exposes Mcp-Session-Id and
 * MCP-Protocol-Version and allows them, Last-Event-ID and Authorization (mcp.ts), so browser-based
 * MCP clients work with the defaults.
 * Phases: rewrite (answers OPTIONS), headerFilter. Never refuses a request: a disallowed origin
 * only gets no CORS headers (the browser then blocks the page from reading the response).
 */
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { LinearRegex, RegexError } from '../../core/regex.js';
import { headerValueProblem } from '../../core/variables.js';
import { isMcpExchange, withMcpAllowed, withMcpExposed } from './mcp.js';
import { allowedBy, allows, originRule, type OriginRule } from './origins.js';

interface CorsConf {
  allow_origins: string;
  allow_methods: string;
  allow_headers: string;
  expose_headers?: string;
  max_age: number;
  allow_credential: boolean;
  allow_origins_by_regex?: string[];
  allow_origins_by_metadata?: string[];
  timing_allow_origins?: string;
  timing_allow_origins_by_regex?: string[];
  mcp_headers: boolean;
}

interface Compiled {
  origins: OriginRule;
  originRegex?: LinearRegex;
  timing?: OriginRule;
  timingRegex?: LinearRegex;
  methods: string;
  /** The MCP variants of expose_headers and allow_headers, worked out once. */
  mcpExposed?: string;
  mcpAllowed?: string;
  api: PluginApi;
}

/** APISIX's `origins_pattern`: `*`, `**`, `null`, or scheme://host entries separated by commas. */
const ORIGINS_PATTERN = '^(\\*|\\*\\*|null|\\w+://[^,]+(,\\w+://[^,]+)*)$';
const ALL_METHODS = 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE';
const regexList = (what: string) => ({
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'string', minLength: 1, maxLength: 4096 },
  description: `${what} RE2 patterns (no backreferences or lookaround), matched anywhere in the Origin; they replace the plain list.`,
});

export default definePlugin<CorsConf, Compiled>({
  name: 'cors',
  version: '1.0.0',
  priority: 4000,
  description: 'Cross-Origin Resource Sharing: answers preflights and adds Access-Control-* headers.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow_origins: {
        type: 'string',
        pattern: ORIGINS_PATTERN,
        default: '*',
        description: 'Allowed origins: `*` any (without credentials), `**` any (echoes the Origin; use with care), `null`, or `scheme://host[:port]` entries separated by commas.',
      },
      allow_methods: { type: 'string', default: '*', description: 'Access-Control-Allow-Methods: `*`, `**` (every method), or methods separated by commas.' },
      allow_headers: { type: 'string', default: '*', description: 'Access-Control-Allow-Headers: `*`, `**` (echoes Access-Control-Request-Headers), or names separated by commas.' },
      expose_headers: { type: 'string', description: 'Access-Control-Expose-Headers: names separated by commas, or `*`. Unset: none (but the MCP headers, see `mcp_headers`).' },
      max_age: { type: 'integer', default: 5, description: 'Access-Control-Max-Age: seconds a preflight may be cached; -1 disables caching.' },
      allow_credential: {
        type: 'boolean',
        default: false,
        description: 'Access-Control-Allow-Credentials: true. Then no other option may be `*` (set each explicitly; `**` is allowed).',
      },
      allow_origins_by_regex: regexList('Allowed origins as'),
      allow_origins_by_metadata: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { type: 'string', minLength: 1, maxLength: 4096 },
        description: 'Keys of the `allow_origins` map in the plugin metadata, whose origins are allowed too.',
      },
      timing_allow_origins: { type: 'string', pattern: ORIGINS_PATTERN, description: 'Origins that may see timing information (Timing-Allow-Origin), as `allow_origins`.' },
      timing_allow_origins_by_regex: regexList('Origins that may see timing information, as'),
      mcp_headers: {
        type: 'boolean',
        default: true,
        description: 'On MCP routes and exchanges, also expose Mcp-Session-Id and MCP-Protocol-Version and allow them, Last-Event-ID and Authorization in preflights.',
      },
    },
  },
  metadataSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow_origins: {
        type: 'object',
        additionalProperties: { type: 'string', pattern: ORIGINS_PATTERN },
        description: 'Named origin lists (`"partners": "https://a.example,https://b.example"`) that routes refer to with `allow_origins_by_metadata`.',
      },
    },
  },

  checkConf(conf, config) {
    if (conf.allow_credential) {
      const star = [conf.allow_origins, conf.allow_methods, conf.allow_headers, conf.expose_headers, conf.timing_allow_origins].includes('*');
      if (star) return "you can not set '*' for other option when 'allow_credential' is true";
    }
    for (const field of ['allow_origins', 'allow_methods', 'allow_headers', 'expose_headers', 'timing_allow_origins'] as const) {
      const value = conf[field];
      const problem = value === undefined ? undefined : headerValueProblem(value);
      if (problem) return `${field} ${problem}`;
    }
    for (const field of ['allow_origins_by_regex', 'timing_allow_origins_by_regex'] as const) {
      const patterns = conf[field];
      if (!patterns) continue;
      for (let i = 0; i < patterns.length; i++) {
        const problem = regexProblem(patterns[i], config.limits.max_regex_program);
        if (problem) return `${field}[${i}] pattern ${JSON.stringify(patterns[i])} is refused: ${problem}`;
      }
      const problem = regexProblem(patterns.join('|'), config.limits.max_regex_program);
      if (problem) return `${field}: the patterns together are refused: ${problem}`;
    }
    return undefined;
  },

  create(conf, _route, api) {
    const max = api.config.limits.max_regex_program;
    const exposed = conf.expose_headers === '' ? undefined : conf.expose_headers;
    return {
      origins: originRule(conf.allow_origins),
      originRegex: conf.allow_origins_by_regex && LinearRegex.compile(conf.allow_origins_by_regex.join('|'), max),
      timing: conf.timing_allow_origins === undefined ? undefined : originRule(conf.timing_allow_origins),
      timingRegex: conf.timing_allow_origins_by_regex && LinearRegex.compile(conf.timing_allow_origins_by_regex.join('|'), max),
      methods: conf.allow_methods === '**' ? ALL_METHODS : conf.allow_methods,
      mcpExposed: conf.mcp_headers ? withMcpExposed(exposed) : undefined,
      mcpAllowed: conf.mcp_headers && conf.allow_headers !== '**' ? withMcpAllowed(conf.allow_headers) : undefined,
      api,
    };
  },

  rewrite(ctx) {
    // Every OPTIONS request, as APISIX: a preflight carries no credentials, so it is answered
    // before the authentication plugins could refuse it.
    if (ctx.method !== 'OPTIONS') return;
    ctx.status = 200;
    ctx.body = '';
  },

  headerFilter(ctx, conf, compiled) {
    const origin = ctx.get('origin') || undefined;
    const allowed = allowedOrigin(conf, compiled, origin);
    if (conf.allow_origins !== '*') ctx.vary('Origin');
    if (allowed !== undefined) {
      const mcp = conf.mcp_headers && isMcpExchange(ctx);
      ctx.set('Access-Control-Allow-Origin', allowed);
      ctx.set('Access-Control-Allow-Methods', compiled.methods);
      ctx.set('Access-Control-Max-Age', String(conf.max_age));
      const exposed = mcp ? compiled.mcpExposed : conf.expose_headers;
      if (exposed) ctx.set('Access-Control-Expose-Headers', exposed);
      if (conf.allow_headers === '**') {
        const asked = ctx.get('access-control-request-headers');
        if (asked) ctx.set('Access-Control-Allow-Headers', asked);
        else ctx.remove('Access-Control-Allow-Headers');
      } else {
        ctx.set('Access-Control-Allow-Headers', mcp ? compiled.mcpAllowed! : conf.allow_headers);
      }
      if (conf.allow_credential) ctx.set('Access-Control-Allow-Credentials', 'true');
    }
    const timing = timingOrigin(compiled, origin);
    if (timing !== undefined && allows(origin, timing)) ctx.set('Timing-Allow-Origin', timing);
  },
});

/** APISIX's header_filter: metadata first when configured, then the regex list or the plain list. */
function allowedOrigin(conf: CorsConf, compiled: Compiled, origin: string | undefined): string | undefined {
  let allowed: string | undefined;
  let local = true;
  if (conf.allow_origins_by_metadata) {
    allowed = allowedByMetadata(conf.allow_origins_by_metadata, compiled.api, origin);
    local = !allows(origin, allowed) && conf.allow_origins !== '*';
  }
  if (local) allowed = compiled.originRegex ? allowedByRegex(compiled.originRegex, origin) : allowedBy(compiled.origins, origin);
  // APISIX asks the metadata again here; it was asked above with the same origin and allowed nothing.
  return allows(origin, allowed) ? allowed : undefined;
}

function timingOrigin(compiled: Compiled, origin: string | undefined): string | undefined {
  if (compiled.timingRegex) return allowedByRegex(compiled.timingRegex, origin);
  return compiled.timing && allowedBy(compiled.timing, origin);
}

function allowedByRegex(regex: LinearRegex, origin: string | undefined): string | undefined {
  return origin !== undefined && regex.test(origin) ? origin : undefined;
}

/** The first metadata list (in the route's order) that allows this origin. */
function allowedByMetadata(keys: readonly string[], api: PluginApi, origin: string | undefined): string | undefined {
  const lists = metadataRules(api);
  if (!lists) return undefined;
  for (const key of keys) {
    const rule = lists.get(key);
    if (rule && allows(origin, allowedBy(rule, origin))) return origin;
  }
  return undefined;
}

/** The metadata's origin lists, compiled once per metadata version. */
function metadataRules(api: PluginApi): Map<string, OriginRule> | undefined {
  const metadata = api.metadata('cors') as { allow_origins?: Record<string, string> } | undefined;
  if (!metadata?.allow_origins) return undefined;
  const cache = api.state('cors', () => new WeakMap<object, Map<string, OriginRule>>());
  let rules = cache.get(metadata);
  if (!rules) {
    rules = new Map(Object.entries(metadata.allow_origins).map(([key, origins]) => [key, originRule(origins)]));
    cache.set(metadata, rules);
  }
  return rules;
}

function regexProblem(source: string, maxProgram: number): string | undefined {
  try {
    LinearRegex.compile(source, maxProgram);
    return undefined;
  } catch (err) {
    if (err instanceof RegexError) return err.message;
    throw err;
  }
}
