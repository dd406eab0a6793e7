/**
 * Which consumer may call which tool under mcp-acl, worked out on the page with the plugin's own
 * rule code (plugins/mcp-acl/rules.ts, bundled in), so the answer cannot drift from what the
 * gateway enforces. The config that runs for a consumer is the route's (route > plugin config >
 * service), merged with the consumer's own (or its group's) as the gateway merges it.
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
