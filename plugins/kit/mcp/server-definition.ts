/**
 * `mcp_servers`: MCP servers as catalog resources (issue 12), defined by this plugin
 * (core/plugin.ts `resources`) and served by the Admin API at `/apisix/admin/mcp_servers/{id}`.
 * A route uses one with `"mcp-bridge": {"base_uri": "/mcp/gh", "server_id": "github"}`; one
 * definition serves any number of routes, and its session caps count across them.
 *
 * A server is either
 * - **stdio** (`command`): every process setting an inline route config has (command, args, env,
 *   cwd), `mcp.allowed_commands` holding for it as for a route; or
 * - **remote** (`url`): an MCP server elsewhere, reached over Streamable HTTP or legacy SSE
 *   (`transport`), with the gateway's own credentials for it in `headers`.
 * Both have the session settings (timeouts, caps). Values in `env` and `headers` may be
 * `$env://NAME` references (secrets.ts); a GET masks literal values of secret-looking keys.
 */
import type { GatewayConfig } from '../../../core/config.js';
import type { PluginApi, ResourceDefinition } from '../../../core/plugin.js';
import { commandRefusal } from './command-policy.js';
import { RESERVED_HEADERS } from './remote-http.js';
import type { RemoteSettings } from './remote-upstream.js';
import { MASK, maskMap, referenceProblem, restoreMap } from './secrets.js';
import { PROCESS_FIELDS, serverFieldsSchema, type ServerFields } from './schema.js';
import { bridgeAttributes } from './attributes.js';

/** An MCP server record with its defaults filled. */
export interface ServerRecord extends Partial<RemoteSettings>, ServerFields {
  id: string | number;
  name?: string;
  command?: string;
  log_lines: number;
}

/** A stdio server's record: it has a command. */
export type StdioServerRecord = ServerRecord & { command: string };

const seconds = (fallback: number, description: string) => ({ type: 'number', exclusiveMinimum: 0, default: fallback, description });

/** What only a remote server takes. */
const REMOTE_FIELDS = {
  url: {
    type: 'string',
    minLength: 1,
    maxLength: 2048,
    description: 'A remote MCP server: its endpoint, http:// or https:// (Streamable HTTP: the MCP endpoint; sse: the URL of its SSE stream). Credentials go in headers, never in the URL.',
  },
  transport: {
    enum: ['streamable-http', 'sse'],
    default: 'streamable-http',
    description: 'How the gateway talks to a remote server: Streamable HTTP (MCP 2025-03-26 and later) or the legacy HTTP+SSE transport (2024-11-05).',
  },
  headers: {
    type: 'object',
    propertyNames: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", maxLength: 256 },
    additionalProperties: { type: 'string', maxLength: 8192 },
    default: {},
    description:
      "Headers the gateway sends a remote server with every request: its own credentials for it (the client's are never forwarded). Values may be $env://NAME; literal values of secret-looking names are masked on GET.",
  },
  timeout: seconds(10, 'A remote server: seconds to connect and to get the headers of an answer; past it the request fails (504 for initialize).'),
  tls: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: { verify: { type: 'boolean', default: true, description: "Verify the remote server's certificate (https). Turning it off lets anyone on the path read and change the traffic." } },
  },
  health_check: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: 'Periodic initialize + ping of a remote server while a route uses it; while the last one fails, new sessions are refused at once (502).',
    properties: {
      interval: { type: 'number', minimum: 0, default: 30, description: 'Seconds between checks; 0: no checks.' },
      timeout: seconds(5, 'Seconds a check may take for each of initialize and ping.'),
    },
  },
};

export const serverSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...serverFieldsSchema(),
    ...REMOTE_FIELDS,
    log_lines: {
      type: 'integer',
      minimum: 0,
      maximum: 10000,
      default: 200,
      description:
        "stderr lines of this server's children kept on each gateway instance for GET /apisix/admin/mcp_servers/{id}/logs (each at most 1 KiB, the oldest dropped first); 0 keeps none.",
    },
  },
};

/** Fields of a record that say nothing about how its server runs. */
const DESCRIPTIVE = new Set(['id', 'name', 'desc', 'labels', 'create_time', 'update_time', 'log_lines']);

/**
 * A stored MCP server record as the type it has. The core checked it against serverSchema (this
 * definition) and filled its defaults before any of this code sees it; PluginApi.resource and the
 * resource hooks type every plugin's records alike, as plain records, so this is the one place the
 * type is asserted.
 */
export function asServerRecord(value: Readonly<Record<string, unknown>>): ServerRecord {
  return value as unknown as ServerRecord;
}

