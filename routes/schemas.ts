/**
 * JSON Schemas of the catalog resources, in APISIX Admin API v3 shapes. Plugin configs inside
 * `plugins` are validated separately, each against its own plugin's schema.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { compileOnUse, type JsonSchema, type Validator } from '../core/schema.js';
import type { ModelResourceKind, ResourceKind } from '../core/catalog/types.js';

export const ID_PATTERN = '^[a-zA-Z0-9-_.]+$';

export const idSchema = {
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 64, pattern: ID_PATTERN },
    { type: 'integer', minimum: 1 },
  ],
} as const;

const labels = {
  type: 'object',
  description: 'Free-form key/value labels, used by list filters (`?label=key:value`).',
  propertyNames: { type: 'string', pattern: '^\\S+$', maxLength: 256 },
  additionalProperties: { type: 'string', pattern: '^\\S+$', minLength: 1, maxLength: 256 },
} as const;

/** Set by the server (a write body carrying them is refused); in the schemas as APISIX has them. */
const timestamp = { type: 'integer' } as const;

/** APISIX's fields every resource has; a resource a plugin defines gets them too (routes/plugin-resources.ts). */
export const common = {
  id: idSchema,
  name: { type: 'string', minLength: 1, maxLength: 256 },
  desc: { type: 'string', maxLength: 256 },
  labels,
  create_time: timestamp,
  update_time: timestamp,
} as const;

const host = { type: 'string', pattern: '^\\*?[0-9a-zA-Z-._\\[\\]:]+$', maxLength: 255 } as const;
const hosts = { type: 'array', items: host, minItems: 1, uniqueItems: true } as const;
const remoteAddr = { type: 'string', pattern: '^[0-9a-fA-F:.]+(/[0-9]{1,3})?$' } as const;
/** Plugin name → plugin config; each config is checked against its plugin's schema. */
const plugins = { type: 'object' } as const;
const seconds = { type: 'number', exclusiveMinimum: 0 } as const;
const timeout = {
  type: 'object',
  description: 'Upstream timeouts in seconds.',
  additionalProperties: false,
  required: ['connect', 'send', 'read'],
  properties: { connect: seconds, send: seconds, read: seconds },
} as const;

const websocket = {
  type: 'boolean',
  description: 'Proxy WebSocket upgrades (`Upgrade: websocket`) to the upstream, which then carries the connection both ways; off, an upgrade request is proxied as a plain request. A route\'s value wins over its service\'s.',
} as const;

export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'] as const;

const nodeAddress = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$' } as const;

export const upstreamSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...common,
    type: { enum: ['roundrobin', 'chash', 'least_conn'], default: 'roundrobin' },
    nodes: {
      description: 'Either {"host:port": weight} or [{host, port, weight, priority}].',
      anyOf: [
        { type: 'object', propertyNames: nodeAddress, additionalProperties: { type: 'integer', minimum: 0 } },
        {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'weight'],
            properties: {
              host: { type: 'string', minLength: 1, pattern: '^[0-9a-zA-Z._:\\[\\]-]+$' },
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              weight: { type: 'integer', minimum: 0 },
              priority: { type: 'integer' },
              metadata: { type: 'object' },
            },
          },
        },
      ],
    },
    hash_on: { enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'], default: 'vars' },
    key: { type: 'string', description: 'For chash: the variable, header or cookie to hash on (not needed with hash_on consumer).' },
    retries: { type: 'integer', minimum: 0, description: 'Retries on connection failure; default: number of nodes - 1.' },
    retry_timeout: { type: 'number', minimum: 0, default: 0, description: 'Seconds; 0 means no limit.' },
    timeout,
    scheme: { enum: ['http', 'https'], default: 'http' },
    pass_host: { enum: ['pass', 'node', 'rewrite'], default: 'pass' },
    upstream_host: { type: 'string', pattern: '^[0-9a-zA-Z._:\\[\\]-]+$' },
    keepalive_pool: {
      type: 'object',
      additionalProperties: false,
      // No defaults here: an unset field falls back to the gateway's `upstream.*` settings.
      description: 'Connection pool per node; unset fields use upstream.keepalive_connections / keepalive_timeout of the gateway config.',
      properties: {
        size: { type: 'integer', minimum: 1, description: 'Connections kept per node.' },
        idle_timeout: { type: 'number', minimum: 0, description: 'Seconds an idle connection is kept.' },
        requests: { type: 'integer', minimum: 1, description: 'Requests per connection before it is replaced (default 1000).' },
      },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { verify: { type: 'boolean', default: true } },
    },
  },
  // A chash key (required but on the consumer, of the kind hash_on reads) is checked in checks.ts, with APISIX's words.
  required: ['nodes'],
} as const;

