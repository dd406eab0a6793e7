/**
 * The set of loaded plugins. Registration is where a plugin is held to the contract: a kebab-case
 * name, a unique priority, only known phases, schemas that compile. Each plugin's schemas are
 * compiled once, with APISIX's injected `_meta` (disable, priority) on the route schema.
 */
import { ERROR_CODE_PATTERN, type ErrorCode } from './errors.js';
import { isPrototypeKey } from './own.js';
import { AttributeError, pluginAttributes } from './plugin-attr.js';
import { PHASES, type Plugin, type ResourceChecks, type ResourceDefinition } from './plugin.js';
import { isPluginResourceKind, type PluginResourceKind, type RecordRef } from './catalog/types.js';
import type { GatewayConfig } from './config.js';
import { compile, compileOnUse, type JsonSchema, type Validator } from './schema.js';

/**
 * `now`: a schema that does not compile is a PluginLoadError at once; `on-use`: compiled on its
 * first validation (core/schema.ts, compileOnUse), for plugins whose schemas are known to compile.
 */
type CompileWhen = 'now' | 'on-use';

export type ConfKind = 'route' | 'consumer' | 'metadata';
/** `write`: an Admin API write, every check; `load`: a stored config, without `checkOnWrite`. */
export type CheckStage = 'write' | 'load';

export interface PluginMeta {
  disable?: boolean;
  priority?: number;
}

const META_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description: 'Per-instance settings: `disable` skips the plugin, `priority` reorders this instance.',
  properties: {
    disable: { type: 'boolean' },
    priority: { type: 'integer' },
  },
};

const INJECTED_MARK = 'this is a mark for our injected plugin schema';

const CONTRACT_KEYS = new Set<string>([
  'name',
  'version',
  'priority',
  'description',
  'errors',
  'attributes',
  'type',
  'schema',
  'consumerSchema',
  'metadataSchema',
  'credentials',
  'checkConf',
  'checkOnWrite',
  'checkWithMetadata',
  'checkWithOthers',
  'companionPaths',
  'serveCompanion',
  'checkConsumerConf',
  'mergeConsumerConf',
  'credentialField',
  'resources',
  'references',
  'observesOnly',
  'init',
  'destroy',
  'create',
  'requestOptions',
  'renderError',
  'filtersBody',
  ...PHASES,
]);

/** A plugin's error table: codes spelled `GW_<AREA>_<WHAT>`, each row built by defineErrors. */
function checkErrors(errors: unknown, where: string): void {
  if (typeof errors !== 'object' || errors === null) throw new PluginLoadError(`${where}: errors must be a table made by defineErrors`);
  for (const [key, row] of Object.entries(errors)) {
    const entry = row as Partial<ErrorCode> | undefined;
    if (!ERROR_CODE_PATTERN.test(key) || entry?.code !== key || typeof entry.error !== 'function' || !Number.isInteger(entry.status)) {
      throw new PluginLoadError(`${where}: errors.${key} is not a code of a defineErrors table (codes are GW_<AREA>_<WHAT>)`);
    }
  }
}

const UNCHECKED_RESOURCES: ResourceChecks = { upstream: () => undefined };

export class PluginLoadError extends Error {
  override name = 'PluginLoadError';
}

interface Entry {
  plugin: Plugin;
  route: Validator;
  consumer?: Validator;
  metadata?: Validator;
}

export class PluginRegistry {
  private readonly entries = new Map<string, Entry>();

  /**
   * `resources` checks what plugin configs embed of catalog resources; the composition root
   * passes the route model's. Without it (a registry built to hold plugins to the contract),
   * embedded resources are checked when a route using them is compiled.
   */
  constructor(
    private readonly config: Readonly<GatewayConfig>,
    private readonly resources: ResourceChecks = UNCHECKED_RESOURCES,
  ) {}

  /** Throws PluginLoadError naming what is wrong; the registry is unchanged on error. */
  register(plugin: Plugin): void {
    const entry = checkPlugin(plugin, this.list(), this.config, 'now');
    checkResourceKinds(plugin, this.list(), 'now');
    this.entries.set(plugin.name, entry);
  }

