/**
 * The rule language of mcp-acl: glob lists over tool names (`allow`, `deny`), prompt names
 * (`prompts`) and resource URIs (`resources`), and the same per OAuth scope (`scopes`). See
 * docs/plugins/mcp-acl.md for the order a name is decided in.
 */
import type { McpItemKind } from '../../core/context.js';
import { anyMatches, Glob } from './glob.js';

export interface NameRules {
  allow?: string[];
  deny: string[];
}

/** One set of rules: tools at the top level, prompts and resources below. */
export interface RuleSet {
  allow?: string[];
  deny: string[];
  prompts?: NameRules;
  resources?: NameRules;
}

export interface AclConf extends RuleSet {
  scopes?: Record<string, RuleSet>;
}

type Kind = 'tool' | 'prompt' | 'resource';

interface CompiledRules {
  readonly allow?: readonly Glob[];
  readonly deny: readonly Glob[];
}

type CompiledSet = Readonly<Record<Kind, CompiledRules>>;

function compile(rules: NameRules | undefined): CompiledRules {
  return { allow: rules?.allow?.map((p) => new Glob(p)), deny: (rules?.deny ?? []).map((p) => new Glob(p)) };
}

function compileSet(set: RuleSet): CompiledSet {
  return { tool: compile(set), prompt: compile(set.prompts), resource: compile(set.resources) };
}

/** Which rule list an item's kind is decided by: resource templates by the resource rules, on their template text. */
function kindOf(kind: McpItemKind): Kind {
  return kind === 'resource_template' ? 'resource' : kind;
}

export class AccessRules {
  private readonly base: CompiledSet;
  private readonly scopes: ReadonlyArray<readonly [string, CompiledSet]>;

  constructor(conf: AclConf) {
    this.base = compileSet(conf);
    this.scopes = Object.entries(conf.scopes ?? {}).map(([scope, set]) => [scope, compileSet(set)] as const);
  }

  /**
   * Whether a request holding `scopes` (its token's; none without OAuth) may see and use `name`:
   * 1. denied when a `deny` matches it (the rules' own, or those of a scope held);
   * 2. allowed when the `allow` of a scope held matches it;
   * 3. allowed when the rules' own `allow` matches it;
   * 4. denied when the `allow` of a scope not held matches it (the name is that scope's);
   * 5. otherwise allowed only when the rules have no `allow` of their own.
   */
  permits(itemKind: McpItemKind, name: string, scopes: readonly string[]): boolean {
    const kind = kindOf(itemKind);
    const base = this.base[kind];
    if (anyMatches(base.deny, name)) return false;
    let gated = false;
    for (const [scope, set] of this.scopes) {
      const rules = set[kind];
      if (scopes.includes(scope)) {
        if (anyMatches(rules.deny, name)) return false;
      }
    }
    for (const [scope, set] of this.scopes) {
      const allow = set[kind].allow;
      if (!allow || !anyMatches(allow, name)) continue;
      if (scopes.includes(scope)) return true;
      gated = true;
    }
    if (base.allow) return anyMatches(base.allow, name);
    return !gated;
  }
}

/**
 * The config that runs for a consumer that has its own (APISIX's consumer merge, with one
 * exception): each of its allow lists replaces the route's, and every deny list of both holds —
 * an operator's deny on the route is never lifted by a consumer's allow.
 */
export function mergeConfs(route: AclConf, consumer: AclConf): AclConf {
  const merged: AclConf = mergeSets(route, consumer);
  if (route.scopes || consumer.scopes) {
    const scopes: Record<string, RuleSet> = { ...route.scopes };
    for (const [scope, set] of Object.entries(consumer.scopes ?? {})) scopes[scope] = scopes[scope] ? mergeSets(scopes[scope], set) : set;
    merged.scopes = scopes;
  }
  return merged;
}

function mergeSets(route: RuleSet, consumer: RuleSet): RuleSet {
  return {
    ...mergeRules(route, consumer),
    prompts: route.prompts || consumer.prompts ? mergeRules(route.prompts, consumer.prompts) : undefined,
    resources: route.resources || consumer.resources ? mergeRules(route.resources, consumer.resources) : undefined,
  };
}

function mergeRules(route: NameRules | undefined, consumer: NameRules | undefined): NameRules {
  const allow = consumer?.allow ?? route?.allow;
  const deny = [...new Set([...(route?.deny ?? []), ...(consumer?.deny ?? [])])];
  return allow === undefined ? { deny } : { allow, deny };
}
