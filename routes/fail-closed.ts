/**
 * What the route table does with stored config it cannot use: fail closed, never open.
 *
 * APISIX skips an invalid item when it syncs from etcd. For a gateway that is an auth bypass in
 * two places: a global rule whose key-auth cannot run lets every request through, and a route
 * left out of the matcher hands its traffic to a broader route (a catch-all `/*` without auth).
 * So Tollgate decides by what the thing could have done:
 * - A plugin that can end or refuse a request — one with a rewrite, access or content phase that
 *   does not declare `observesOnly`, an auth plugin, one that reads credentials, or one that is
 *   not loaded (nobody can tell what it does) — fails closed when it cannot run. In a global rule that means every request answers
 *   503 `GW_GLOBAL_RULE_BROKEN` until it is fixed; on a route, that route answers 503.
 * - A plugin that only observes (only header filter, body filter and log handlers, or declared
 *   `observesOnly`: the log sinks) is skipped with an error: a log sink that cannot run must not
 *   take every request down with it.
 * - A route record that fails validation stays in the matcher as a broken route answering 503
 *   on what it could match, so it shadows what it used to shadow. A matching field it cannot read
 *   is widened (any host, any method, any client address, no `vars`, the highest priority) rather than
 *   narrowed; only a record with no uri that can ever match a request is left out, since it
 *   never matched one.
 */
import { addressProblem } from '../core/address.js';
import { CORE_ERRORS, type ErrorCode } from '../core/errors.js';
import { ownValue } from '../core/own.js';
import type { ChainEntry } from '../core/pipeline.js';
import type { Plugin } from '../core/plugin.js';
import { compileOnUse } from '../core/schema.js';
import { routeVarsProblem, uriProblem } from './checks.js';
import { routeSchema } from './schemas.js';

/** Whether a plugin could end or refuse a request (unknown plugins could; `observesOnly` ones cannot). */
export function canRefuse(plugin: Plugin | undefined): boolean {
  if (!plugin) return true;
  if (plugin.observesOnly) return false;
  return Boolean(plugin.rewrite || plugin.access || plugin.content || plugin.type === 'auth' || plugin.credentials);
}

/** What answers every request while a global rule that could refuse requests cannot run. */
export function globalRuleFence(reason: string): ChainEntry {
  // Before every other global plugin: nothing may act on a request the gateway cannot guard.
  return fence('global-rules', CORE_ERRORS.GW_GLOBAL_RULE_BROKEN, reason, false);
}

/**
 * What answers a consumer's requests while the plugins it adds cannot be known or run (its
 * consumer group is gone or invalid: APISIX answers 503 too). It joins the consumer's rewrite
 * pass, ahead of every plugin the consumer brings.
 */
export function consumerFence(reason: string): ChainEntry {
  return fence('consumer-plugins', CORE_ERRORS.GW_CONSUMER_BROKEN, reason, true);
}

function fence(name: string, code: ErrorCode, reason: string, fromConsumer: boolean): ChainEntry {
  const plugin: Plugin = {
    name,
    version: '0',
    priority: Number.MAX_SAFE_INTEGER,
    schema: {},
    rewrite: () => {
      throw code.error({ cause: new Error(reason) });
    },
  };
  return { plugin, conf: {}, instance: undefined, priority: plugin.priority, fromConsumer };
}

/** Whether a value passes the route schema's rule for one field. */
function fieldCheck(schema: object): (value: unknown) => boolean {
  const validate = compileOnUse({ type: 'object', properties: { value: schema } });
  return (value) => validate({ value: structuredClone(value) }) === undefined;
}

const FIELD = {
  host: fieldCheck(routeSchema.properties.host),
  hosts: fieldCheck(routeSchema.properties.hosts),
  methods: fieldCheck(routeSchema.properties.methods),
  priority: fieldCheck(routeSchema.properties.priority),
  id: fieldCheck(routeSchema.properties.service_id),
};

/**
 * The matching fields of a route record that failed validation, as a route record the compiler
 * can fence off (it answers 503): `undefined` when no uri of it can ever match a request, or when
 * it is disabled (`status: 0`). `widened` names the fields that could not be read and now match
 * anything.
 */
export function brokenRouteMatch(stored: unknown, id: string, maxRegexProgram: number): { route: Record<string, unknown>; widened: string[] } | undefined {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return undefined;
  const field = (name: string) => ownValue(stored, name);
  if (field('status') === 0) return undefined;
  const uris = usableUris(field('uris') ?? field('uri'));
  if (uris.length === 0) return undefined;
  const route: Record<string, unknown> = { id, uris };
  const widened: string[] = [];
  const take = (name: string, value: unknown, valid: boolean) => {
    if (value === undefined) return;
    if (valid) route[name] = value;
    else widened.push(name);
  };
  take('hosts', field('hosts'), FIELD.hosts(field('hosts')));
  take('host', field('host'), FIELD.host(field('host')));
  take('methods', field('methods'), FIELD.methods(field('methods')));
  const addrs = field('remote_addrs') ?? (field('remote_addr') === undefined ? undefined : [field('remote_addr')]);
  take('remote_addrs', addrs, Array.isArray(addrs) && addrs.length > 0 && addrs.every((a) => typeof a === 'string' && !addressProblem(a)));
  const vars = field('vars');
  take('vars', vars, Array.isArray(vars) && routeVarsProblem({ vars }, maxRegexProgram) === undefined);
  const priority = field('priority');
  if (priority !== undefined && !FIELD.priority(priority)) {
    widened.push('priority');
    route.priority = Number.MAX_SAFE_INTEGER;
  } else if (priority !== undefined) {
    route.priority = priority;
  }
  // Routes without hosts of their own take their service's: keep the reference to narrow by it.
  if (route.hosts === undefined && route.host === undefined && !widened.includes('hosts') && !widened.includes('host')) {
    const serviceId = field('service_id');
    if (serviceId !== undefined && FIELD.id(serviceId)) route.service_id = String(serviceId);
  }
  return { route, widened };
}

/** The uris of a record that could match a request; one that never could is dropped. */
function usableUris(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((uri): uri is string => typeof uri === 'string' && uriProblem(uri) === undefined);
}
