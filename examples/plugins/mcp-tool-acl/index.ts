/**
 * mcp-tool-acl — which MCP tools a consumer may call. Put it on an MCP route with the allow-list
 * every consumer gets (often empty: deny by default), and on a consumer with that consumer's own
 * list; a consumer's config replaces the route's after authentication (Consumer > Route, as for
 * every plugin). A tools/call for a tool not on the list is refused with 403 before it reaches
 * the MCP server; tools/list and everything else pass.
 * Phase: access (after key-auth/jwt-auth in rewrite). Fails closed: no consumer, no tools.
 */
import { definePlugin, GatewayError } from 'tollgate';

interface ToolAclConf {
  allow: string[];
}

export default definePlugin<ToolAclConf>({
  name: 'mcp-tool-acl',
  version: '1.0.0',
  priority: 60,
  description: 'Allows MCP tools/call only for the tools on a (per-consumer) allow-list.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        default: [],
        description: 'Tool names that may be called; "*" allows every tool.',
      },
    },
  },

  access(ctx, conf) {
    const mcp = ctx.gateway.mcp;
    if (mcp?.method !== 'tools/call') return;
    const tool = mcp.name ?? '';
    if (conf.allow.includes('*') || conf.allow.includes(tool)) return;
    const who = ctx.gateway.consumer?.username ?? 'anonymous';
    throw new GatewayError(403, 'GW_MCP_TOOL_DENIED', `tool "${tool}" is not allowed for ${who}`);
  },
});
