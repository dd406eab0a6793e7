/**
 * traffic-split — sends a share of a route's traffic to other upstreams (APISIX traffic-split):
 * canary and blue-green releases, A/B tests. Rules are tried in order; the first whose `match`
 * holds (any of its `vars` expressions; a rule without `match` always holds) splits the request
 * over its `weighted_upstreams` — an inline `upstream`, a stored `upstream_id` (resolved per
 * request, as APISIX does), or the route's own upstream (an entry with only a weight) — by
 * APISIX's weighted round robin. No rule holding: the route's upstream.
 * MCP: a request carrying Mcp-Session-Id stays with the upstream that created its session, on
 * every worker and gateway (session.ts), so an MCP server can be canaried behind a plain route.
 * Inline upstreams live as long as the route version and drain on change like a route's own.
 * Phases: access (picks), headerFilter (tags a new session id). Fails closed: an `upstream_id`
 * that does not exist answers 500, as in APISIX.
 */
import { compileExpression, expressionProblem, type Expression } from '../../core/expr.js';
import { defineErrors, GatewayError } from '../../core/errors.js';
import type { GatewayContext } from '../../core/context.js';
import { definePlugin, type PluginApi, type UpstreamLease } from '../../core/plugin.js';
import type { Upstream } from '../../core/upstream/upstream.js';
import { InterleavedRoundRobin, weightedHashPick } from './round-robin.js';
import { tagOf, tagSession, untagSession } from './session.js';

interface WeightedConf {
  upstream_id?: string | number;
  upstream?: Record<string, unknown>;
  weight: number;
}

interface RuleConf {
  match?: Array<{ vars?: unknown }>;
  weighted_upstreams: WeightedConf[];
}

interface TrafficSplitConf {
  rules?: RuleConf[];
}

/** Where a pick sends the request. `tag` names it in session ids. */
type Target = { readonly tag: string } & ({ readonly kind: 'route' } | { readonly kind: 'id'; readonly id: string } | { readonly kind: 'inline'; readonly upstream: Upstream });

interface Rule {
  /** undefined: the rule has no `match` and always holds. */
  readonly matches?: readonly Expression[];
  /** The upstream_ids it names, which must exist whenever the rule is considered (APISIX). */
  readonly ids: readonly string[];
  readonly weighted: ReadonlyArray<readonly [Target, number]>;
  readonly picker: InterleavedRoundRobin<Target>;
}

