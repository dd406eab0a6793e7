/**
 * Validation of an Admin API write, before anything is stored: the resource schema, APISIX's
 * semantic rules, references to other resources, and every plugin config against its plugin's
 * schema. A bad body never changes the catalog. Checks run on a copy with defaults filled; what is
 * stored is the body as sent (APISIX 3.14, "no unwanted data": defaults are applied when a record
 * is used, so a default that changes later reaches records that never chose a value).
 */
import { findClaimHolder } from '../core/catalog/claims.js';
import { findMissing } from '../core/catalog/references.js';
import { isPluginResourceKind, type CatalogSnapshot, type ModelResourceKind, type RecordRef, type ResourceKind, type UniqueClaim } from '../core/catalog/types.js';
import { ownValue, setOwn } from '../core/own.js';
import type { PluginRegistry } from '../core/registry.js';
import { recordProblem, routeVarsProblem } from '../routes/checks.js';
import { credentialOwner, duplicateKeyMessage } from '../routes/consumers.js';
import { catalogClaims, catalogReferences, refersDirectly } from '../routes/integrity.js';
import { pluginResourceProblem } from '../routes/plugin-resources.js';
import { RESOURCE_VALIDATORS, SINGULAR } from '../routes/schemas.js';

/** `value`: what to store (the body as given); `checked`: it with every default filled, as it will be used. */
export type Validated = { value: Record<string, unknown>; checked: Record<string, unknown> } | { error: string; status?: number };

export interface ValidationContext {
  registry: PluginRegistry;
  snapshot: CatalogSnapshot;
  /** limits.max_regex_program: the largest pattern a route's `vars` may hold. */
  maxRegexProgram: number;
}

/** Fields the server sets; APISIX refuses them in a body with these words (two spaces included). */
const SERVER_FIELDS = ['create_time', 'update_time'];

/** A server field a body sets, itself or in its inline upstream (as APISIX looks), named by its path. */
function serverFieldIn(body: Record<string, unknown>): string | undefined {
  const upstream = ownValue(body, 'upstream');
  for (const field of SERVER_FIELDS) {
    if (Object.hasOwn(body, field)) return field;
    if (typeof upstream === 'object' && upstream !== null && Object.hasOwn(upstream, field)) return `upstream.${field}`;
  }
  return undefined;
}

/**
 * Checks `body`, the record `kind/id` is to become (`id`: its catalog id; a credential's is
 * `{username}/credentials/{id}`). The body is not changed.
 */
export function validateResource(kind: ResourceKind, id: string, body: Record<string, unknown>, context: ValidationContext): Validated {
  const forbidden = serverFieldIn(body);
  if (forbidden) return { error: `the property is forbidden:  ${forbidden}` };
  const checked = structuredClone(body);
  if (kind === 'plugin_metadata') {
    delete checked.id;
    const error = context.registry.validate(id, checked, 'metadata');
    return error ? { error } : { value: body, checked };
  }
  if (isPluginResourceKind(kind)) {
    const error = pluginResourceProblem(context.registry, kind, checked, 'write');
    return error ? { error } : { value: body, checked };
  }
  const schemaError = RESOURCE_VALIDATORS[kind](checked);
  if (schemaError) return { error: `invalid configuration: ${schemaError}` };

  const semantic = checkSemantics(kind, id, checked, context);
  if (semantic) return { error: semantic };
  const pluginError =
    checkPlugins(kind, checked.plugins, context.registry) ?? checkAgainstMetadata(kind, checked.plugins, context) ?? checkAgainstOthers(kind, id, checked.plugins, context);
  if (pluginError === AUTH_PLUGINS_ONLY) return { error: pluginError };
  if (pluginError) return { error: kind === 'consumers' || kind === 'credentials' ? `invalid plugins configuration: ${pluginError}` : pluginError };
  // After the plugins, as APISIX's check_conf: a route with a bad plugin and a bad rule names the plugin.
  const varsError = kind === 'routes' ? routeVarsProblem(checked, context.maxRegexProgram) : undefined;
  if (varsError) return { error: varsError };
  const duplicate = duplicateClaim(kind, id, checked, context);
  if (duplicate) return { error: duplicate };
  // APISIX checks a credential's consumer last, and answers 404 (checked again in the write step).
  if (kind === 'credentials' && !context.snapshot.get('consumers', credentialOwner(id) ?? '')) return { error: 'consumer not found', status: 404 };
  return { value: body, checked };
}

