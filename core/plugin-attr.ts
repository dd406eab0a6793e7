/**
 * Plugin attributes (APISIX's `plugin_attr`): a plugin's gateway-wide settings, written in
 * conf/config.yaml under `plugin_attr.<plugin name>`. The plugin declares their schema
 * (`attributes.schema`); the core checks them — when the config is loaded for the plugins it is
 * told about, and when a custom plugin loads — and fills their defaults. The core never knows what
 * they mean.
 *
 * A plugin may also declare a top-level section that is read as its attributes (`section`: an
 * older spelling kept working, such as `mcp:` for mcp-bridge) and environment variables that set
 * one attribute each (`env`).
 */
import type { GatewayConfig } from './config.js';
import { compile, type JsonSchema } from './schema.js';

export interface PluginAttributes {
  /** JSON Schema of `plugin_attr.<name>` (an object; defaults are filled in). */
  readonly schema: JsonSchema;
  /** A top-level section of conf/config.yaml read as `plugin_attr.<name>` too (`plugin_attr` wins per key). */
  readonly section?: string;
  /** Environment variable → the attribute it sets (a list attribute takes comma-separated values). */
  readonly env?: Readonly<Record<string, string>>;
}

/** What declares attributes: a plugin, or anything shaped like one. */
export interface AttributeOwner {
  readonly name: string;
  readonly attributes?: PluginAttributes;
}

/** Why a plugin's attributes cannot be used, naming the key (`plugin_attr.mcp-bridge.max_children`). */
export class AttributeError extends Error {
  override name = 'AttributeError';
}

const resolved = new WeakMap<object, Map<string, Readonly<Record<string, unknown>>>>();

/**
 * `plugin_attr.<owner.name>` of `config`, checked against the owner's schema with its defaults
 * filled (cached per config object: a config is never changed once loaded). Throws an
 * AttributeError naming the key when it does not pass.
 */
export function pluginAttributes<T = Readonly<Record<string, unknown>>>(config: Readonly<Pick<GatewayConfig, 'plugin_attr'>>, owner: AttributeOwner): T {
  let byName = resolved.get(config);
  const cached = byName?.get(owner.name);
  if (cached) return cached as T;
  const declared = owner.attributes;
  const raw = config.plugin_attr?.[owner.name];
  if (!declared) {
    if (raw !== undefined) throw new AttributeError(`key "plugin_attr.${owner.name}": plugin ${owner.name} takes no attributes`);
    return {} as T;
  }
  const value = structuredClone(raw ?? {}) as Record<string, unknown>;
  const error = compile(declared.schema)(value);
  if (error) {
    const key = (path: string) => ['plugin_attr', owner.name, ...path.split('/').filter(Boolean)].join('.');
    throw new AttributeError(error.replace(/^property "\/?([^"]*)"/, (_m, path: string) => `key "${key(path)}"`));
  }
  if (!byName) {
    byName = new Map();
    resolved.set(config, byName);
  }
  byName.set(owner.name, Object.freeze(value));
  return value as T;
}
