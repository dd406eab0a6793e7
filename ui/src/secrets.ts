/**
 * Secrets stay masked on the page. The Admin API masks plugin secrets (fields a plugin's schema
 * marks `writeOnly`: key-auth's `key`, jwt-auth's `secret`…) for viewers only; the dashboard masks
 * them for admins too wherever it shows text — the JSON editor, lists — and puts the stored value
 * back when a masked one is saved unchanged, as the Admin API does for MCP servers. Forms show
 * them in password fields.
 */
import type { JsonSchema, PluginInfo } from './api.js';

export const MASK = '******';

type Plugins = Record<string, PluginInfo>;

/** The schema a plugin's config in `plugins` is checked against on this kind of record. */
export function pluginSchemaFor(name: string, info: Plugins, consumerPlugins: boolean): JsonSchema | undefined {
  const plugin = info[name];
  if (!plugin) return undefined;
  return consumerPlugins && plugin.type === 'auth' ? (plugin.consumer_schema ?? plugin.schema) : plugin.schema;
}

export function maskRecord(value: Record<string, any>, info: Plugins, consumerPlugins: boolean): Record<string, any> {
  return mapPlugins(value, info, consumerPlugins, (schema, conf) => maskWith(schema, conf));
}

/** `edited` with every MASK at a secret's place replaced by what `original` holds there. */
export function restoreRecord(edited: Record<string, any>, original: Record<string, any> | undefined, info: Plugins, consumerPlugins: boolean): Record<string, any> {
  return mapPlugins(edited, info, consumerPlugins, (schema, conf, name) => restoreWith(schema, conf, original?.plugins?.[name]));
}

function mapPlugins(value: Record<string, any>, info: Plugins, consumerPlugins: boolean, map: (schema: JsonSchema, conf: any, name: string) => any): Record<string, any> {
  const plugins = value?.plugins;
  if (!plugins || typeof plugins !== 'object') return value;
  const out: Record<string, any> = {};
  for (const [name, conf] of Object.entries(plugins)) {
    const schema = pluginSchemaFor(name, info, consumerPlugins);
    out[name] = schema ? map(schema, conf, name) : conf;
  }
  return { ...value, plugins: out };
}

function maskWith(schema: JsonSchema | undefined, value: any): any {
  if (!schema || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return schema.items ? value.map((v) => maskWith(schema.items, v)) : value;
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return value;
  const out = { ...value };
  for (const [field, fieldSchema] of Object.entries(properties)) {
    if (!(field in out)) continue;
    out[field] = fieldSchema.writeOnly === true ? MASK : maskWith(fieldSchema, out[field]);
  }
  return out;
}

function restoreWith(schema: JsonSchema | undefined, value: any, original: any): any {
  if (!schema || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return schema.items ? value.map((v, i) => restoreWith(schema.items, v, Array.isArray(original) ? original[i] : undefined)) : value;
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return value;
  const out = { ...value };
  for (const [field, fieldSchema] of Object.entries(properties)) {
    if (!(field in out)) continue;
    const before = original && typeof original === 'object' ? original[field] : undefined;
    if (fieldSchema.writeOnly === true) {
      if (out[field] === MASK && before !== undefined) out[field] = before;
    } else {
      out[field] = restoreWith(fieldSchema, out[field], before);
    }
  }
  return out;
}