function checkSemantics(kind: ModelResourceKind, id: string, value: Record<string, unknown>, { registry, snapshot }: ValidationContext): string | undefined {
  if (kind === 'routes') {
    if (value.host !== undefined && value.hosts !== undefined) return 'only one of host or hosts is allowed';
    if (value.remote_addr !== undefined && value.remote_addrs !== undefined) return 'only one of remote_addr or remote_addrs is allowed';
    if (value.upstream !== undefined && value.upstream_id !== undefined) return 'only one of upstream or upstream_id is allowed';
  }
  if (kind === 'services' && value.upstream !== undefined && value.upstream_id !== undefined) {
    return 'only one of upstream or upstream_id is allowed';
  }
  const problem = recordProblem(kind, value);
  if (problem) return problem;
  if (kind === 'credentials') return undefined;
  // An early answer from this gateway's snapshot; the catalog checks again in its write step.
  const missing = findMissing(snapshot, catalogReferences(registry)(kind, value, id));
  return missing && missingReferenceMessage(missing);
}

const REFERENCE_NAMES: Partial<Record<ResourceKind, string>> = { upstreams: 'upstream', services: 'service', plugin_configs: 'plugin config', consumer_groups: 'consumer group' };

/** APISIX's words for a write referring to a record that does not exist. */
export function missingReferenceMessage(missing: RecordRef): string {
  const name = REFERENCE_NAMES[missing.kind] ?? SINGULAR[missing.kind];
  return `failed to fetch ${name} info by ${name} id [${missing.id}], response code: 404`;
}

/** Where a plugin cannot answer requests nor set what the core reads before the chain runs. */
const NOT_A_ROUTE: ReadonlySet<ResourceKind> = new Set(['global_rules', 'consumers', 'consumer_groups']);

function checkPlugins(kind: ResourceKind, plugins: unknown, registry: PluginRegistry): string | undefined {
  if (plugins === undefined) return undefined;
  if (kind === 'credentials') return credentialPluginProblem(plugins as Record<string, unknown>, registry);
  // A global rule, a consumer or a group cannot answer requests (content) or set what the core
  // reads before the chain runs (requestOptions): accepting such a plugin there would do nothing.
  // Nor can a group authenticate: its plugins join the chain once a consumer is known.
  if (NOT_A_ROUTE.has(kind)) {
    for (const name of Object.keys(plugins as Record<string, unknown>)) {
      const plugin = registry.get(name);
      if (plugin && (plugin.content || plugin.requestOptions)) {
        return `plugin ${name} only works on a route, service or plugin config, not on a ${SINGULAR[kind]}`;
      }
      if (plugin?.type === 'auth' && kind === 'consumer_groups') {
        return `plugin ${name} authenticates consumers: it has no effect on a consumer group (put its credentials on the consumer)`;
      }
    }
  }
  if (kind !== 'consumers') return registry.validateMap(plugins, 'route');
  for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
    const error = registry.validate(name, conf, registry.get(name)?.type === 'auth' ? 'consumer' : 'route');
    if (error) return error;
  }
  return undefined;
}

/** Plugin configs that need something from either themselves or their plugin's metadata (file-logger's path). */
function checkAgainstMetadata(kind: ResourceKind, plugins: unknown, { registry, snapshot }: ValidationContext): string | undefined {
  if (plugins === undefined || kind === 'credentials') return undefined;
  for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
    const plugin = registry.get(name);
    if (!plugin?.checkWithMetadata || (kind === 'consumers' && plugin.type === 'auth')) continue;
    const error = plugin.checkWithMetadata(conf, snapshot.get('plugin_metadata', name)?.value);
    if (error) return `failed to check the configuration of plugin ${name} err: ${error}`;
  }
  return undefined;
}

/** Kinds whose records hold plugin configs that run on requests. */
const PLUGIN_HOLDERS: readonly ResourceKind[] = ['routes', 'services', 'plugin_configs', 'global_rules', 'consumers', 'consumer_groups'];

