/**
 * `mcp_servers`: MCP servers as catalog resources (issue 12), defined by this plugin
 * (core/plugin.ts `resources`) and served by the Admin API at `/apisix/admin/mcp_servers/{id}`.
 * A route uses one with `"mcp-bridge": {"base_uri": "/mcp/gh", "server_id": "github"}`; one
 * definition serves any number of routes, and its session caps count across them.
 *
 * A stdio server has every process setting an inline route config has (command, args, env, cwd,
 * timeouts, session caps); `mcp.allowed_commands` holds for it as for a route. Values in `env` may
 * be `$env://NAME` references (secrets.ts); a GET masks literal values of secret-looking keys.
 */
import type { GatewayConfig } from '../../core/config.js';
import type { ResourceDefinition } from '../../core/plugin.js';
import { commandRefusal } from './command-policy.js';
import { MASK, maskMap, referenceProblem, restoreMap } from './secrets.js';
import { serverFieldsSchema } from './schema.js';

/** An MCP server record with its defaults filled. */
export interface ServerRecord {
  id: string | number;
  name?: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  session_idle_timeout: number;
  session_reclaim_idle: number;
  max_sessions: number;
  max_sessions_per_consumer: number;
  request_timeout: number;
  init_timeout: number;
  log_lines: number;
}

/** Fields of a record that say nothing about how its server runs. */
const DESCRIPTIVE = new Set(['id', 'name', 'desc', 'labels', 'create_time', 'update_time', 'log_lines']);

/**
 * What the sessions of a route naming this server run with (its fields in place of the route's),
 * and how many stderr lines the server keeps. A change to a descriptive field (name, labels…)
 * leaves running sessions alone.
 */
export function runFields(value: Readonly<Record<string, unknown>>): { fields: Record<string, unknown>; definition: string; logLines: number } {
  const fields = Object.fromEntries(Object.entries(value).filter(([key]) => !DESCRIPTIVE.has(key)));
  return { fields, definition: JSON.stringify(fields), logLines: (value as unknown as ServerRecord).log_lines ?? 0 };
}

export const serverSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command'],
  properties: {
    ...serverFieldsSchema(),
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

function check(value: Readonly<Record<string, unknown>>): string | undefined {
  return referenceProblem('env', (value as unknown as ServerRecord).env);
}

/**
 * mcp.allowed_commands, at write time (like a route's inline command): a stored server the list
 * no longer allows still loads, and every start answers 503 naming the field. References in env
 * are checked again with their values before every start.
 */
function checkOnWrite(value: Readonly<Record<string, unknown>>, config: Readonly<GatewayConfig>): string | undefined {
  const refusal = commandRefusal(value as unknown as ServerRecord, config.mcp.allowed_commands);
  return refusal && (refusal.field === 'command' ? refusal.reason : `${refusal.field}: ${refusal.reason}`);
}

function present(value: Readonly<Record<string, unknown>>, role: 'admin' | 'viewer'): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  const viewer = role === 'viewer';
  if (isStringMap(out.env)) out.env = maskMap(out.env, viewer);
  if (viewer && Object.hasOwn(out, 'args')) out.args = MASK;
  return out;
}

function restore(value: Record<string, unknown>, stored: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (!isStringMap(value.env)) return undefined;
  const env = { ...value.env };
  const problem = restoreMap('env', env, stored?.env);
  value.env = env;
  return problem;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

export const mcpServers: ResourceDefinition = { schema: serverSchema, check, checkOnWrite, present, restore };
