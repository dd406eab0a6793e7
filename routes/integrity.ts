/**
 * What the catalog keeps consistent inside each write's atomic step (core/catalog: claims.ts), as
 * the route model defines it. The composition root hands these to the catalog backend; the Admin
 * API uses them for an early answer.
 *
 * Unique claims: consumers' keys, in their plugins and their credentials (routes/consumers.ts),
 * and a global rule's plugins —
 * APISIX (3.15) lets a plugin appear in one global rule only, and merging drops a plugin named by
 * two: a key-auth dropped that way would leave every route open.
 *
 * References (core/catalog/references.ts): a route's upstream_id, service_id and
 * plugin_config_id, a service's upstream_id, a consumer's group_id, a credential's consumer, and
 * what plugin configs name through their plugin's `references` (mcp-bridge's `server_id`; and
 * traffic-split's `upstream_id`, optional: it may be missing when written, and guards its
 * target against deletion all the same). A
 * write refers only to records that exist; a record something refers to is deleted only with
 * `force` — except a consumer, which takes its credentials with it (`catalogCascades`).
 */
import type { Cascades, ClaimsOf, RecordRef, Reference, ReferencesOf, ResourceKind, UniqueClaim } from '../core/catalog/types.js';
import { ownValue } from '../core/own.js';
import type { PluginRegistry } from '../core/registry.js';
import { credentialClaims, credentialOwner } from './consumers.js';

export function catalogClaims(registry: PluginRegistry): ClaimsOf {
  const credentials = credentialClaims(registry);
  return (kind, value) => (kind === 'global_rules' ? globalRulePlugins(value) : credentials(kind, value));
}

function globalRulePlugins(value: Readonly<Record<string, unknown>>): UniqueClaim[] {
  const plugins = ownValue(value, 'plugins');
  if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) return [];
  return Object.keys(plugins).map((name) => ({ label: 'plugin', value: name }));
}

const REFERENCE_FIELDS: Partial<Record<ResourceKind, ReadonlyArray<readonly [field: string, target: ResourceKind]>>> = {
  routes: [
    ['upstream_id', 'upstreams'],
    ['service_id', 'services'],
    ['plugin_config_id', 'plugin_configs'],
  ],
  services: [['upstream_id', 'upstreams']],
  consumers: [['group_id', 'consumer_groups']],
};

/** Deleting a consumer deletes its credentials (APISIX removes `/consumers/{username}/credentials/`). */
export const catalogCascades: Cascades = { consumers: ['credentials'] };

/** Read around records no write checked: only string or integer ids refer to anything. */
export function catalogReferences(registry: PluginRegistry): ReferencesOf {
  return (kind, value, id) => {
    if (kind === 'credentials') {
      const username = credentialOwner(id);
      return username === undefined ? [] : [{ kind: 'consumers', id: username }];
    }
    const refs: Reference[] = [];
    for (const [field, target] of REFERENCE_FIELDS[kind] ?? []) {
      const id = ownValue(value, field);
      if (typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id))) refs.push({ kind: target, id: String(id) });
    }
    refs.push(...registry.referencesOf(ownValue(value, 'plugins')));
    return refs;
  };
}

/** Whether `value` names `target` in a field of its own (not through a plugin's config). */
export function refersDirectly(kind: ResourceKind, value: Readonly<Record<string, unknown>>, target: RecordRef): boolean {
  return (REFERENCE_FIELDS[kind] ?? []).some(([field, targetKind]) => targetKind === target.kind && String(ownValue(value, field)) === target.id);
}