/** A route's fields; routeSchema adds which of them must be there. */
const routeFields = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...common,
    uri: { type: 'string', minLength: 1, maxLength: 4096 },
    uris: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 4096 }, minItems: 1, uniqueItems: true },
    methods: { type: 'array', items: { enum: METHODS }, uniqueItems: true },
    host,
    hosts,
    remote_addr: remoteAddr,
    remote_addrs: { type: 'array', items: remoteAddr, minItems: 1, uniqueItems: true },
    priority: { type: 'integer', default: 0 },
    vars: {
      type: 'array',
      description: 'A lua-resty-expr rule over request variables (`[["arg_v", "==", "2"], ["http_x_beta", "~~", "^on$"]]`): the route matches only when it holds (docs/expressions.md).',
    },
    plugins,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    service_id: idSchema,
    plugin_config_id: idSchema,
    timeout,
    status: { enum: [0, 1], default: 1, description: '0 disables the route.' },
    enable_websocket: websocket,
  },
} as const;

export const routeSchema = {
  ...routeFields,
  oneOf: [{ required: ['uri'] }, { required: ['uris'] }],
  anyOf: [
    { required: ['plugins'] },
    { required: ['upstream'] },
    { required: ['upstream_id'] },
    { required: ['service_id'] },
    { required: ['plugin_config_id'] },
  ],
} as const;

export const serviceSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...common,
    plugins,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    hosts,
    enable_websocket: websocket,
  },
} as const;

export const consumerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['username'],
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[a-zA-Z0-9_-]+$' },
    desc: common.desc,
    labels,
    create_time: timestamp,
    update_time: timestamp,
    plugins,
    group_id: { ...idSchema, description: 'A consumer group whose plugins this consumer runs, below its own.' },
  },
} as const;

/** APISIX's consumer group: plugins its consumers share (`id` and `plugins` required). */
export const consumerGroupSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['plugins'],
  properties: { ...common, plugins },
} as const;

export const globalRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['plugins'],
  properties: { id: idSchema, plugins, create_time: timestamp, update_time: timestamp },
} as const;

export const pluginConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['plugins'],
  properties: { ...common, plugins },
} as const;

/**
 * APISIX's credential: one more key of a consumer (`/consumers/{username}/credentials/{id}`), its
 * one auth plugin config validated against the plugin's consumer schema.
 */
export const credentialSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...common,
    plugins: { ...plugins, maxProperties: 1, description: 'One auth plugin → its consumer config (the credential).' },
  },
} as const;

/** plugin_metadata values are checked against the plugin's own metadataSchema. */
export const RESOURCE_SCHEMAS: Record<ModelResourceKind, JsonSchema> = {
  routes: routeSchema,
  services: serviceSchema,
  upstreams: upstreamSchema,
  consumers: consumerSchema,
  global_rules: globalRuleSchema,
  plugin_configs: pluginConfigSchema,
  consumer_groups: consumerGroupSchema,
  credentials: credentialSchema,
};

/**
 * Each resource as its schema describes it once validated (defaults filled in), derived from the
 * schema itself (json-schema-to-ts), so a field added to a schema is in its type.
 */
export interface Resources {
  // From the fields alone: routeSchema's oneOf/anyOf only say which must be present, and typing
  // their combinations multiplied the type-check's work by two and a half.
  routes: FromSchema<typeof routeFields>;
  services: FromSchema<typeof serviceSchema>;
  upstreams: FromSchema<typeof upstreamSchema>;
  consumers: FromSchema<typeof consumerSchema>;
  global_rules: FromSchema<typeof globalRuleSchema>;
  plugin_configs: FromSchema<typeof pluginConfigSchema>;
  consumer_groups: FromSchema<typeof consumerGroupSchema>;
  credentials: FromSchema<typeof credentialSchema>;
}

/**
 * Each resource's validator, compiled once for the whole gateway, on its first use
 * (core/schema.ts): the Admin API checks a write and the route table a stored record with the
 * same function (defaults filled in place).
 */
export const RESOURCE_VALIDATORS: { readonly [K in ModelResourceKind]: Validator<Resources[K]> } = {
  routes: compileOnUse(routeSchema),
  services: compileOnUse(serviceSchema),
  upstreams: compileOnUse(upstreamSchema),
  consumers: compileOnUse(consumerSchema),
  global_rules: compileOnUse(globalRuleSchema),
  plugin_configs: compileOnUse(pluginConfigSchema),
  consumer_groups: compileOnUse(consumerGroupSchema),
  credentials: compileOnUse(credentialSchema),
};

/** Singular names used in APISIX messages ("wrong route id"). */
export const SINGULAR: Record<ResourceKind, string> = {
  routes: 'route',
  services: 'service',
  upstreams: 'upstream',
  consumers: 'consumer',
  global_rules: 'global rule',
  plugin_configs: 'plugin config',
  plugin_metadata: 'plugin metadata',
  consumer_groups: 'consumer group',
  credentials: 'credential',
  mcp_servers: 'mcp server',
};
