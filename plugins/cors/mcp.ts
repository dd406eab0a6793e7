/**
 * What browser-based MCP clients need from CORS (MCP Streamable HTTP): to read the
 * `Mcp-Session-Id` the server assigns and the `MCP-Protocol-Version` it speaks, and to send them
 * back, with `Last-Event-ID` (resuming a stream) and `Authorization` (OAuth), which a preflight
 * must allow. `Access-Control-Allow-Headers: *` does not cover `Authorization` (Fetch standard),
 * and without `Access-Control-Expose-Headers` a page cannot see the session id at all.
 */
import type { GatewayContext } from '../../core/context.js';

const EXPOSED = ['Mcp-Session-Id', 'MCP-Protocol-Version'];
const ALLOWED = ['Mcp-Session-Id', 'MCP-Protocol-Version', 'Last-Event-ID', 'Authorization'];

/**
 * Whether this exchange is MCP: the route is an MCP route (its plugins read JSON-RPC), the core
 * described the request as MCP, the client sent MCP headers or asks a preflight for them, or the
 * server answered with a session id (a remote MCP server behind a plain proxy route).
 */
export function isMcpExchange(ctx: GatewayContext): boolean {
  const state = ctx.gateway;
  if (state.route?.jsonRpc !== undefined || state.mcp !== undefined) return true;
  const headers = ctx.req.headers;
  if (headers['mcp-session-id'] !== undefined || headers['mcp-protocol-version'] !== undefined) return true;
  const asked = headers['access-control-request-headers'];
  if (asked !== undefined && asked.toLowerCase().includes('mcp-')) return true;
  return ctx.res.hasHeader('mcp-session-id');
}

/** `expose_headers` with the MCP headers it lacks (`*` exposes everything already). */
export function withMcpExposed(expose: string | undefined): string {
  return expose === '*' ? expose : withNames(expose, EXPOSED);
}

/** `allow_headers` with the MCP request headers it lacks. */
export function withMcpAllowed(allow: string): string {
  return withNames(allow, ALLOWED);
}

function withNames(list: string | undefined, names: readonly string[]): string {
  const present = new Set((list ?? '').split(',').map((name) => name.trim().toLowerCase()));
  const missing = names.filter((name) => !present.has(name.toLowerCase()));
  if (!list) return missing.join(', ');
  return missing.length === 0 ? list : `${list}, ${missing.join(', ')}`;
}
