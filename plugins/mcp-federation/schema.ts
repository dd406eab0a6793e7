/**
 * The route config of mcp-federation: which `mcp_servers` it federates under which prefixes, how
 * names are joined, what the client is told of the gateway, and the client side and session
 * settings a bridge route has. Durations in seconds, sizes in bytes.
 */
import { FRONT_FIELDS, serverIdSchema, type SessionConf } from '../kit/mcp/index.js';

export interface MemberConf {
  server_id: string | number;
  prefix: string;
}

export interface FederationConf extends SessionConf {
  servers: MemberConf[];
  separator: string;
  server_info: { name: string; version: string; title?: string };
  instructions?: string;
  page_size: number;
  list_timeout: number;
  retry_interval: number;
}

/** Characters of an MCP tool name (MCP 2025-11-25, server/tools "Tool names"): what a prefix and a separator may use. */
const NAME_CHARS = '^[A-Za-z0-9_.-]+$';

const seconds = (fallback: number, description: string) => ({ type: 'number', exclusiveMinimum: 0, default: fallback, description });

export const federationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['servers'],
  properties: {
    ...FRONT_FIELDS,
    servers: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      description:
        'The MCP servers (records of /apisix/admin/mcp_servers, stdio or remote) behind this endpoint, in order: a resource URI two of them claim goes to the first.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['server_id', 'prefix'],
        properties: {
          server_id: { ...serverIdSchema, description: 'The id of an MCP server of /apisix/admin/mcp_servers.' },
          prefix: {
            type: 'string',
            minLength: 1,
            maxLength: 32,
            pattern: NAME_CHARS,
            description: "Put before this server's tool and prompt names, with the separator: `gh` makes `create_issue` `gh_create_issue`. Unique per route; it may not contain the separator.",
          },
        },
      },
    },
    separator: {
      type: 'string',
      minLength: 1,
      maxLength: 4,
      pattern: NAME_CHARS,
      default: '_',
      description: 'Joins a prefix and a name (tool names allow letters, digits, `_`, `-` and `.`).',
    },
    server_info: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'version'],
      default: { name: 'tollgate-federation', version: '1.0.0' },
      description: "What the client's initialize answer names as the server (`serverInfo`).",
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 256 },
        version: { type: 'string', minLength: 1, maxLength: 64 },
        title: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
    instructions: { type: 'string', maxLength: 65536, description: "The initialize answer's `instructions` for the client (absent: none)." },
    page_size: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      default: 500,
      description:
        'Most items in one page of a merged list (tools, prompts, resources, resource templates); more come with a `nextCursor` of the gateway\'s own.',
    },
    list_timeout: seconds(10, "How long a merged list waits for a server's list; a server that takes longer is left out of that answer."),
    retry_interval: seconds(
      5,
      "After a server's session could not be opened or ended, how long the federation waits before opening it again: meanwhile its tools are missing from lists and its calls get an error at once.",
    ),
    session_idle_timeout: seconds(600, "A client session with no request in flight and no open stream for this long ends, and its servers' sessions with it."),
    session_reclaim_idle: {
      type: 'number',
      minimum: 0,
      default: 1,
      description:
        'At a cap (max_sessions, max_sessions_per_consumer, a server\'s own caps, mcp.max_children), the least recently active client session idle for at least this long is ended to admit a new one; its id then answers 404.',
    },
    max_sessions: {
      type: 'integer',
      minimum: 1,
      default: 16,
      description: 'Live client sessions on this route (each holds at most one session per server); more get 503 with Retry-After.',
    },
    max_sessions_per_consumer: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: 'Live client sessions per authenticated consumer on this route (0: no cap); more get 503 with Retry-After.',
    },
    request_timeout: seconds(
      60,
      "A request not answered for this long gets a JSON-RPC timeout error, and the server that has it gets notifications/cancelled. Progress restarts the clock, up to mcp.max_request_duration.",
    ),
    init_timeout: seconds(10, 'Time for the gateway to answer the client\'s initialize (it answers itself; the servers are initialized when first needed, each within its own init_timeout).'),
  },
};

/**
 * Prefixes must route every name to one server: no two alike, none containing the separator,
 * and none whose prefix+separator begins another's (with separator `__`, `a` and `a_` would both
 * claim `a___x`). A server named twice would be two sessions of one server under two names.
 */
export function checkFederation(conf: FederationConf): string | undefined {
  const seenServers = new Set<string>();
  const heads: string[] = [];
  for (const [index, member] of conf.servers.entries()) {
    const id = String(member.server_id);
    if (seenServers.has(id)) return `servers[${index}]: server ${id} is already federated here (once per route)`;
    seenServers.add(id);
    if (member.prefix.includes(conf.separator)) return `servers[${index}]: prefix ${JSON.stringify(member.prefix)} contains the separator ${JSON.stringify(conf.separator)}`;
    const head = member.prefix + conf.separator;
    const clash = heads.findIndex((other) => other.startsWith(head) || head.startsWith(other));
    if (clash >= 0) {
      return conf.servers[clash].prefix === member.prefix
        ? `servers[${index}]: prefix ${JSON.stringify(member.prefix)} is already used by servers[${clash}]`
        : `servers[${index}]: prefix ${JSON.stringify(member.prefix)} and servers[${clash}]'s ${JSON.stringify(conf.servers[clash].prefix)} would both claim some names`;
    }
    heads.push(head);
  }
  return undefined;
}
