/**
 * Gateway configuration: `conf/config.yaml` (every key documented there with its default), then
 * environment variables on top. An invalid config stops start-up with a message naming the key.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { parse as parseYaml } from 'yaml';
import { addressProblem } from './address.js';
import { isPrototypeKey, ownValue, setOwn } from './own.js';
import { compile } from './schema.js';
import { AttributeError, pluginAttributes, type AttributeOwner } from './plugin-attr.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** A relay secret shorter than this is refused (core/relay/relay.ts). */
export const MIN_RELAY_SECRET = 32;

/** More worker processes than this is a typo, not a machine. */
export const MAX_WORKERS = 256;

const listen = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]*):[0-9]{1,5}$' } as const;
const seconds = { type: 'number', exclusiveMinimum: 0 } as const;

const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    gateway: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        listen: { ...listen, default: '0.0.0.0:9080' },
        // `auto`: one per core the process may use (os.availableParallelism), resolved at load.
        workers: {
          description: 'Data-plane processes (node:cluster when above 1); `auto` is resolved at load to the core count.',
          anyOf: [{ type: 'integer', minimum: 1, maximum: MAX_WORKERS }, { const: 'auto' }],
          default: 1,
        },
        data_dir: { type: 'string', minLength: 1, default: './data' },
        trusted_proxies: { type: 'array', items: { type: 'string' }, default: [] },
        // nginx's real_ip_header: the header a trusted proxy names the client in.
        real_ip_header: { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", default: 'X-Forwarded-For' },
      },
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        listen: { ...listen, default: '127.0.0.1:9180' },
        key: { type: 'string', default: '' },
        keys: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'key', 'role'],
            properties: {
              name: { type: 'string', minLength: 1 },
              key: { type: 'string', minLength: 16 },
              role: { enum: ['admin', 'viewer'] },
            },
          },
        },
        allow: { type: 'array', items: { type: 'string' }, default: ['127.0.0.0/24', '::1/128'] },
        max_body_bytes: { type: 'integer', minimum: 1024, default: 1572864 },
        cors: { type: 'boolean', default: true },
        ui: { type: 'boolean', default: true, description: 'Serve the dashboard at `/ui/` on this listener.' },
      },
    },
    status: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        listen: { ...listen, default: '127.0.0.1:7085' },
      },
    },
    catalog: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        backend: { enum: ['embedded', 'redis'], default: 'embedded' },
        file: { type: 'string', minLength: 1, default: 'catalog.json' },
        poll_interval: { ...seconds, default: 1 },
        restore_on_reset: { type: 'boolean', default: true },
      },
    },
    redis: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' },
        key_prefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', default: 'tollgate' },
        command_timeout: { ...seconds, default: 0.2 },
        connect_timeout: { ...seconds, default: 1 },
        catalog_command_timeout: { ...seconds, default: 5 },
        cluster: { type: 'boolean', default: false, description: '`url` names Redis Cluster nodes (comma-separated).' },
      },
    },
    relay: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Requests for an MCP session another process owns are relayed to it (core/relay).',
      properties: {
        listen: { ...listen, default: '127.0.0.1:0', description: "Each process's relay listener; port 0: a free port of its own." },
        advertise: {
          type: 'string',
          pattern: '^[^\\s/:]*$|^\\[[0-9a-fA-F:.]+\\]$',
          default: '',
          description: 'The host other instances reach the relay listener at; empty: the listen host, or the first non-loopback address.',
        },
        secret: { type: 'string', default: '', description: 'Signs relayed requests; the same on every instance, at least 32 characters.' },
        owner_ttl: { ...seconds, default: 10, description: "Seconds an instance's registration lives without renewal." },
        connect_timeout: { ...seconds, default: 1, description: "Seconds to connect to a session's owner before it counts as gone." },
        max_connections: { type: 'integer', minimum: 1, default: 256, description: 'Connections a process keeps open to each session owner at most; relayed requests beyond them wait for one.' },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_body_bytes: { type: 'integer', minimum: 0, default: 8388608 },
        max_header_bytes: { type: 'integer', minimum: 1024, default: 16384 },
        max_headers: { type: 'integer', minimum: 1, default: 100 },
        max_connections: { type: 'integer', minimum: 1, default: 10000 },
        max_regex_program: { type: 'integer', minimum: 16, default: 500 },
      },
    },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        headers: { ...seconds, default: 15 },
        request_body_idle: { ...seconds, default: 30 },
        keep_alive: { ...seconds, default: 5 },
        shutdown: { ...seconds, default: 10 },
      },
    },
    upstream: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        timeout: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            connect: { ...seconds, default: 6 },
            send: { ...seconds, default: 60 },
            read: { ...seconds, default: 60 },
          },
        },
        keepalive_connections: { type: 'integer', minimum: 1, default: 128 },
        keepalive_timeout: { ...seconds, default: 60 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
      },
    },
    access_log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        // Empty: stdout. A file is opened for appending (created with its directory).
        path: { type: 'string', default: '' },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        listen: { ...listen, default: '127.0.0.1:9091' },
        path: { type: 'string', pattern: '^/', default: '/apisix/prometheus/metrics' },
        process_metrics: { type: 'boolean', default: true },
        max_tool_names: { type: 'integer', minimum: 1, default: 100 },
        names: { enum: ['tollgate', 'apisix'], default: 'tollgate' },
      },
    },
    plugins: {
      anyOf: [{ type: 'array', items: { type: 'string', minLength: 1 } }, { type: 'null' }],
      default: null,
    },
    plugin_dirs: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
    plugin_attr: {
      description: "Plugins' gateway-wide attributes (APISIX's plugin_attr), by plugin name: what each plugin's `attributes.schema` allows, checked and defaulted for the plugins the config was loaded for.",
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[a-z][a-z0-9]*(-[a-z0-9]+)*$' },
      additionalProperties: { type: 'object' },
    },
  },
} as const;

