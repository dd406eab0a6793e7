/**
 * Secret masking for the viewer role: a viewer may read every resource but not the secrets in
 * plugin configs. Which fields are secret is the plugins' to say, in their schemas
 * (`writeOnly: true`: key-auth `key`, jwt-auth `secret`, `redis_password` …); nothing here names a
 * plugin.
 */
import type { ResourceKind } from '../core/catalog/types.js';
import { ownValue } from '../core/own.js';
import type { PluginRegistry } from '../core/registry.js';
import type { JsonSchema } from '../core/schema.js';

export const MASK = '******';

/** A copy of a resource's value with every secret in its plugin configs replaced by MASK. */
export function maskSecrets(kind: ResourceKind, id: string, value: Record<string, unknown>, registry: PluginRegistry): Record<string, unknown> {
  if (kind === 'plugin_metadata') return maskWith(registry.schemaOf(id, 'metadata'), value) as Record<string, unknown>;
  // A record written straight into the store may be anything: mask what is there, fail on nothing.
  const plugins = ownValue(value, 'plugins');
  if (typeof plugins !== 'object' || plugins === null) return value;
  // fromEntries defines own keys: a stored `__proto__` plugin name stays data, not a prototype.
  const masked = Object.fromEntries(
    Object.entries(plugins).map(([name, conf]) => {
      const auth = (kind === 'consumers' || kind === 'credentials') && registry.get(name)?.type === 'auth';
      return [name, maskWith(registry.schemaOf(name, auth ? 'consumer' : 'route'), conf)];
    }),
  );
  return { ...value, plugins: masked };
}

function maskWith(schema: JsonSchema | undefined, value: unknown): unknown {
  if (!schema || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const items = schema.items as JsonSchema | undefined;
    return items ? value.map((item) => maskWith(items, item)) : value;
  }
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [field, fieldSchema] of Object.entries(properties)) {
    if (!Object.hasOwn(out, field)) continue;
    out[field] = fieldSchema.writeOnly === true ? MASK : maskWith(fieldSchema, out[field]);
  }
  return out;
}