/** Plugin configs held to the same plugin's configs elsewhere in the catalog (limit-count's `group`). */
function checkAgainstOthers(kind: ResourceKind, id: string, plugins: unknown, { registry, snapshot }: ValidationContext): string | undefined {
  if (plugins === undefined || kind === 'credentials') return undefined;
  for (const [name, conf] of Object.entries(plugins as Record<string, unknown>)) {
    const plugin = registry.get(name);
    if (!plugin?.checkWithOthers || (kind === 'consumers' && plugin.type === 'auth')) continue;
    const others: unknown[] = [];
    for (const holderKind of PLUGIN_HOLDERS) {
      for (const [holderId, record] of snapshot.list(holderKind)) {
        if (holderKind === kind && holderId === id) continue;
        const other = ownValue(ownValue(record.value, 'plugins') ?? {}, name);
        if (other === undefined) continue;
        // As it runs: defaults filled. One that no longer validates cannot disagree with anything.
        const filled = structuredClone(other);
        if (registry.validate(name, filled, 'route', 'load') === undefined) others.push(filled);
      }
    }
    const error = plugin.checkWithOthers(conf, others);
    if (error) return `failed to check the configuration of plugin ${name} err: ${error}`;
  }
  return undefined;
}

const AUTH_PLUGINS_ONLY = 'only supports auth type plugins in consumer credential';

/** A credential holds one auth plugin's consumer config (APISIX: auth plugins only). */
function credentialPluginProblem(plugins: Record<string, unknown>, registry: PluginRegistry): string | undefined {
  for (const [name, conf] of Object.entries(plugins)) {
    const plugin = registry.get(name);
    if (plugin && plugin.type !== 'auth') return AUTH_PLUGINS_ONLY;
    const error = registry.validate(name, conf, 'consumer');
    if (error) return error;
  }
  return undefined;
}

/**
 * A key another consumer or credential holds, or a plugin another global rule holds; the catalog
 * checks again atomically when it writes.
 */
function duplicateClaim(kind: ResourceKind, id: string, value: Record<string, unknown>, { registry, snapshot }: ValidationContext): string | undefined {
  const claimsOf = catalogClaims(registry);
  const found = findClaimHolder(snapshot, kind, id, claimsOf(kind, value), claimsOf);
  return found && duplicateMessage(kind, found.claim, found.holder);
}

/** APISIX's words for a duplicate key or global rule plugin, whichever step found it. */
export function duplicateMessage(kind: ResourceKind, claim: UniqueClaim, holder: RecordRef): string {
  if (kind === 'global_rules') return `plugin '${claim.value}' already exists in global rule with id '${holder.id}'`;
  return duplicateKeyMessage(claim, holder);
}

/** How APISIX's upstream delete check names the holders of a plugin config. */
const PLUGIN_HOLDER_NAMES: Partial<Record<ResourceKind, string>> = { global_rules: 'global_rules', plugin_configs: 'plugin_config', consumer_groups: 'consumer_group' };

/**
 * APISIX's words for a DELETE of a record another still uses (refused without `?force=true`);
 * an upstream named through a plugin's config in APISIX's words for that (`plugin in
 * global_rules [1]` included).
 */
export function inUseMessage(target: RecordRef, user: RecordRef, snapshot: CatalogSnapshot): string {
  const record = target.kind === 'upstreams' ? snapshot.get(user.kind, user.id)?.value : undefined;
  if (record && !refersDirectly(user.kind, record, target)) {
    return `can not delete this ${SINGULAR[target.kind]}, plugin in ${PLUGIN_HOLDER_NAMES[user.kind] ?? SINGULAR[user.kind]} [${user.id}] is still using it now`;
  }
  return `can not delete this ${SINGULAR[target.kind]}, ${SINGULAR[user.kind]} [${user.id}] is still using it now`;
}

/**
 * RFC 7396 merge patch: objects merge, `null` deletes, everything else (arrays too) replaces. Keys
 * are the client's: only own attributes are read and written, so `constructor` merges into data,
 * never into Object's function.
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete base[key];
    else setOwn(base, key, mergePatch(ownValue(base, key), value));
  }
  return base;
}
