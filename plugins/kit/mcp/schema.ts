/**
 * The route config of mcp-bridge: APISIX's three fields (`base_uri`, `command`, `args`) plus the
 * limits and guards a bridge needs, or `server_id` naming an MCP server of the catalog
 * (server-definition.ts), whose fields then replace the command, timeouts and session caps.
 * Durations are in seconds, sizes in bytes, as in config.yaml.
 */
import type { GatewayConfig } from '../../../core/config.js';
import { commandRefusal } from './command-policy.js';
import type { RemoteSettings } from './remote-upstream.js';
import { bridgeAttributes } from './attributes.js';

/** What a server runs with: its process (stdio) and its sessions' timeouts and caps; a route's or an MCP server record's (server-definition.ts). */
export interface ServerFields {
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** per-session: a child each; shared: sessions multiplexed over `shared_children` children (shared.ts). */
  process_mode?: 'per-session' | 'shared' | 'per-request';
  shared_children?: number;
  /** Children started and initialized ahead of demand (prewarm.ts). */
  prewarm?: number;
  session_idle_timeout: number;
  session_reclaim_idle: number;
  /** Unset: maxSessionsOf's default for the process mode. */
  max_sessions?: number;
  max_sessions_per_consumer: number;
  request_timeout: number;
  init_timeout: number;
}

export interface BridgeConf extends Partial<RemoteSettings>, ServerFields {
  base_uri: string;
  /** An MCP server of `/apisix/admin/mcp_servers`; then the server's fields below come from it. */
  server_id?: string | number;
  command: string;
  max_message_bytes: number;
  max_batch_messages: number;
  /** Resource URIs one MCP 2026-07-28 `subscriptions/listen`, and one pooled server for all its listeners, may watch (modern.ts). */
  max_resource_subscriptions: number;
  ping_interval: number;
  allowed_origins: string[];
  allowed_hosts: string[];
  /** Seconds a remote 2026-07-28 server's cacheable list may be served from the route's cache, at most (0: no cache). */
  list_cache_max_ttl?: number;
  list_cache_max_entries?: number;
  /** Bytes of JSON the route's cache holds, all entries together (list-cache.ts). */
  list_cache_max_bytes?: number;
}

/**
 * What the fronts and a session manager read of a route's config, whatever answers its sessions
 * (an MCP server, a federation of several): the client side, timeouts and session caps.
 */
export type SessionConf = Pick<
  BridgeConf,
  | 'base_uri'
  | 'max_message_bytes'
  | 'max_batch_messages'
  | 'max_resource_subscriptions'
  | 'ping_interval'
  | 'allowed_origins'
  | 'allowed_hosts'
  | 'session_idle_timeout'
  | 'session_reclaim_idle'
  | 'max_sessions'
  | 'process_mode'
  | 'max_sessions_per_consumer'
  | 'request_timeout'
  | 'init_timeout'
>;

/** max_sessions when the config does not set it: every session a child of its own. */
const DEFAULT_MAX_SESSIONS = 16;
/** ...and in process_mode shared, where sessions hold no child, only the gateway's bookkeeping of them. */
const SHARED_DEFAULT_MAX_SESSIONS = 256;

/**
 * The session cap of a route's or an MCP server's config. Not a schema default, because it
 * depends on process_mode: 16 sessions bound 16 children, while a shared pool exists to carry
 * many sessions on a few children (issue 16: 50 over 2).
 */
export function maxSessionsOf(conf: { max_sessions?: number; process_mode?: string }): number {
  return conf.max_sessions ?? (conf.process_mode === 'shared' ? SHARED_DEFAULT_MAX_SESSIONS : DEFAULT_MAX_SESSIONS);
}

const seconds = (fallback: number, description: string) => ({ type: 'number', exclusiveMinimum: 0, default: fallback, description });

/** Where a session cap counts: the route (inline command), or the MCP server whichever route opened its sessions. */
type Scope = 'route' | 'server';

