/**
 * Which consumer may call which tool under mcp-acl, worked out on the page with the plugin's own
 * rule code (plugins/mcp-acl/rules.ts, bundled in), so the answer cannot drift from what the
 * gateway enforces. The config that runs for a consumer is the route's (route > plugin config >
 * service), merged with the consumer's own (or its group's) as the gateway merges it.
 *
 * consumer-restriction decides earlier whether a consumer may use the route at all; its few rules
 * are repeated here (the plugin's code needs the core, which the page does not bundle), for the
 * POST that carries a tool call. Other plugins (limits, IP rules…) may refuse what both allow.
 */
import { AccessRules, mergeConfs, type AclConf } from '../../plugins/mcp-acl/rules.js';

const ACL = 'mcp-acl';

function aclIn(plugins: Record<string, any> | undefined): AclConf | undefined {
  const conf = plugins?.[ACL];
  if (!conf || typeof conf !== 'object' || conf._meta?.disable) return undefined;
  return { deny: [], ...conf };
}

export interface RouteSources {
  route: Record<string, any>;
  service?: Record<string, any>;
  pluginConfig?: Record<string, any>;
}

/** The route's own mcp-acl config, as its chain assembles it (route > plugin config > service). */
export function routeAcl(sources: RouteSources): AclConf | undefined {
  return aclIn(sources.route.plugins) ?? aclIn(sources.pluginConfig?.plugins) ?? aclIn(sources.service?.plugins);
}

/** The rules that run for `consumer` (its own mcp-acl, else its group's) on a route with `route`'s. */
export function rulesFor(route: AclConf | undefined, consumer: Record<string, any> | undefined, group: Record<string, any> | undefined): AccessRules | undefined {
  const own = aclIn(consumer?.plugins) ?? aclIn(group?.plugins);
  const conf = route && own ? mergeConfs(route, own) : (own ?? route);
  return conf ? new AccessRules(conf) : undefined;
}

/** Whether `rules` let a client without OAuth scopes call `tool` (no rules: every tool). */
export function mayCall(rules: AccessRules | undefined, tool: string): boolean {
  return rules ? rules.permits('tool', tool, []) : true;
}

const RESTRICTION = 'consumer-restriction';

interface RestrictionConf {
  type?: 'consumer_name' | 'consumer_group_id' | 'route_id' | 'service_id';
  whitelist?: string[];
  blacklist?: string[];
  allowed_by_methods?: Array<{ user?: string; methods: string[] }>;
}

function restrictionIn(plugins: Record<string, any> | undefined): RestrictionConf | undefined {
  const conf = plugins?.[RESTRICTION];
  return conf && typeof conf === 'object' && !conf._meta?.disable ? conf : undefined;
}

/**
 * Whether consumer-restriction lets `consumer` (in `group`) POST to the route (a tool call): the
 * consumer's own config, else its group's, else the route's chain's (consumer > group > route >
 * plugin config > service), judged as the plugin judges (blacklist, whitelist, allowed_by_methods).
 */
export function restrictionAllows(sources: RouteSources & { routeId: string }, consumer: Record<string, any> | undefined, group: Record<string, any> | undefined): boolean {
  const conf =
    restrictionIn(consumer?.plugins) ??
    restrictionIn(group?.plugins) ??
    restrictionIn(sources.route.plugins) ??
    restrictionIn(sources.pluginConfig?.plugins) ??
    restrictionIn(sources.service?.plugins);
  if (!conf) return true;
  const subject = conf.type ?? 'consumer_name';
  const value =
    subject === 'consumer_name'
      ? consumer?.username
      : subject === 'consumer_group_id'
        ? consumer?.group_id
        : subject === 'route_id'
          ? sources.routeId
          : sources.route.service_id;
  if (value === undefined) return false;
  const id = String(value);
  if (conf.blacklist?.includes(id)) return false;
  const whitelisted = conf.whitelist?.includes(id) ?? false;
  if (conf.whitelist?.length && !whitelisted) return false;
  const methods = whitelisted ? undefined : conf.allowed_by_methods?.find((entry) => entry.user === id)?.methods;
  return !methods || methods.includes('POST');
}
