/**
 * mcp-federation — many MCP servers behind one MCP endpoint: the `mcp_servers` it names (stdio or
 * remote) appear to the client as one server, on the endpoints mcp-bridge serves
 * (`{base_uri}/mcp`, `{base_uri}/sse` + `/message`), with the gateway's serverInfo and the union
 * of the servers' capabilities. Tools and prompts are renamed `{prefix}{separator}{name}`;
 * resources keep their URIs and go to the server that listed them. See federated-backend.ts for
 * how messages are routed, and docs/mcp.md ("Federating servers").
 *
 * Phase: content (terminal), over the kit's MCP machinery (plugins/kit/mcp/), like mcp-bridge:
 * auth, limits (per prefixed tool with `key: mcp_tool`), mcp-acl rules, logs and metrics apply as
 * on any route. Each client session holds at most one session per server, opened when first
 * needed, under the server's own caps. Fails per server: one that is down, slow or crashing
 * leaves the lists and its calls get a JSON-RPC error naming it; the others keep serving and the
 * client's session stays usable.
 */
import type { RouteInfo } from '../../core/context.js';
import { definePlugin, type PluginApi } from '../../core/plugin.js';
import { acquireSessions, MCP_ERRORS, renderError, runtimeOf, serveEndpoints, serverRecordOf, sessionScope, SessionsLease } from '../kit/mcp/index.js';
import { Federation, type MemberRecord } from './federation.js';
import { checkFederation, federationSchema, type FederationConf } from './schema.js';

/**
 * The sessions of a federation, built from its servers' records as the catalog holds them now: a
 * change to one rebuilds the route (references), and the changed definitions make a new manager
 * (sessions start over on it).
 */
function openFederation(conf: FederationConf, route: RouteInfo, api: PluginApi): SessionsLease {
  const members: MemberRecord[] = conf.servers.map(({ server_id, prefix }) => {
    const id = String(server_id);
    return { serverId: id, prefix, value: serverRecordOf(api, id) };
  });
  const key = `${sessionScope(route)}\nmcp-federation\n${JSON.stringify(conf)}\n${JSON.stringify(members.map((m) => m.value))}`;
  const maxRegexProgram = api.config.limits.max_regex_program;
  return new SessionsLease(acquireSessions(runtimeOf(api), key, route.id, conf, {}, (manager) => new Federation(manager, conf, members, maxRegexProgram)));
}

export default definePlugin<FederationConf, SessionsLease>({
  name: 'mcp-federation',
  version: '1.0.0',
  priority: 505,
  errors: MCP_ERRORS,
  description: 'Serves several MCP servers (stdio or remote, from /apisix/admin/mcp_servers) as one, with prefixed tool and prompt names.',
  schema: federationSchema,
  checkConf: (conf) => checkFederation(conf),
  references: (conf) => (Array.isArray(conf.servers) ? conf.servers.map((s) => ({ kind: 'mcp_servers' as const, id: String(s.server_id) })) : []),

  init(api) {
    runtimeOf(api);
  },

  destroy: (api) => runtimeOf(api).destroy(),

  create: (conf, route, api) => openFederation(conf, route, api),

  requestOptions: (conf) => ({ maxBodyBytes: conf.max_message_bytes, jsonRpc: { basePath: conf.base_uri, maxBatchMessages: conf.max_batch_messages } }),

  content: (ctx, conf, federation) => serveEndpoints(ctx, conf, federation.manager),

  renderError: (ctx, conf, federation, error) => renderError(ctx, conf, federation.manager, error),
});