  /**
   * Replaces the whole set at once (a plugin reload). Every plugin must pass the contract against
   * the others; on any failure nothing changes. The loader checks plugins one by one first (with
   * `PluginRegistry.check`) so that one bad plugin falls back to its last good version.
   *
   * Schemas compile on first use here: the loader has compiled each custom plugin's (check), and
   * the built-ins' are compiled by the tests; a start compiles only the ones its routes use.
   */
  replaceAll(plugins: readonly Plugin[]): void {
    const next = new Map<string, Entry>();
    for (const plugin of plugins) {
      const placed = [...next.values()].map((e) => e.plugin);
      const existing = this.entries.get(plugin.name);
      if (existing?.plugin === plugin) {
        checkPriority(plugin, placed);
        if (placed.some((o) => o.name === plugin.name)) throw new PluginLoadError(`plugin "${plugin.name}": loaded twice`);
        next.set(plugin.name, existing);
      } else {
        next.set(plugin.name, checkPlugin(plugin, placed, this.config, 'on-use'));
      }
      checkResourceKinds(plugin, placed, 'on-use');
    }
    this.entries.clear();
    for (const [name, entry] of next) this.entries.set(name, entry);
  }

  /** Throws PluginLoadError unless `plugin` could join `others` (contract, schemas, unique name and priority). */
  static check(plugin: Plugin, others: readonly Plugin[], config?: Readonly<GatewayConfig>): void {
    checkPlugin(plugin, others, config, 'now');
    checkResourceKinds(plugin, others, 'now');
  }

  unregister(name: string): void {
    this.entries.delete(name);
  }

  get(name: string): Plugin | undefined {
    return this.entries.get(name)?.plugin;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Plugins sorted by priority, highest first (APISIX's `plugins/list` order). */
  list(): Plugin[] {
    return [...this.entries.values()].map((e) => e.plugin).sort((a, b) => b.priority - a.priority);
  }

  /** The definition of a resource kind a loaded plugin defines, and that plugin. */
  resource(kind: PluginResourceKind): { plugin: Plugin; definition: ResourceDefinition } | undefined {
    for (const { plugin } of this.entries.values()) {
      const definition = plugin.resources?.[kind];
      if (definition) return { plugin, definition };
    }
    return undefined;
  }

  /**
   * What a resource kind's plugin says of a schema-valid record beyond its schema (`check`, and at
   * write time `checkOnWrite`); undefined when nothing is wrong.
   */
  checkResource(kind: PluginResourceKind, value: Readonly<Record<string, unknown>>, stage: CheckStage, given: ReadonlySet<string>): string | undefined {
    const definition = this.resource(kind)?.definition;
    if (!definition) return undefined;
    return definition.check?.(value, this.config, given) ?? (stage === 'write' ? definition.checkOnWrite?.(value, this.config) : undefined);
  }

  /**
   * The records a `plugins` map refers to through its plugins' `references` (configs that do not
   * pass their schema, or that name a plugin not loaded, refer to nothing).
   */
  referencesOf(plugins: unknown): RecordRef[] {
    if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) return [];
    const refs: RecordRef[] = [];
    for (const [name, conf] of Object.entries(plugins)) {
      const entry = this.entries.get(name);
      if (!entry?.plugin.references) continue;
      const checked = structuredClone(conf);
      if (entry.route(checked) !== undefined) continue;
      refs.push(...entry.plugin.references(checked));
    }
    return refs;
  }

  /** The schema as the Admin API shows it (`_meta` included on route schemas). */
  schemaOf(name: string, kind: ConfKind): JsonSchema | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    return (kind === 'route' ? entry.route : kind === 'consumer' ? entry.consumer : entry.metadata)?.schema;
  }

  /**
   * Validates one plugin's config in place (defaults are filled) and returns an error message in
   * APISIX's words, or undefined.
   */
  validate(name: string, conf: unknown, kind: ConfKind, stage: CheckStage = 'write'): string | undefined {
    const entry = this.entries.get(name);
    if (!entry) return `unknown plugin [${name}]`;
    const validator = kind === 'route' ? entry.route : kind === 'consumer' ? entry.consumer : entry.metadata;
    const given = new Set(typeof conf === 'object' && conf !== null ? Object.keys(conf) : []);
    if (!validator) {
      return kind === 'consumer'
        ? `plugin ${name} cannot be configured on a consumer`
        : `plugin ${name} has no metadata`;
    }
    const error = validator(conf);
    if (error) return `failed to check the configuration of plugin ${name} err: ${error}`;
    if (kind === 'route' && entry.plugin.checkConf) {
      const semantic = entry.plugin.checkConf(conf, this.config, this.resources, given);
      if (semantic) return `failed to check the configuration of plugin ${name} err: ${semantic}`;
    }
    if (kind === 'route' && stage === 'write') {
      const refusal = this.writeRefusal(name, conf);
      if (refusal) return refusal;
    }
    if (kind === 'consumer' && entry.plugin.checkConsumerConf) {
      const semantic = entry.plugin.checkConsumerConf(conf, this.config);
      if (semantic) return `failed to check the configuration of plugin ${name} err: ${semantic}`;
    }
    return undefined;
  }