/** The process of a stdio server: what to run and how. */
export const PROCESS_FIELDS = {
  command: {
    type: 'string',
    minLength: 1,
    description:
      'Executable of the stdio MCP server, started without a shell; it and its leading args must be allowed by mcp.allowed_commands of conf/config.yaml, and no interpreter option may run inline code (node -e, python3 -c…) unless an entry names it.',
  },
  args: {
    type: 'array',
    items: { type: 'string' },
    default: [],
    // Arguments carry tokens as often as env does: masked for the viewer role, never logged.
    writeOnly: true,
    description: 'Arguments, passed as they are (no shell, no expansion). Masked for the viewer role and left out of logs, like env.',
  },
  env: {
    type: 'object',
    additionalProperties: { type: 'string' },
    propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    default: {},
    writeOnly: true,
    description:
      "The child's environment, on top of PATH and HOME taken from the gateway. Nothing else of the gateway's environment reaches it.",
  },
  cwd: { type: 'string', minLength: 1, description: "Working directory of the child (default: the gateway's)." },
  process_mode: {
    enum: ['per-session', 'shared', 'per-request'],
    default: 'per-session',
    description:
      'per-session: each session has a child of its own (a server that keeps state per client stays correct). shared: sessions are multiplexed over shared_children children, ids and progress tokens rewritten, initialize answered from the cached result: for stateless servers, far fewer processes. per-request: like per-session for 2025-era sessions, and a fresh child for every MCP 2026-07-28 request, for servers that must not share state between requests.',
  },
  shared_children: {
    type: 'integer',
    minimum: 1,
    maximum: 64,
    default: 2,
    description: 'process_mode shared: how many children the sessions share; each counts against mcp.max_children.',
  },
  prewarm: {
    type: 'integer',
    minimum: 0,
    maximum: 64,
    default: 0,
    description:
      'Children started and initialized ahead of demand, so that a new session does not wait for a slow start; refilled in the background, counted against mcp.max_children. per-session: a Streamable HTTP session whose initialize asks the newest revision with no client capabilities takes one. shared: any value above 0 starts the shared children at once.',
  },
} as const;

/** How long a server may take, and how many sessions it may have. */
function sessionFields(scope: Scope) {
  const where = scope === 'route' ? 'on this route' : 'of this server on this gateway instance, whichever routes opened them';
  return {
    session_idle_timeout: seconds(600, 'A session with no request in flight and no open stream for this long ends, and its child is stopped.'),
    session_reclaim_idle: {
      type: 'number',
      minimum: 0,
      default: 1,
      description:
        'At a cap (max_sessions, max_sessions_per_consumer, mcp.max_children), the least recently active session idle for at least this long (no request in flight, no open stream) is ended to admit a new one, instead of refusing it; its id then answers 404. Sessions of clients that hold a stream open are never reclaimed.',
    },
    max_sessions: {
      type: 'integer',
      minimum: 1,
      description: `${
        scope === 'route'
          ? 'Live sessions on this route, and on the routes with the same hosts and an equal bridge config, which share its sessions'
          : `Live sessions ${where}`
      }; more get 503 with Retry-After. Default ${DEFAULT_MAX_SESSIONS} (each session a child), ${SHARED_DEFAULT_MAX_SESSIONS} with process_mode shared (sessions share the pool's children).`,
    },
    max_sessions_per_consumer: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: `Live sessions per authenticated consumer ${where} (0: no per-consumer cap); more get 503 with Retry-After.`,
    },
    request_timeout: seconds(
      60,
      'A request the server has not answered for this long gets a JSON-RPC timeout error, and the server gets notifications/cancelled. Progress notifications restart the clock, up to mcp.max_request_duration.',
    ),
    init_timeout: seconds(10, 'Time for the server to answer initialize; past it the session ends (504).'),
  };
}

/** What a route's bridge config holds besides an MCP server's fields: the client side. */
export const FRONT_FIELDS = {
  base_uri: {
    type: 'string',
    pattern: '^(/[^?#]*[^/?#])?$',
    default: '',
    description:
      'Path prefix of the MCP endpoints, without a trailing slash: {base_uri}/mcp (Streamable HTTP), {base_uri}/sse and {base_uri}/message (legacy HTTP+SSE). Usually the route uri without its "/*".',
  },
  max_message_bytes: {
    type: 'integer',
    minimum: 1024,
    default: 1048576,
    description: 'Largest JSON-RPC message either way: a bigger request body gets 413; a longer line from the server ends its session.',
  },
  max_batch_messages: {
    type: 'integer',
    minimum: 1,
    default: 100,
    description:
      "Most messages in one JSON-RPC batch (MCP 2025-03-26 sessions only; later revisions have no batches). Every message of a batch passes the route's access phase (limits, access rules) on its own; a longer batch gets 400.",
  },
  max_resource_subscriptions: {
    type: 'integer',
    minimum: 1,
    maximum: 10000,
    default: 100,
    description:
      "Most distinct resource URIs one MCP 2026-07-28 subscriptions/listen request may watch (notifications.resourceSubscriptions), and most a pooled server watches for all of one client's (consumer's) listen streams together; each is one resources/subscribe to the server. A listen that would go over gets 400 (-32602) before anything is subscribed.",
  },
  ping_interval: seconds(15, 'SSE keep-alive comment interval on open streams; a stream that cannot be written for twice this long is dropped.'),
  allowed_origins: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: [],
    description:
      'Browser origins allowed besides the same origin (and, on a loopback connection, loopback origins); "*" allows any. Others get 403 (MCP DNS-rebinding rule).',
  },
  allowed_hosts: {
    type: 'array',
    items: { type: 'string', minLength: 1 },
    default: [],
    description:
      'Host header values (name or name:port) accepted. Empty: any Host, except that a connection arriving on a loopback address must name a loopback host.',
  },
};

