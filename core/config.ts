/**
 * Gateway configuration: `conf/config.yaml` (every key documented there with its default), then
 * environment variables on top. An invalid config stops start-up with a message naming the key.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { addressProblem } from './address.js';
import { isPrototypeKey, ownValue, setOwn } from './own.js';
import { compile } from './schema.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AdminKeyConfig {
  name: string;
  key: string;
  role: 'admin' | 'viewer';
}

export interface GatewayConfig {
  gateway: {
    listen: string;
    workers: number;
    data_dir: string;
    trusted_proxies: string[];
    real_ip_header: string;
  };
  admin: {
    enabled: boolean;
    listen: string;
    key: string;
    keys: AdminKeyConfig[];
    allow: string[];
    max_body_bytes: number;
    cors: boolean;
  };
  status: { enabled: boolean; listen: string };
  catalog: { backend: 'embedded' | 'redis'; file: string; poll_interval: number; restore_on_reset: boolean };
  redis: {
    url: string;
    key_prefix: string;
    command_timeout: number;
    connect_timeout: number;
    catalog_command_timeout: number;
  };
  limits: {
    max_body_bytes: number;
    max_header_bytes: number;
    max_headers: number;
    max_connections: number;
    max_regex_program: number;
  };
  timeouts: {
    headers: number;
    request_body_idle: number;
    keep_alive: number;
    shutdown: number;
  };
  upstream: {
    timeout: { connect: number; send: number; read: number };
    keepalive_connections: number;
    keepalive_timeout: number;
  };
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  access_log: { enabled: boolean; path: string };
  metrics: { enabled: boolean; listen: string; path: string; process_metrics: boolean; max_tool_names: number; names: 'tollgate' | 'apisix' };
  plugins: string[] | null;
  plugin_dirs: string[];
  mcp: {
    allowed_commands: string[];
    max_children: number;
    start_concurrency: number;
    start_queue: number;
    stop_stdin_wait: number;
    stop_term_wait: number;
    max_request_duration: number;
    resume_buffer_bytes: number;
    stderr_lines_per_minute: number;
  };
}

const listen = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]*):[0-9]{1,5}$' };
const seconds = { type: 'number', exclusiveMinimum: 0 };

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
        // One worker until node:cluster scale-out lands; the key exists so configs stay forward compatible.
        workers: { type: 'integer', minimum: 1, maximum: 1, default: 1 },
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
    mcp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowed_commands: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: ['node', 'npx', 'python3', 'uvx'],
        },
        max_children: { type: 'integer', minimum: 1, default: 32 },
        start_concurrency: { type: 'integer', minimum: 1, default: 8 },
        start_queue: { type: 'integer', minimum: 0, default: 128 },
        stop_stdin_wait: { ...seconds, default: 2 },
        stop_term_wait: { ...seconds, default: 3 },
        max_request_duration: { ...seconds, default: 600 },
        resume_buffer_bytes: { type: 'integer', minimum: 0, default: 1048576 },
        stderr_lines_per_minute: { type: 'integer', minimum: 0, default: 60 },
      },
    },
  },
};

const validateConfig = compile<GatewayConfig>(configSchema);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Environment variable → config path. Values are strings; numbers and lists are converted. */
const ENV_OVERRIDES: Array<[string, string[], 'string' | 'integer' | 'list' | 'boolean']> = [
  ['TOLLGATE_LISTEN', ['gateway', 'listen'], 'string'],
  ['TOLLGATE_WORKERS', ['gateway', 'workers'], 'integer'],
  ['TOLLGATE_DATA_DIR', ['gateway', 'data_dir'], 'string'],
  ['TOLLGATE_ADMIN_LISTEN', ['admin', 'listen'], 'string'],
  ['TOLLGATE_ADMIN_KEY', ['admin', 'key'], 'string'],
  ['TOLLGATE_STATUS_LISTEN', ['status', 'listen'], 'string'],
  ['TOLLGATE_CATALOG', ['catalog', 'backend'], 'string'],
  ['TOLLGATE_REDIS_URL', ['redis', 'url'], 'string'],
  ['TOLLGATE_LOG_LEVEL', ['log', 'level'], 'string'],
  ['TOLLGATE_METRICS_LISTEN', ['metrics', 'listen'], 'string'],
  ['TOLLGATE_METRICS_NAMES', ['metrics', 'names'], 'string'],
  ['TOLLGATE_ACCESS_LOG', ['access_log', 'enabled'], 'boolean'],
  ['TOLLGATE_MCP_ALLOWED_COMMANDS', ['mcp', 'allowed_commands'], 'list'],
];

export const ENVIRONMENT_VARIABLES = ENV_OVERRIDES.map(([name, path]) => ({ name, key: path.join('.') }));

export interface LoadConfigOptions {
  /** YAML file; absent means the defaults alone. */
  file?: string;
  /** Overrides applied after the file and before the environment (tests use this). */
  overrides?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
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
  applyEnv(raw, options.env ?? process.env);

  const error = validateConfig(raw);
  if (error) throw new ConfigError(`invalid config: ${error.replace('property "', 'key "').replace(/"\/([^"]*)"/, (_m, p: string) => `"${p.replaceAll('/', '.')}"`)}`);
  const config = raw as unknown as GatewayConfig;
  checkSemantics(config);
  return config;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, path, kind] of ENV_OVERRIDES) {
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

function checkSemantics(config: GatewayConfig): void {
  for (const key of ['gateway.listen', 'admin.listen', 'status.listen', 'metrics.listen'] as const) {
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