/**
 * The config as the file may write it, derived from the schema (json-schema-to-ts keeps the schema
 * the plain JSON Schema ajv validates; fields with a default are present, as ajv fills them in).
 */
export type ConfigFile = FromSchema<typeof configSchema>;

/** The loaded config: the file's, with `workers: auto` resolved to a number. */
export type GatewayConfig = ConfigFile & { gateway: { workers: number } };

export type AdminKeyConfig = GatewayConfig['admin']['keys'][number];

const validateConfig = compile<ConfigFile>(configSchema);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Environment variable → config path. Values are strings; numbers and lists are converted. */
const ENV_OVERRIDES: ReadonlyArray<[string, string[], 'string' | 'integer' | 'list' | 'boolean']> = [
  ['TOLLGATE_LISTEN', ['gateway', 'listen'], 'string'],
  ['TOLLGATE_WORKERS', ['gateway', 'workers'], 'integer'],
  ['TOLLGATE_DATA_DIR', ['gateway', 'data_dir'], 'string'],
  ['TOLLGATE_ADMIN_LISTEN', ['admin', 'listen'], 'string'],
  ['TOLLGATE_ADMIN_KEY', ['admin', 'key'], 'string'],
  ['TOLLGATE_STATUS_LISTEN', ['status', 'listen'], 'string'],
  ['TOLLGATE_CATALOG', ['catalog', 'backend'], 'string'],
  ['TOLLGATE_REDIS_URL', ['redis', 'url'], 'string'],
  ['TOLLGATE_REDIS_CLUSTER', ['redis', 'cluster'], 'boolean'],
  ['TOLLGATE_RELAY_LISTEN', ['relay', 'listen'], 'string'],
  ['TOLLGATE_RELAY_ADVERTISE', ['relay', 'advertise'], 'string'],
  ['TOLLGATE_RELAY_SECRET', ['relay', 'secret'], 'string'],
  ['TOLLGATE_LOG_LEVEL', ['log', 'level'], 'string'],
  ['TOLLGATE_METRICS_LISTEN', ['metrics', 'listen'], 'string'],
  ['TOLLGATE_METRICS_NAMES', ['metrics', 'names'], 'string'],
  ['TOLLGATE_ACCESS_LOG', ['access_log', 'enabled'], 'boolean'],
];

