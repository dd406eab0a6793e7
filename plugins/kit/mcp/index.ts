/**
 * The MCP kit: the machinery every plugin that serves MCP shares (docs/architecture.md, "MCP, the
 * shape it grows into"), so that mcp-bridge and mcp-federation are thin plugins over one
 * implementation and never import each other.
 *
 * - Fronts speak to clients: `serveEndpoints` sends a request to Streamable HTTP or legacy
 *   HTTP+SSE behind the Origin/Host guard; `renderError` answers errors as JSON-RPC.
 * - Sessions (`Session`, `SessionManager`): one client's streams and requests in flight, caps,
 *   idle reaping, the message filters carried out.
 * - Backends answer a session's messages: a stdio child, a remote MCP server.
 * - Servers: the `mcp_servers` records, and what each gateway instance knows of them (state,
 *   sessions, stderr, lists) for the Admin API.
 * - The runtime: gateway-wide caps (plugin_attr.mcp-bridge, `mcp:` in older configs: max_children…),
 *   the start queue, the child reaper.
 */
export { runtimeOf, type Runtime } from './runtime.js';
export { ATTRIBUTES } from './attributes.js';
export { MCP_ERRORS } from './errors.js';
export { renderError } from './render-error.js';
export { mcpHttpError, CONNECTION_CLOSED, INVALID_PARAMS, METHOD_NOT_FOUND, PROTOCOL_VERSIONS, SUPPORTED_PROTOCOL_VERSIONS, type JsonRpcId } from './jsonrpc.js';
export { bridgeSchema, checkBridgeConf, checkServerChoice, serverIdSchema, FRONT_FIELDS, type BridgeConf, type SessionConf } from './schema.js';
export { asServerRecord, mcpServers, runFields, serverRecordOf, type ServerRecord } from './server-definition.js';
export { serverEndpoints } from './endpoints.js';
export { acquireManager, acquireSessions, SessionManager, SessionsLease, type BackendSource } from './sessions.js';
export { serveEndpoints, sessionScope } from './endpoint.js';
export type { Session } from './session.js';
export type { Backend, BackendEnd, BackendEvents, BackendInfo } from './backend.js';
export { isListMethod, type McpServer, type ServerUser } from './server.js';
export { launchBackend, type Launched } from './launch.js';
