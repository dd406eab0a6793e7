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
import type { GatewayConfig } from '../../core/config.js';
import type { RouteInfo } from '../../core/context.js';
import { definePlugin, type Disposable, type PluginApi } from '../../core/plugin.js';
import {
  ATTRIBUTES,
  MCP_ERRORS,
  acquireManager,
  bridgeSchema,
  checkBridgeConf,
  checkServerChoice,
  guardOrigin,
  handleLegacyMessage,
  handleLegacySse,
  handleStreamableHttp,
  mcpHttpError,
  mcpServers,
  renderError,
  runFields,
  runtimeOf,
  serverEndpoints,
  type BridgeConf,
  type Runtime,
  type SessionManager,
} from '../kit/mcp/index.js';

class Bridge implements Disposable {
  readonly manager: SessionManager;

  constructor(conf: BridgeConf, route: RouteInfo, runtime: Runtime, api: PluginApi) {
    if (conf.server_id === undefined) {
      this.manager = acquireManager(runtime, sessionScope(route), route.id, conf);
      return;
    }
    // The route is built from the record as the catalog holds it now, and rebuilt when it changes
    // (references): a missing or invalid server makes the route answer 503 until it is fixed.
    const id = String(conf.server_id);
    const server = api.resource('mcp_servers', id);
    if (!server) throw new Error(`mcp server ${id} not found`);
    if ('error' in server) throw new Error(`mcp server ${id}: ${server.error}`);
    const { fields, definition, logLines, remote } = runFields(server.value);
    this.manager = acquireManager(runtime, sessionScope(route), route.id, { ...conf, ...fields } as BridgeConf, { id, definition, logLines, remote });
  }

  dispose(): void {
    this.manager.dispose();
  }
}

/**
 * A session lives in the worker process that opened it (its child, its upstream session, its
 * streams), and node:cluster hands each connection to any worker: until requests are relayed to
 * a session's owner, a route with several workers would lose its sessions at random, so it is
 * refused (400 on write; a stored one answers 503 and is listed on /status).
 */
function workersRefusal(config: Readonly<GatewayConfig>): string | undefined {
  if (config.gateway.workers <= 1) return undefined;
  return `needs gateway.workers: 1 (it is ${config.gateway.workers}): MCP sessions are not relayed between workers yet (docs/deployment.md, "MCP and several workers")`;
}

/**
 * Which bridges share sessions: routes with the same hosts and an equal bridge config (its
 * `base_uri` included) serve one MCP endpoint, whatever else tells them apart — a route whose
 * `vars` send one tool to other plugins, methods, priority. A session opened through one of them
 * is found through the others (still only by the consumer that opened it), and their caps are
 * one. A consumer's own bridge keeps its sessions to itself.
 */
function sessionScope(route: RouteInfo): string {
  const { host, hosts } = route.record as { host?: string; hosts?: string[] };
  const names = (hosts ?? (host === undefined ? [] : [host])).map((h) => h.toLowerCase()).sort();
  return `${names.join(',')}${route.consumer === undefined ? '' : `@${route.consumer}`}`;
}

export default definePlugin<BridgeConf, Bridge>({
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
  checkConf: (conf, config, _resources, given) => workersRefusal(config) ?? checkServerChoice(conf, given),
  references: (conf) => (conf.server_id === undefined ? [] : [{ kind: 'mcp_servers', id: String(conf.server_id) }]),
  resources: { mcp_servers: { ...mcpServers, endpoints: serverEndpoints } },

  init(api) {
    runtimeOf(api);
  },

  destroy: (api) => runtimeOf(api).destroy(),

  create: (conf, route, api) => new Bridge(conf, route, runtimeOf(api), api),

  requestOptions: (conf) => ({ maxBodyBytes: conf.max_message_bytes, jsonRpc: { basePath: conf.base_uri, maxBatchMessages: conf.max_batch_messages } }),

  async content(ctx, conf, bridge) {
    const { path } = ctx.gateway;
    const endpoint = path.startsWith(conf.base_uri) ? path.slice(conf.base_uri.length) : undefined;
    if (endpoint !== '/mcp' && endpoint !== '/sse' && endpoint !== '/message') {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_NOT_FOUND, `no MCP endpoint here; use ${conf.base_uri}/mcp or ${conf.base_uri}/sse`);
    }
    guardOrigin(ctx.req, ctx.gateway.authority, conf);
    if (endpoint === '/mcp') return handleStreamableHttp(ctx, bridge.manager);
    if (endpoint === '/sse') return handleLegacySse(ctx, bridge.manager, `${conf.base_uri}/message`);
    return handleLegacyMessage(ctx, bridge.manager);
  },

  renderError: (ctx, conf, bridge, error) => renderError(ctx, conf, bridge.manager, error),
});
