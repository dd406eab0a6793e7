/**
 * Validation of an Admin API write, before anything is stored: the resource schema (defaults
 * filled), APISIX's semantic rules, references to other resources, and every plugin config
 * against its plugin's schema. A bad body never changes the catalog.
 */
import { findClaimHolder } from '../core/catalog/claims.js';
import type { CatalogSnapshot, RecordRef, ResourceKind, UniqueClaim } from '../core/catalog/types.js';
import { ownValue, setOwn } from '../core/own.js';
import type { PluginRegistry } from '../core/registry.js';
import { compile, type Validator } from '../core/schema.js';
import { recordProblem } from '../routes/checks.js';
import { catalogClaims, catalogReferences } from '../routes/integrity.js';
import { RESOURCE_SCHEMAS, SINGULAR } from '../routes/schemas.js';

const VALIDATORS = Object.fromEntries(
  Object.entries(RESOURCE_SCHEMAS).map(([kind, schema]) => [kind, compile(schema)]),
) as Record<Exclude<ResourceKind, 'plugin_metadata'>, Validator>;

export type Validated = { value: Record<string, unknown> } | { error: string };

export interface ValidationContext {
  registry: PluginRegistry;
  snapshot: CatalogSnapshot;
}

export function validateResource(kind: ResourceKind, id: string, body: Record<string, unknown>, context: ValidationContext): Validated {
  if (Object.hasOwn(body, 'create_time') || Object.hasOwn(body, 'update_time')) {
    return { error: 'invalid configuration: create_time and update_time are set by the server' };
  }
  if (kind === 'plugin_metadata') {
    const { id: _ignored, ...value } = body;
    const error = context.registry.validate(id, value, 'metadata');
    return error ? { error } : { value: { ...value, id } };
  }
  const value = structuredClone(body);
  if (kind === 'consumers') value.username ??= id;
  else value.id = id;
  const schemaError = VALIDATORS[kind](value);
  if (schemaError) return { error: `invalid configuration: ${schemaError}` };
  if (typeof value.id === 'number') value.id = String(value.id);

  const semantic = checkSemantics(kind, value, context);
  if (semantic) return { error: semantic };
  const pluginError = checkPlugins(kind, value.plugins, context.registry);
  if (pluginError) return { error: kind === 'consumers' ? `invalid plugins configuration: ${pluginError}` : pluginError };
  const duplicate = duplicateClaim(kind, id, value, context);
  if (duplicate) return { error: duplicate };
  return { value };
}

function checkSemantics(kind: ResourceKind, value: Record<string, unknown>, { snapshot }: ValidationContext): string | undefined {
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
  for (const field of ['upstream_id', 'service_id', 'plugin_config_id']) {
    if (value[field] !== undefined) value[field] = String(value[field]);
  }
  // An early answer from this gateway's snapshot; the catalog checks again in its write step.
  const missing = catalogReferences(kind, value).find((ref) => !snapshot.get(ref.kind, ref.id));
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

/**
 * A credential another consumer holds, or a plugin another global rule holds; the catalog checks
 * again atomically when it writes.
 */
function duplicateClaim(kind: ResourceKind, id: string, value: Record<string, unknown>, { registry, snapshot }: ValidationContext): string | undefined {
  const claimsOf = catalogClaims(registry);
  const found = findClaimHolder(snapshot, kind, id, claimsOf(kind, value), claimsOf);
  return found && duplicateMessage(kind, found.claim, found.holder);
}

/** APISIX's words for a duplicate credential or global rule plugin, whichever step found it. */
export function duplicateMessage(kind: ResourceKind, claim: UniqueClaim, holder: string): string {
  if (kind === 'global_rules') return `plugin '${claim.value}' already exists in global rule with id '${holder}'`;
  return `${kind === 'consumers' ? 'invalid plugins configuration' : 'invalid configuration'}: duplicate ${claim.label} found with ${SINGULAR[kind]}: ${holder}`;
}

/** APISIX's words for a DELETE of a record another still uses (refused without `?force=true`). */
export function inUseMessage(target: RecordRef, user: RecordRef): string {
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