  /** What `checkOnWrite` says of a route config (one that passed `validate` on load), or undefined. */
  writeRefusal(name: string, conf: unknown): string | undefined {
    const refusal = this.entries.get(name)?.plugin.checkOnWrite?.(conf, this.config);
    return refusal && `failed to check the configuration of plugin ${name} err: ${refusal}`;
  }

  /** Validates a whole `plugins` map; at most one terminal (content) plugin per map. */
  validateMap(plugins: unknown, kind: ConfKind): string | undefined {
    if (plugins === undefined) return undefined;
    if (typeof plugins !== 'object' || plugins === null || Array.isArray(plugins)) return 'plugins must be an object';
    let content: string | undefined;
    for (const [name, conf] of Object.entries(plugins)) {
      const error = this.validate(name, conf, kind);
      if (error) return error;
      if (this.entries.get(name)!.plugin.content && !isDisabled(conf)) {
        if (content) return `plugins ${content} and ${name} both answer requests (content phase); use one`;
        content = name;
      }
    }
    return undefined;
  }
}

/** Holds a plugin to the contract and compiles its schemas; throws PluginLoadError naming the problem. */
function checkPlugin(plugin: Plugin, others: readonly Plugin[], config: Readonly<GatewayConfig> | undefined, when: CompileWhen): Entry {
  const where = `plugin ${JSON.stringify(plugin?.name ?? '?')}`;
  if (typeof plugin !== 'object' || plugin === null) throw new PluginLoadError('a plugin must be an object');
  if (typeof plugin.name !== 'string' || !/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(plugin.name)) {
    throw new PluginLoadError(`${where}: name must be kebab-case`);
  }
  // Plugin names are keys of every `plugins` map: `constructor` would be found in each of them.
  if (isPrototypeKey(plugin.name)) throw new PluginLoadError(`${where}: name is reserved`);
  if (others.some((o) => o.name === plugin.name)) throw new PluginLoadError(`${where}: already loaded`);
  if (typeof plugin.version !== 'string' || !plugin.version) throw new PluginLoadError(`${where}: version is required`);
  if (!Number.isInteger(plugin.priority)) throw new PluginLoadError(`${where}: priority must be an integer`);
  checkPriority(plugin, others);
  for (const key of Object.keys(plugin)) {
    if (!CONTRACT_KEYS.has(key)) {
      throw new PluginLoadError(`${where}: unknown property or phase "${key}" (phases: ${PHASES.join(', ')})`);
    }
  }
  for (const phase of PHASES) {
    if (plugin[phase] !== undefined && typeof plugin[phase] !== 'function') {
      throw new PluginLoadError(`${where}: phase ${phase} must be a function`);
    }
  }
  if (plugin.companionPaths !== undefined || plugin.serveCompanion !== undefined) {
    if (typeof plugin.companionPaths !== 'function' || typeof plugin.serveCompanion !== 'function') {
      throw new PluginLoadError(`${where}: companionPaths and serveCompanion are functions, declared together`);
    }
  }
  if (plugin.type !== undefined && plugin.type !== 'auth') throw new PluginLoadError(`${where}: type must be "auth"`);
  if (plugin.type === 'auth' && !plugin.consumerSchema) throw new PluginLoadError(`${where}: auth plugins need a consumerSchema`);
  if (plugin.credentials !== undefined && typeof plugin.credentials !== 'function') throw new PluginLoadError(`${where}: credentials must be a function`);
  // Logs redact what plugins declare: an auth plugin that does not say where its credentials are would have them logged.
  if (plugin.type === 'auth' && !plugin.credentials) {
    throw new PluginLoadError(`${where}: auth plugins must declare credentials(conf), the headers, query parameters and cookies they read credentials from`);
  }
  if (plugin.observesOnly !== undefined && typeof plugin.observesOnly !== 'boolean') throw new PluginLoadError(`${where}: observesOnly must be a boolean`);
  if (plugin.observesOnly && (plugin.content || plugin.type === 'auth' || plugin.credentials)) {
    throw new PluginLoadError(`${where}: observesOnly cannot be declared by a plugin that answers requests (content), authenticates or reads credentials`);
  }
  if (plugin.errors !== undefined) checkErrors(plugin.errors, where);
  if (plugin.attributes !== undefined && (typeof plugin.attributes !== 'object' || typeof plugin.attributes.schema !== 'object')) {
    throw new PluginLoadError(`${where}: attributes must be { schema, section?, env? }`);
  }
  if (config) {
    // plugin_attr.<name> is checked when the plugin loads: a custom plugin's, like a built-in's at start.
    try {
      pluginAttributes(config, plugin);
    } catch (err) {
      if (err instanceof AttributeError) throw new PluginLoadError(`${where}: invalid config: ${err.message}`);
      throw err;
    }
  }
  if (plugin.credentialField !== undefined) {
    const fields = (plugin.consumerSchema?.properties ?? {}) as Record<string, unknown>;
    if (plugin.type !== 'auth' || !(plugin.credentialField in fields)) {
      throw new PluginLoadError(`${where}: credentialField must name a consumerSchema property of an auth plugin`);
    }
  }
  return {
    plugin,
    route: compileOrThrow(where, 'schema', withMeta(plugin.schema, where), when),
    consumer: plugin.consumerSchema && compileOrThrow(where, 'consumerSchema', plugin.consumerSchema, when),
    metadata: plugin.metadataSchema && compileOrThrow(where, 'metadataSchema', plugin.metadataSchema, when),
  };
}