const ROUTE_KEY = 'route';
/** APISIX's id schema (routes/schemas.ts has the same for resources). */
const idSchema = { anyOf: [{ type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-_.]+$' }, { type: 'integer', minimum: 1 }] };

/** One route version's split: its rules, its targets by session tag, and the inline upstreams it holds. */
class Split {
  readonly rules: Rule[] = [];
  readonly byTag = new Map<string, Target>();
  readonly route: Target = { kind: 'route', tag: tagOf(ROUTE_KEY) };
  /** The route's upstream and stored ones, one target each: APISIX keys them by id. */
  private readonly named = new Map<string, Target>([[ROUTE_KEY, this.route]]);
  private readonly leases = new Map<string, UpstreamLease>();

  constructor(conf: TrafficSplitConf, readonly api: PluginApi) {
    this.byTag.set(this.route.tag, this.route);
    try {
      for (const rule of conf.rules ?? []) this.rules.push(this.compileRule(rule));
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  private compileRule(rule: RuleConf): Rule {
    // An entry naming a target already named by the rule replaces its weight (the last one wins, as in APISIX).
    const weights = new Map<Target, number>();
    for (const entry of rule.weighted_upstreams) weights.set(this.targetOf(entry), entry.weight);
    const weighted = [...weights];
    return {
      matches: rule.match?.map((m) => compileExpression(m.vars, { maxRegexProgram: this.api.config.limits.max_regex_program })),
      ids: weighted.flatMap(([target]) => (target.kind === 'id' ? [target.id] : [])),
      weighted,
      picker: new InterleavedRoundRobin(weighted),
    };
  }

  private targetOf(entry: WeightedConf): Target {
    if (entry.upstream_id === undefined && entry.upstream) return this.inlineTarget(entry.upstream);
    const key = entry.upstream_id === undefined ? ROUTE_KEY : `id:${entry.upstream_id}`;
    let target = this.named.get(key);
    if (!target) {
      target = { kind: 'id', id: String(entry.upstream_id), tag: tagOf(key) };
      this.named.set(key, target);
      this.byTag.set(target.tag, target);
    }
    return target;
  }

  /** Each inline entry is an entry of its own (as in APISIX); identical definitions share one upstream and one tag. */
  private inlineTarget(definition: Record<string, unknown>): Target {
    const key = `inline:${JSON.stringify(definition)}`;
    let lease = this.leases.get(key);
    if (!lease) {
      lease = this.api.upstreams.acquire(definition);
      this.leases.set(key, lease);
    }
    const target: Target = { kind: 'inline', upstream: lease.upstream, tag: tagOf(key) };
    if (!this.byTag.has(target.tag)) this.byTag.set(target.tag, target);
    return target;
  }

  /** The upstream a target names; the route's own is undefined. */
  upstreamOf(target: Target): Upstream | undefined {
    if (target.kind === 'route') return undefined;
    if (target.kind === 'inline') return target.upstream;
    const upstream = this.api.upstreams.byId(target.id);
    if (!upstream) throw missingUpstream(target.id);
    return upstream;
  }

  /** APISIX's rule walk: the first rule that holds, or undefined (then the route's upstream). */
  matchingRule(ctx: GatewayContext): Rule | undefined {
    // APISIX carries the outcome of one rule's matches into the next: a rule with `match: []` repeats it.
    let passed = true;
    for (const rule of this.rules) {
      for (const id of rule.ids) if (!this.api.upstreams.byId(id)) throw missingUpstream(id);
      if (!rule.matches) return rule;
      for (const match of rule.matches) {
        passed = match.test(ctx.gateway);
        if (passed) break;
      }
      if (passed) return rule;
    }
    return undefined;
  }

  dispose(): void {
    for (const lease of this.leases.values()) lease.release();
    this.leases.clear();
  }
}

const ERRORS = defineErrors({
  GW_UPSTREAM_NOT_FOUND: { status: 500, message: 'failed to fetch upstream info by upstream id' },
});

export default definePlugin<TrafficSplitConf, Split>({
  name: 'traffic-split',
  version: '1.0.0',
  priority: 966,
  errors: ERRORS,
  description: 'Splits traffic over weighted upstreams by rules: canary, blue-green, A/B.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rules: {
        type: 'array',
        description: 'Tried in order; the first that holds splits the request over its weighted_upstreams. None holding: the route\'s upstream.',
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            match: {
              type: 'array',
              description: 'The rule holds when any entry\'s `vars` expression holds (docs/expressions.md). Absent: always.',
              items: { type: 'object', additionalProperties: false, properties: { vars: { type: 'array' } } },
            },
            weighted_upstreams: {
              type: 'array',
              minItems: 1,
              maxItems: 20,
              default: [{ weight: 1 }],
              description: 'Where the rule sends requests, by weight: an inline `upstream`, an `upstream_id`, or (only a weight) the route\'s own upstream.',
              items: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  upstream_id: { ...idSchema, description: 'A stored upstream, looked up per request.' },
                  upstream: { type: 'object', description: 'An inline upstream, as the Admin API\'s upstream object.' },
                  weight: { type: 'integer', minimum: 0, default: 1, description: 'Share of the rule\'s requests.' },
                },
              },
            },
          },
        },
      },
    },
  },

  checkConf(conf, config, resources) {
    for (const [i, rule] of (conf.rules ?? []).entries()) {
      for (const match of rule.match ?? []) {
        const problem = expressionProblem(match.vars, { maxRegexProgram: config.limits.max_regex_program });
        if (problem) return problem;
      }
      for (const [j, entry] of rule.weighted_upstreams.entries()) {
        if (entry.upstream_id !== undefined || !entry.upstream) continue;
        const problem = resources.upstream(entry.upstream);
        if (problem) return `rules[${i}].weighted_upstreams[${j}].upstream: ${problem}`;
      }
    }
    return undefined;
  },

  // Looked up per request (a missing one answers 500, as in APISIX), but not deleted while named.
  references: (conf) =>
    (conf.rules ?? []).flatMap((rule) =>
      (rule.weighted_upstreams ?? []).flatMap((entry) => (entry.upstream_id === undefined ? [] : [{ kind: 'upstreams' as const, id: String(entry.upstream_id), optional: true }])),
    ),

  create: (conf, _route, api) => new Split(conf, api),

  access(ctx, _conf, split) {
    if (split.rules.length === 0) return;
    const sent = ctx.get('mcp-session-id');
    let target: Target;
    if (sent) {
      // A session stays where it began: by the tag its id carries, else by a hash of the id.
      const { id, tag } = untagSession(sent);
      if (tag !== undefined) ctx.gateway.upstream.headers.set('mcp-session-id', id);
      const tagged = tag === undefined ? undefined : split.byTag.get(tag);
      const rule = tagged ? undefined : split.matchingRule(ctx);
      target = tagged ?? (rule ? weightedHashPick(rule.weighted, id) : split.route);
    } else {
      target = split.matchingRule(ctx)?.picker.next() ?? split.route;
    }
    // Set either way: a global rule's pick gives way to the route's.
    ctx.gateway.upstream.target = split.upstreamOf(target);
    picks(ctx).set(split, target);
  },

  headerFilter(ctx, _conf, split) {
    const target = picks(ctx).get(split);
    const minted = ctx.res.getHeader('mcp-session-id');
    if (!target || typeof minted !== 'string' || !minted || untagSession(minted).tag !== undefined) return;
    ctx.set('Mcp-Session-Id', tagSession(target.tag, minted));
  },
});

function picks(ctx: GatewayContext): Map<Split, Target> {
  return ctx.gateway.scratch<Map<Split, Target>>('traffic-split', () => new Map());
}

function missingUpstream(id: string): GatewayError {
  const message = `failed to fetch upstream info by upstream id: ${id}`;
  return ERRORS.GW_UPSTREAM_NOT_FOUND.error({ message, cause: new Error(message) });
}
