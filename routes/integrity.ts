/**
 * What the catalog keeps consistent inside each write's atomic step (core/catalog: claims.ts), as
 * the route model defines it. The composition root hands these to the catalog backend; the Admin
 * API uses them for an early answer.
 *
 * Unique claims: a consumer's credentials (routes/consumers.ts), and a global rule's plugins —
 * APISIX (3.15) lets a plugin appear in one global rule only, and merging drops a plugin named by
 * two: a key-auth dropped that way would leave every route open.
 */
import type { ClaimsOf, UniqueClaim } from '../core/catalog/types.js';
import { ownValue } from '../core/own.js';
import type { PluginRegistry } from '../core/registry.js';
import { credentialClaims } from './consumers.js';

export function catalogClaims(registry: PluginRegistry): ClaimsOf {
  const credentials = credentialClaims(registry);
  return (kind, value) => (kind === 'global_rules' ? globalRulePlugins(value) : credentials(kind, value));
}

function globalRulePlugins(value: Readonly<Record<string, unknown>>): UniqueClaim[] {
  const plugins = ownValue(value, 'plugins');
  if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) return [];
  return Object.keys(plugins).map((name) => ({ label: 'plugin', value: name }));
}