type EnvOverride = (typeof ENV_OVERRIDES)[number];

/** The environment variables the config reads (the core's, and those the given plugins' attributes declare), with the key each sets. */
export function environmentVariables(plugins: readonly AttributeOwner[] = []): Array<{ name: string; key: string }> {
  return [...ENV_OVERRIDES, ...attributeEnv(plugins)].map(([name, path]) => ({ name, key: path.join('.') }));
}

/** Each plugin's `attributes.env`: a variable setting `plugin_attr.<plugin>.<attribute>`, converted by the attribute's type. */
function attributeEnv(plugins: readonly AttributeOwner[]): EnvOverride[] {
  return plugins.flatMap(({ name, attributes }) =>
    Object.entries(attributes?.env ?? {}).map(([variable, attribute]): EnvOverride => {
      const type = ((attributes!.schema.properties as Record<string, { type?: unknown }> | undefined)?.[attribute]?.type ?? 'string') as string;
      const kind = type === 'array' ? 'list' : type === 'integer' || type === 'boolean' ? type : 'string';
      return [variable, ['plugin_attr', name, attribute], kind];
    }),
  );
}

export interface LoadConfigOptions {
  /** YAML file; absent means the defaults alone. */
  file?: string;
  /** Overrides applied after the file and before the environment (tests use this). */
  overrides?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /**
   * The plugins the config is loaded for: their attributes (`plugin_attr.<name>`) are checked and
   * defaulted now, their `attributes.section` is read as `plugin_attr.<name>`, their
   * `attributes.env` variables apply. Without them, `plugin_attr` is kept as written.
   */
  plugins?: readonly AttributeOwner[];
}

export function loadConfig(options: LoadConfigOptions = {}): GatewayConfig {
  let raw: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${options.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${options.file} must hold a mapping`);
  }
  if (options.overrides) raw = mergeConfig(raw, options.overrides);
  const plugins = options.plugins ?? [];
  readAttributeSections(raw, plugins);
  applyEnv(raw, options.env ?? process.env, [...ENV_OVERRIDES, ...attributeEnv(plugins)]);

  const file = validateConfig.parse(raw);
  if (typeof file === 'string') throw new ConfigError(`invalid config: ${file.replace('property "', 'key "').replace(/"\/([^"]*)"/, (_m, p: string) => `"${p.replaceAll('/', '.')}"`)}`);
  const config = resolveWorkers(file);
  checkSemantics(config);
  for (const plugin of plugins) {
    try {
      const attributes = pluginAttributes(config, plugin);
      if (plugin.attributes) config.plugin_attr[plugin.name] = { ...attributes };
    } catch (err) {
      if (err instanceof AttributeError) throw new ConfigError(`invalid config: ${err.message}`);
      throw err;
    }
  }
  return config;
}

/**
 * A plugin's `attributes.section` (a top-level key, such as `mcp:`) read as `plugin_attr.<name>`:
 * merged under what `plugin_attr.<name>` says itself, then removed.
 */
function readAttributeSections(raw: Record<string, unknown>, plugins: readonly AttributeOwner[]): void {
  for (const { name, attributes } of plugins) {
    const section = attributes?.section;
    if (section === undefined || !Object.hasOwn(raw, section)) continue;
    const value = ownValue(raw, section);
    delete raw[section];
    if (!isPlainObject(value)) throw new ConfigError(`invalid config: key "${section}" must be a mapping (it is plugin_attr.${name})`);
    const attrs = ownValue(raw, 'plugin_attr');
    const current = isPlainObject(attrs) ? attrs : {};
    setPath(raw, ['plugin_attr'], mergeConfig(current, { [name]: mergeConfig(value, isPlainObject(ownValue(current, name)) ? (ownValue(current, name) as Record<string, unknown>) : {}) }));
  }
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, overrides: readonly EnvOverride[]): void {
  for (const [name, path, kind] of overrides) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let parsed: unknown = value;
    if (kind === 'integer' && /^\d+$/.test(value)) parsed = Number(value);
    if (kind === 'list') parsed = value.split(',').map((s) => s.trim()).filter(Boolean);
    // Anything else stays a string, which the schema then refuses with the key's name.
    if (kind === 'boolean' && /^(true|on|1)$/i.test(value)) parsed = true;
    if (kind === 'boolean' && /^(false|off|0)$/i.test(value)) parsed = false;
    setPath(raw, path, parsed);
  }
}