/** A plugin's resource definitions: known kinds, each defined by one plugin, schemas that compile, well-formed endpoints. */
function checkResourceKinds(plugin: Plugin, others: readonly Plugin[], when: CompileWhen): void {
  const where = `plugin ${JSON.stringify(plugin.name)}`;
  if (plugin.references !== undefined && typeof plugin.references !== 'function') throw new PluginLoadError(`${where}: references must be a function`);
  if (plugin.resources === undefined) return;
  if (typeof plugin.resources !== 'object' || plugin.resources === null) throw new PluginLoadError(`${where}: resources must be an object`);
  for (const [kind, definition] of Object.entries(plugin.resources)) {
    if (!isPluginResourceKind(kind)) throw new PluginLoadError(`${where}: resources: "${kind}" is not a kind a plugin may define`);
    const owner = others.find((o) => o !== plugin && o.name !== plugin.name && o.resources?.[kind]);
    if (owner) throw new PluginLoadError(`${where}: resources: ${kind} is already defined by ${owner.name}`);
    if (typeof definition !== 'object' || definition === null) throw new PluginLoadError(`${where}: resources.${kind} must be an object`);
    if (when === 'now') compileOrThrow(where, `resources.${kind}.schema`, definition.schema, when);
    for (const endpoint of definition.endpoints ?? []) {
      if ((endpoint.method !== 'GET' && endpoint.method !== 'DELETE') || typeof endpoint.handle !== 'function' || !/^[a-z_]+(\/(:?[a-z_]+))*$/.test(endpoint.path)) {
        throw new PluginLoadError(`${where}: resources.${kind}.endpoints: each needs method GET or DELETE, a path like "status" or "sessions/:session_id" and handle()`);
      }
    }
  }
}

function checkPriority(plugin: Plugin, others: readonly Plugin[]): void {
  const clash = others.find((o) => o !== plugin && o.priority === plugin.priority);
  if (clash) throw new PluginLoadError(`plugin ${JSON.stringify(plugin.name)}: priority ${plugin.priority} is already used by ${clash.name}`);
}

export function isDisabled(conf: unknown): boolean {
  return Boolean((conf as { _meta?: PluginMeta } | undefined)?._meta?.disable);
}

function withMeta(schema: JsonSchema, where: string): JsonSchema {
  if (typeof schema !== 'object' || schema === null) throw new PluginLoadError(`${where}: schema must be an object`);
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  if ('_meta' in properties) throw new PluginLoadError(`${where}: schema must not define _meta`);
  // APISIX marks the schemas it injects into so (tooling reads the mark: t/admin/plugins.t TEST 15).
  return { ...schema, $comment: INJECTED_MARK, properties: { ...properties, _meta: META_SCHEMA } };
}

function compileOrThrow(where: string, what: string, schema: JsonSchema, when: CompileWhen): Validator {
  if (when === 'on-use') return compileOnUse(schema);
  try {
    return compile(schema);
  } catch (err) {
    throw new PluginLoadError(`${where}: ${what} does not compile: ${(err as Error).message}`);
  }
}
