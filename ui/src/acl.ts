/**
 * Which consumer may call which tool under mcp-acl, worked out on the page with the plugin's own
 * rule code (plugins/mcp-acl/rules.ts, bundled in), so the answer cannot drift from what the
 * gateway enforces. The config that runs for a consumer is the route's (route > plugin config >
 * service), merged with the consumer's own (or its group's) as the gateway merges it. As there, the
 * first record naming a plugin decides, even when it disables the plugin (then none runs).
 *
 * consumer-restriction decides earlier whether a consumer may use the route at all; its few rules
 * are repeated here (the plugin's code needs the core, which the page does not bundle), for the
 * POST that carries a tool call. Other plugins (limits, IP rules…) may refuse what both allow.
 */
import { AccessRules, mergeConfs, type AclConf } from '../../plugins/mcp-acl/rules.js';

const ACL = 'mcp-acl';

/**
 * The config of `plugin` that runs, as the gateway merges plugin maps: the first map naming the
 * plugin replaces the others' even when it disables it (`_meta.disable`), and then none runs.
 * `named` says whether any map names it (a disabled one included).
 */
function effective(plugin: string, ...maps: Array<Record<string, any> | undefined>): { named: boolean; conf?: Record<string, any> } {
  for (const plugins of maps) {
    if (!plugins || !Object.hasOwn(plugins, plugin)) continue;
    const conf = plugins[plugin];
    return { named: true, conf: conf && typeof conf === 'object' && !conf._meta?.disable ? conf : undefined };
  }
  return { named: false };
}

function aclOf(conf: Record<string, any> | undefined): AclConf | undefined {
  return conf ? ({ deny: [], ...conf } as AclConf) : undefined;
}

export interface RouteSources {
  route: Record<string, any>;
  service?: Record<string, any>;
  pluginConfig?: Record<string, any>;
}

/** The plugins that run on the route, as its chain assembles them (route > plugin config > service); a disabled one does not. */
export function routePlugins(sources: RouteSources): Record<string, any> {
  const merged: Record<string, any> = { ...sources.service?.plugins, ...sources.pluginConfig?.plugins, ...sources.route.plugins };
  return Object.fromEntries(Object.entries(merged).filter(([, conf]) => !conf?._meta?.disable));
}

/** Whether one of `running` authenticates (`type: auth` in the Admin API's plugin list): else no consumer is known. */
export function authenticates(running: Record<string, unknown>, plugins: Record<string, { type?: string } | undefined>): boolean {
  return Object.keys(running).some((name) => plugins[name]?.type === 'auth');
}

/** The route's own mcp-acl config, as its chain assembles it (route > plugin config > service). */
export function routeAcl(sources: RouteSources): AclConf | undefined {
  return aclOf(effective(ACL, sources.route.plugins, sources.pluginConfig?.plugins, sources.service?.plugins).conf);
}

/**
 * The rules that run for `consumer` (its own mcp-acl, else its group's) on a route with `route`'s:
 * merged with the route's; a consumer's (or group's) disabled mcp-acl replaces the route's, so none runs.
 */
export function rulesFor(route: AclConf | undefined, consumer: Record<string, any> | undefined, group: Record<string, any> | undefined): AccessRules | undefined {
  const own = effective(ACL, consumer?.plugins, group?.plugins);
  const ownConf = aclOf(own.conf);
  const conf = !own.named ? route : route && ownConf ? mergeConfs(route, ownConf) : ownConf;
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

/**
 * Whether consumer-restriction lets `consumer` (in `group`) POST to the route (a tool call): the
 * config of the first that names the plugin (consumer > group > route > plugin config > service; a
 * disabled one there means none runs), judged as the plugin judges (blacklist, whitelist,
 * allowed_by_methods).
 */
export function restrictionAllows(sources: RouteSources & { routeId: string }, consumer: Record<string, any> | undefined, group: Record<string, any> | undefined): boolean {
  const conf = effective(RESTRICTION, consumer?.plugins, group?.plugins, sources.route.plugins, sources.pluginConfig?.plugins, sources.service?.plugins).conf as
    | RestrictionConf
    | undefined;
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
