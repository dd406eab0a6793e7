/**
 * What every plugin serving MCP does with a request to its route: which of its endpoints the
 * request addresses (`{base_uri}/mcp`, `{base_uri}/sse`, `{base_uri}/message`), the Origin/Host
 * guard, and the front that speaks that transport; and which routes share sessions.
 */
import type { GatewayContext, RouteInfo } from '../../../core/context.js';
import { MCP_ERRORS } from './errors.js';
import { guardOrigin } from './guard.js';
import { mcpHttpError } from './jsonrpc.js';
import { handleLegacyMessage, handleLegacySse } from './legacy-sse.js';
import type { SessionConf } from './schema.js';
import type { SessionManager } from './sessions.js';
import { handleStreamableHttp } from './streamable-http.js';

/** The content phase of an MCP route: the request goes to the front of the endpoint it addresses. */
export async function serveEndpoints(ctx: GatewayContext, conf: SessionConf, manager: SessionManager): Promise<void> {
  const { path } = ctx.gateway;
  const endpoint = path.startsWith(conf.base_uri) ? path.slice(conf.base_uri.length) : undefined;
  if (endpoint !== '/mcp' && endpoint !== '/sse' && endpoint !== '/message') {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_NOT_FOUND, `no MCP endpoint here; use ${conf.base_uri}/mcp or ${conf.base_uri}/sse`);
  }
  guardOrigin(ctx.req, ctx.gateway.authority, conf);
  if (endpoint === '/mcp') return handleStreamableHttp(ctx, manager);
  if (endpoint === '/sse') return handleLegacySse(ctx, manager, `${conf.base_uri}/message`);
  return handleLegacyMessage(ctx, manager);
}

/**
 * Which routes share sessions: routes with the same hosts and an equal config (its `base_uri`
 * included) serve one MCP endpoint, whatever else tells them apart — a route whose `vars` send one
 * tool to other plugins, methods, priority. A session opened through one of them is found through
 * the others (still only by the consumer that opened it), and their caps are one. A consumer's own
 * config keeps its sessions to itself.
 */
export function sessionScope(route: RouteInfo): string {
  const { host, hosts } = route.record as { host?: string; hosts?: string[] };
  const names = (hosts ?? (host === undefined ? [] : [host])).map((h) => h.toLowerCase()).sort();
  return `${names.join(',')}${route.consumer === undefined ? '' : `@${route.consumer}`}`;
}
