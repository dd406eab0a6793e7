/**
 * mcp-acl — which MCP tools, prompts and resources a client may see and use, by glob rules over
 * their names (tool and prompt names, resource URIs) and, with OAuth, the token's scopes.
 *
 * Phase: access, through the core's MCP message filters (McpRequestInfo.refuse, filterList): it
 * never names the plugin that serves the route, so it works the same on an mcp-bridge route (the
 * server's own names) and an mcp-federation route (prefixed names), on both transports, in every
 * protocol revision the route serves, and on each message of a JSON-RPC batch.
 * - Lists (tools/list, prompts/list, resources/list, resources/templates/list) reach the client
 *   without what the rules deny.
 * - A denied tools/call, prompts/get, resources/read, resources/(un)subscribe, or completion for a
 *   denied prompt or template is answered exactly as a name the server does not have; the access log (`mcp_denied`) and
 *   `tollgate_mcp_denied_total` record it.
 * - An MCP 2026-07-28 subscriptions/listen is acknowledged without the denied resource URIs, as
 *   ones the server does not let be watched.
 * On a consumer (or consumer group) it follows that consumer: its allow lists replace the route's,
 * and the route's deny lists still hold.
 */
import { definePlugin } from '../../core/plugin.js';
import type { McpItemKind } from '../../core/context.js';
import { LIST_ITEMS } from '../../core/mcp.js';
import { AccessRules, mergeConfs, type AclConf } from './rules.js';

const patterns = (description: string) => ({
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 1024 },
  maxItems: 1000,
  uniqueItems: true,
  description,
});

/** Tools at the top level, prompts and resources below: one set of rules. */
const ruleSetProperties = {
  allow: patterns('Tool names that may be seen and called (globs: `*` is any run of characters). Absent: every tool not denied.'),
  deny: { ...patterns('Tool names that may not be seen or called, whatever allows them.'), default: [] },
  prompts: {
    type: 'object',
    additionalProperties: false,
    description: 'The same for prompt names (prompts/list, prompts/get).',
    properties: {
      allow: patterns('Prompt names that may be seen and used. Absent: every prompt not denied.'),
      deny: { ...patterns('Prompt names that may not be seen or used.'), default: [] },
    },
  },
  resources: {
    type: 'object',
    additionalProperties: false,
    description:
      'The same for resource URIs (resources/list, resources/read, resources/subscribe) and resource templates (by their uriTemplate text).',
    properties: {
      allow: patterns('Resource URIs that may be listed, read and subscribed to. Absent: every resource not denied.'),
      deny: { ...patterns('Resource URIs that may not be listed, read or subscribed to (`file:///etc/*`).'), default: [] },
    },
  },
};

export const aclSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...ruleSetProperties,
    scopes: {
      type: 'object',
      maxProperties: 100,
      propertyNames: { minLength: 1, maxLength: 256 },
      description:
        'Rules by OAuth scope (the token openid-connect verified): `{"tools:write": {"allow": ["gh_*"]}}` lets tokens with tools:write use gh_* and keeps gh_* from tokens without it (and from clients without a token). A scope held adds its deny lists too.',
      additionalProperties: { type: 'object', additionalProperties: false, properties: ruleSetProperties },
    },
  },
};

/** Requests that name one thing, and the kind of thing they name. */
const NAMED: Readonly<Record<string, McpItemKind>> = {
  'tools/call': 'tool',
  'prompts/get': 'prompt',
  'resources/read': 'resource',
  'resources/subscribe': 'resource',
  'resources/unsubscribe': 'resource',
};

/** What a completion/complete completes for: a prompt's argument, or a resource template's variable. */
function completionKind(message: unknown): McpItemKind | undefined {
  const type = (message as { params?: { ref?: { type?: unknown } } } | undefined)?.params?.ref?.type;
  return type === 'ref/prompt' ? 'prompt' : type === 'ref/resource' ? 'resource_template' : undefined;
}

const NO_SCOPES: readonly string[] = [];

export default definePlugin<AclConf, AccessRules>({
  name: 'mcp-acl',
  version: '1.0.0',
  priority: 2390,
  description: 'Which MCP tools, prompts and resources a client may see and use: glob rules by name, per consumer and per OAuth scope.',
  schema: aclSchema,
  mergeConsumerConf: mergeConfs,
  create: (conf) => new AccessRules(conf),

  access(ctx, _conf, rules) {
    const mcp = ctx.gateway.mcp;
    if (mcp?.kind !== 'request' || mcp.method === undefined) return;
    const scopes = ctx.gateway.authInfo?.scopes ?? NO_SCOPES;
    const named = mcp.method === 'completion/complete' ? completionKind(mcp.message) : NAMED[mcp.method];
    if (named) {
      if (mcp.name !== undefined && !rules.permits(named, mcp.name, scopes)) mcp.refuse('mcp-acl');
      return;
    }
    // An MCP 2026-07-28 subscriptions/listen watches only the resource URIs the filters keep.
    if (Object.hasOwn(LIST_ITEMS, mcp.method) || mcp.method === 'subscriptions/listen') mcp.filterList('mcp-acl', (kind, name) => rules.permits(kind, name, scopes));
  },
});