/**
 * The record of MCP server `id` as the catalog holds it now. A route is rebuilt when it changes
 * (references); a missing or invalid one throws, and the route answers 503 until it is fixed.
 */
export function serverRecordOf(api: PluginApi, id: string): Readonly<Record<string, unknown>> {
  const found = api.resource('mcp_servers', id);
  if (!found) throw new Error(`mcp server ${id} not found`);
  if ('error' in found) throw new Error(`mcp server ${id}: ${found.error}`);
  return found.value;
}

/**
 * What the sessions of a route naming this server run with (its fields in place of the route's),
 * how many stderr lines the server keeps, and a remote server's settings. A change to a
 * descriptive field (name, labels…) leaves running sessions alone.
 */
export function runFields(value: Readonly<Record<string, unknown>>): {
  fields: Record<string, unknown>;
  definition: string;
  logLines: number;
  remote?: RemoteSettings;
} {
  const fields = Object.fromEntries(Object.entries(value).filter(([key]) => !DESCRIPTIVE.has(key)));
  const record = asServerRecord(value);
  const remote = record.url === undefined ? undefined : (record as ServerRecord & RemoteSettings);
  return { fields, definition: JSON.stringify(fields), logLines: record.url === undefined ? record.log_lines ?? 0 : 0, remote };
}

const STDIO_ONLY = Object.keys(PROCESS_FIELDS).filter((field) => field !== 'command');
const REMOTE_ONLY = Object.keys(REMOTE_FIELDS).filter((field) => field !== 'url');

function check(value: Readonly<Record<string, unknown>>, _config: Readonly<GatewayConfig>, given: ReadonlySet<string>): string | undefined {
  const record = asServerRecord(value);
  if (given.has('command') === given.has('url')) {
    return given.has('command')
      ? 'command and url exclude each other: a server runs a command (stdio) or is reached at a url (remote)'
      : 'command (a stdio server) or url (a remote server) is required';
  }
  if (given.has('url')) {
    const stdio = STDIO_ONLY.find((field) => given.has(field)) ?? (given.has('log_lines') ? 'log_lines' : undefined);
    if (stdio) return `${stdio} is a setting of a stdio server (command); a remote server (url) does not take it`;
    return urlProblem(record.url!) ?? headersProblem(record.headers ?? {});
  }
  const remote = REMOTE_ONLY.find((field) => given.has(field));
  if (remote) return `${remote} is a setting of a remote server (url); a stdio server (command) does not take it`;
  return referenceProblem('env', record.env);
}

function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `url ${JSON.stringify(text)} is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `url must be http:// or https:// (not ${url.protocol})`;
  if (url.username || url.password) return 'url must not carry credentials: put them in headers (with $env:// references)';
  if (url.hash) return 'url must not have a fragment';
  return undefined;
}

function headersProblem(headers: Readonly<Record<string, string>>): string | undefined {
  for (const name of Object.keys(headers)) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) return `headers.${name}: the gateway sets this header itself`;
  }
  return referenceProblem('headers', headers);
}

/**
 * mcp.allowed_commands, at write time (like a route's inline command): a stored server the list
 * no longer allows still loads, and every start answers 503 naming the field. References in env
 * are checked again with their values before every start.
 */
function checkOnWrite(value: Readonly<Record<string, unknown>>, config: Readonly<GatewayConfig>): string | undefined {
  const record = asServerRecord(value);
  if (record.command === undefined) return undefined;
  const refusal = commandRefusal(record as StdioServerRecord, bridgeAttributes(config).allowed_commands);
  return refusal && (refusal.field === 'command' ? refusal.reason : `${refusal.field}: ${refusal.reason}`);
}

function present(value: Readonly<Record<string, unknown>>, role: 'admin' | 'viewer'): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  const viewer = role === 'viewer';
  if (isStringMap(out.env)) out.env = maskMap(out.env, viewer);
  if (isStringMap(out.headers)) out.headers = maskMap(out.headers, viewer);
  if (viewer && Object.hasOwn(out, 'args')) out.args = MASK;
  return out;
}

function restore(value: Record<string, unknown>, stored: Readonly<Record<string, unknown>> | undefined): string | undefined {
  for (const field of ['env', 'headers'] as const) {
    const map = value[field];
    if (!isStringMap(map)) continue;
    const copy = { ...map };
    const problem = restoreMap(field, copy, stored?.[field]);
    if (problem) return problem;
    value[field] = copy;
  }
  return undefined;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

export const mcpServers: ResourceDefinition = { schema: serverSchema, check, checkOnWrite, present, restore };
