/**
 * mcp-bridge — any stdio MCP server (an npm package, a Python tool, a local binary) served as a
 * remote MCP server over Streamable HTTP (`{base_uri}/mcp`) and legacy HTTP+SSE
 * (`{base_uri}/sse`, `{base_uri}/message`), behind the route's auth, limits and logs.
 *
 * Phase: content (terminal). One child process per session, spawned without a shell from an
 * allow-listed command (mcp.allowed_commands; the Admin API refuses others), raw JSON-RPC passed
 * through. Fails closed: a session whose child cannot start, crashes or overflows ends with an
 * error to its client that says why (502/504 for initialize, a JSON-RPC error otherwise); other
 * sessions and the gateway carry on. Caps answer 503 with Retry-After.
 *
 * The server may be a record of `/apisix/admin/mcp_servers`, which this plugin defines
 * (server-definition.ts), named by `server_id`; routes using one share its session caps. Such a
 * record may also be a remote MCP server (Streamable HTTP or legacy SSE), which each session
 * reaches through an upstream session of its own (streamable-client.ts, sse-client.ts).
 *
 * JSON-RPC batches are accepted on 2025-03-26 sessions only (batch.ts); the core runs the access
 * phase once per message of a batch, so limits and access rules see every call.
 *
 * Errors other plugins raise for a request on this route (a rate limit, an open breaker) reach
 * MCP clients as JSON-RPC errors for that request; 401/403 stay plain HTTP so clients can
 * authenticate.
 */
import type { RouteInfo } from '../../core/context.js';
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import {
  ATTRIBUTES,
  MCP_ERRORS,
  acquireManager,
  bridgeSchema,
  checkBridgeConf,
  checkServerChoice,
  mcpServers,
  renderError,
  runFields,
  runtimeOf,
  serveEndpoints,
  serverEndpoints,
  serverRecordOf,
  sessionScope,
  SessionsLease,
  type BridgeConf,
  type Runtime,
} from '../kit/mcp/index.js';

/** The sessions of a route's bridge: of its inline command, or of the MCP server it names. */
function openBridge(conf: BridgeConf, route: RouteInfo, runtime: Runtime, api: PluginApi): SessionsLease {
  if (conf.server_id === undefined) return new SessionsLease(acquireManager(runtime, sessionScope(route), route.id, conf));
  const id = String(conf.server_id);
  const { fields, definition, logLines, remote } = runFields(serverRecordOf(api, id));
  return new SessionsLease(acquireManager(runtime, sessionScope(route), route.id, { ...conf, ...fields } as BridgeConf, { id, definition, logLines, remote }));
}

export default definePlugin<BridgeConf, SessionsLease>({
  name: 'mcp-bridge',
  version: '1.0.0',
  priority: 510,
  errors: MCP_ERRORS,
  attributes: ATTRIBUTES,
  description: 'Serves a stdio MCP server (one child process per session) or a remote MCP server over Streamable HTTP and legacy HTTP+SSE.',
  schema: bridgeSchema,
  // Enforced again before every spawn (sessions.ts): a stored route the list no longer allows
  // still loads, so its clients get the bridge's JSON-RPC error naming the field, not a bare 503.
  checkOnWrite: checkBridgeConf,
  checkConf: (conf, _config, _resources, given) => checkServerChoice(conf, given),
  references: (conf) => (conf.server_id === undefined ? [] : [{ kind: 'mcp_servers', id: String(conf.server_id) }]),
  resources: { mcp_servers: { ...mcpServers, endpoints: serverEndpoints } },

  init(api) {
    runtimeOf(api);
  },

  destroy: (api) => runtimeOf(api).destroy(),

  create: (conf, route, api) => openBridge(conf, route, runtimeOf(api), api),

  requestOptions: (conf) => ({ maxBodyBytes: conf.max_message_bytes, jsonRpc: { basePath: conf.base_uri, maxBatchMessages: conf.max_batch_messages } }),

  content: (ctx, conf, bridge) => serveEndpoints(ctx, conf, bridge.manager),

  renderError: (ctx, conf, bridge, error) => renderError(ctx, conf, bridge.manager, error),
});