/** The route's cache of list results a remote MCP 2026-07-28 server marks cacheable (list-cache.ts). */
export const LIST_CACHE_FIELDS = {
  list_cache_max_ttl: {
    type: 'number',
    minimum: 0,
    default: 10,
    description:
      'Seconds, at most, that a tools/list, resources/list or prompts/list result of a remote MCP server speaking 2026-07-28 is answered from the route\'s cache: the server\'s ttlMs, bounded by this. Only results the server marks cacheScope "public" (shared by every caller) or "private" (per consumer; never for anonymous callers) are kept; message filters (mcp-acl) still apply to every answer. 0: no cache.',
  },
  list_cache_max_entries: {
    type: 'integer',
    minimum: 1,
    default: 100,
    description: 'Most list results the route\'s cache keeps (one per method, cursor, client capabilities and, for private results, consumer); the least recently used goes first.',
  },
  list_cache_max_bytes: {
    type: 'integer',
    minimum: 1,
    default: 8388608,
    description:
      'Most bytes of list results (as the server sent them) the route\'s cache keeps, all entries together; the least recently used go first, and a result larger than this is not kept. Each entry is at most max_message_bytes, so without this bound list_cache_max_entries large lists could hold that many times max_message_bytes.',
  },
};

/** The fields an MCP server of /apisix/admin/mcp_servers sets for the routes that use it. */
export const SERVER_FIELDS: readonly string[] = [...Object.keys(PROCESS_FIELDS), ...Object.keys(sessionFields('server'))];

export const serverIdSchema = {
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-_.]+$' },
    { type: 'integer', minimum: 1 },
  ],
};

export const bridgeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...FRONT_FIELDS,
    ...LIST_CACHE_FIELDS,
    server_id: {
      ...serverIdSchema,
      description:
        'An MCP server defined at /apisix/admin/mcp_servers/{id}: its command, environment, timeouts and session caps serve this route, which then sets none of them itself. Without it, command is required.',
    },
    ...PROCESS_FIELDS,
    ...sessionFields('route'),
  },
};

/** An MCP server's own fields (`/apisix/admin/mcp_servers`; the route model adds id, name, desc, labels). */
export function serverFieldsSchema() {
  return { ...PROCESS_FIELDS, ...sessionFields('server') };
}

/** Either an MCP server by reference, or one inline: never both, never neither. */
export function checkServerChoice(conf: BridgeConf, given: ReadonlySet<string>): string | undefined {
  if (conf.server_id === undefined) return given.has('command') ? undefined : 'command is required (or server_id, naming an MCP server of /apisix/admin/mcp_servers)';
  const own = SERVER_FIELDS.find((field) => given.has(field));
  return own && `${own} is a setting of the MCP server: with server_id, set it on /apisix/admin/mcp_servers/${conf.server_id}`;
}

/**
 * The Admin API refuses a command line that mcp.allowed_commands does not allow (never through a
 * shell; no interpreter running inline code), naming the field at fault. A write-time check only
 * (checkOnWrite): for a route stored before the list was tightened, the bridge refuses each start.
 */
export function checkBridgeConf(conf: BridgeConf, config: Readonly<GatewayConfig>): string | undefined {
  if (conf.server_id !== undefined) return undefined;
  const refusal = commandRefusal(conf, bridgeAttributes(config).allowed_commands);
  return refusal && (refusal.field === 'command' ? refusal.reason : `${refusal.field}: ${refusal.reason}`);
}