function resolveWorkers(file: ConfigFile): GatewayConfig {
  const { workers } = file.gateway;
  return { ...file, gateway: { ...file.gateway, workers: workers === 'auto' ? Math.min(availableParallelism(), MAX_WORKERS) : workers } };
}

function checkSemantics(config: GatewayConfig): void {
  if (config.relay.secret !== '' && config.relay.secret.length < MIN_RELAY_SECRET) {
    throw new ConfigError(`invalid config: key "relay.secret": at least ${MIN_RELAY_SECRET} characters (it lets a request act as any client of any instance)`);
  }
  for (const key of ['gateway.listen', 'admin.listen', 'status.listen', 'metrics.listen', 'relay.listen'] as const) {
    const [section, field] = key.split('.') as [keyof GatewayConfig, string];
    try {
      parseListen((config[section] as Record<string, string>)[field]);
    } catch (err) {
      throw new ConfigError(`invalid config: key "${key}": ${(err as Error).message}`);
    }
  }
  const addressLists: Array<[string, readonly string[]]> = [
    ['gateway.trusted_proxies', config.gateway.trusted_proxies],
    ['admin.allow', config.admin.allow],
  ];
  for (const [key, entries] of addressLists) {
    entries.forEach((entry, i) => {
      const problem = addressProblem(entry);
      if (problem) throw new ConfigError(`invalid config: key "${key}[${i}]": ${problem}`);
    });
  }
}

/** `host:port` or `[v6]:port` → parts; port 0 means "pick a free port" (tests). */
export function parseListen(value: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  if (!match) throw new Error(`"${value}" is not host:port`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** The inverse of parseListen: `host:port`, `[v6]:port`. */
export function formatListen(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export function resolveDataPath(config: GatewayConfig, file: string): string {
  const dir = resolve(config.gateway.data_dir);
  return isAbsolute(file) ? file : resolve(dir, file);
}

/** Walks own keys only; a missing or non-object section becomes an own `{}`. */
function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const child = ownValue(node, key);
    const section = isPlainObject(child) ? child : {};
    if (section !== child) setOwn(node, key, section);
    node = section;
  }
  setOwn(node, path[path.length - 1], value);
}

/**
 * `extra` merged over `base` (objects merge, anything else replaces), as config overrides are
 * applied. A key that names prototype machinery is refused: `{"__proto__": {...}}` would
 * otherwise hand the whole config a prototype whose keys the schema never sees.
 */
export function mergeConfig(base: Record<string, unknown>, extra: Record<string, unknown>, at = ''): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    if (isPrototypeKey(key)) throw new ConfigError(`invalid config: key "${at}${key}" is not allowed`);
    const current = ownValue(out, key);
    setOwn(out, key, isPlainObject(value) ? mergeConfig(isPlainObject(current) ? current : {}, value, `${at}${key}.`) : value);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
