/**
 * Records of the kinds plugins define (core/plugin.ts `resources`: mcp-bridge's mcp_servers),
 * checked the way the route model checks its own: APISIX's common fields (`id`, `name`, `desc`,
 * `labels`, timestamps) and the plugin's schema, defaults filled, then the plugin's own checks.
 * The Admin API runs this on writes, the route table on what it hands plugins.
 */
import type { PluginResourceKind } from '../core/catalog/types.js';
import type { ResourceDefinition } from '../core/plugin.js';
import type { CheckStage, PluginRegistry } from '../core/registry.js';
import { compile, type JsonSchema, type Validator } from '../core/schema.js';
import { common } from './schemas.js';

const validators = new WeakMap<ResourceDefinition, Validator>();

/** The record's schema as the Admin API serves it: the plugin's, with APISIX's common fields. */
export function pluginResourceSchema(definition: ResourceDefinition): JsonSchema {
  const own = (definition.schema.properties ?? {}) as Record<string, unknown>;
  return { ...definition.schema, properties: { ...common, ...own } };
}

/**
 * Why `value` (a record without its server timestamps; defaults are filled in place) cannot be a
 * `kind` record, in the Admin API's words; undefined when it can.
 */
export function pluginResourceProblem(registry: PluginRegistry, kind: PluginResourceKind, value: Record<string, unknown>, stage: CheckStage): string | undefined {
  const found = registry.resource(kind);
  if (!found) return `no loaded plugin defines ${kind}`;
  let validate = validators.get(found.definition);
  if (!validate) validators.set(found.definition, (validate = compile(pluginResourceSchema(found.definition))));
  const given = new Set(Object.keys(value));
  const error = validate(value);
  if (error) return `invalid configuration: ${error}`;
  const problem = registry.checkResource(kind, value, stage, given);
  return problem && `invalid configuration: ${problem}`;
}
