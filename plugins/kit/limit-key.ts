/**
 * What a limit counts requests by: APISIX's `key_type` and `key` fields, compiled once per route
 * version into a function from a request to its key, and which requests a limit never counts.
 */
import type { GatewayState } from '../../core/context.js';
import type { JsonSchema } from '../../core/schema.js';
import { compileTemplate } from '../../core/template.js';

export type KeyType = 'var' | 'var_combination' | 'constant';

/** Key fields as APISIX spells them (`key_type`, `key`). */
export function keyProperties(defaultKey?: string): Record<string, JsonSchema> {
  return {
    key_type: {
      type: 'string',
      enum: ['var', 'var_combination', 'constant'],
      default: 'var',
      description:
        '`var`: `key` names one variable; `var_combination`: `key` is a template such as "$consumer_name $mcp_tool"; `constant`: `key` itself (one counter for everyone).',
    },
    key: {
      type: 'string',
      minLength: 1,
      ...(defaultKey === undefined ? {} : { default: defaultKey }),
      description:
        'What requests are counted by: remote_addr, consumer_name, route_id, http_<header>, arg_<name>, cookie_<name>, mcp_method, mcp_tool, mcp_name … An empty value falls back to remote_addr, except for MCP variables: a key naming them counts only the requests where one of them resolves (mcp_tool: tools/call, per tool). DELETE of an MCP session and notifications/initialized are never counted.',
    },
  };
}

/** A request's limit key; undefined when this limit does not count the request at all. */
export type LimitKeyOf = (state: GatewayState) => string | undefined;

/**
 * Compiles `key_type` + `key` into a function from a request to its limit key. As in APISIX, a
 * key that resolves to nothing (an absent header, a combination in which no variable resolved)
 * falls back to the client address — except a key naming an MCP variable, and the MCP messages
 * no limit may refuse: see `countsAgainst`.
 */
export function keyResolver(keyType: KeyType, key: string): LimitKeyOf {
  if (keyType === 'constant') return countsAgainst([], () => key);
  if (keyType === 'var') {
    return countsAgainst([key], (state) => {
      const value = state.var(key);
      return value === undefined || value === '' ? state.clientIp : value;
    });
  }
  const template = compileTemplate(key);
  return countsAgainst(template.variables, (state) => template.renderIfResolved(state) ?? state.clientIp);
}

/**
 * A `rules` key of limit-count: a `$var` template such as "$consumer_name:${mcp_tool}" whose rule
 * is skipped for a request in which no variable resolved; MCP variables as in `countsAgainst`.
 */
export function ruleKeyResolver(key: string): LimitKeyOf {
  const template = compileTemplate(key);
  return countsAgainst(template.variables, (state) => template.renderIfResolved(state));
}

/**
 * Which requests a limit counts (issue 10, item 16). Two kinds of request pass every limit
 * uncounted:
 * - when its key names MCP variables (`mcp_tool`, `mcp_method`, `mcp_name`, `mcp_session_id`),
 *   a request for which none of them resolves: such a key describes MCP messages, and a request
 *   it does not describe is not its business. A per-tool limit counts tools/call, per tool;
 *   falling back to the client address, as other keys do, put initialize, ping, lists,
 *   notifications, the GET stream and DELETE of every session of a client into one bucket, and
 *   the limit refused the session itself.
 * - the MCP messages that end a session (DELETE on the Streamable HTTP endpoint) or complete its
 *   handshake (notifications/initialized). Refusing them never saves anything: the child is
 *   running already, and a client that cannot finish its handshake or end its session leaves it
 *   running until session_idle_timeout. A session's start (initialize) is counted as usual: a
 *   refusal then comes before any child exists.
 */
function countsAgainst(variables: readonly string[], resolve: (state: GatewayState) => string | undefined): LimitKeyOf {
  const mcpVariables = variables.filter((name) => name.startsWith('mcp_'));
  return (state) => {
    if (isSessionLifecycle(state)) return undefined;
    if (mcpVariables.length > 0 && !mcpVariables.some((name) => !!state.var(name))) return undefined;
    return resolve(state);
  };
}

/** DELETE of an MCP session, or the notification that completes its handshake. */
function isSessionLifecycle(state: GatewayState): boolean {
  const mcp = state.mcp;
  if (!mcp) return false;
  if (mcp.transport === 'streamable-http' && state.var('request_method') === 'DELETE') return true;
  return mcp.kind === 'notification' && mcp.method === 'notifications/initialized';
}

