/**
 * `/apisix/admin/<kind>/{id}/<path>`: the views and actions a plugin-defined resource offers below
 * a record (core/plugin.ts `ResourceDefinition.endpoints`: an MCP server's status, sessions, logs
 * and tools). They describe what this gateway instance sees, so the instance that answers names
 * itself in the body; the record must exist in the catalog.
 */
import type { Context } from 'koa';
import type { CatalogSnapshot, PluginResourceKind } from '../core/catalog/types.js';
import { GatewayError } from '../core/errors.js';
import type { PluginApi, ResourceEndpoint } from '../core/plugin.js';
import type { PluginRegistry } from '../core/registry.js';
import { fail, NOT_FOUND_KEY } from './errors.js';

export interface EndpointContext {
  registry: PluginRegistry;
  api: PluginApi | undefined;
  snapshot: CatalogSnapshot;
}

export async function serveResourceEndpoint(ctx: Context, kind: PluginResourceKind, id: string, path: string, context: EndpointContext): Promise<void> {
  const definition = context.registry.resource(kind)?.definition;
  const segments = path.split('/').filter(Boolean);
  let found: { endpoint: ResourceEndpoint; params: Record<string, string> } | undefined;
  let otherMethods = false;
  for (const endpoint of definition?.endpoints ?? []) {
    const params = matchPath(endpoint.path, segments);
    if (!params) continue;
    if (endpoint.method === ctx.method) found = { endpoint, params };
    else otherMethods = true;
  }
  if (!found) {
    if (otherMethods) throw fail(405, `not supported \`${ctx.method}\` method`);
    throw fail(404, 'not found');
  }
  if (!context.snapshot.get(kind, id) || !context.api) throw NOT_FOUND_KEY;
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (Array.isArray(value)) throw fail(400, `query parameter ${name} must be given once`);
    if (value !== undefined) query[name] = value;
  }
  try {
    const answer = await found.endpoint.handle({ id, params: found.params, query }, context.api);
    ctx.status = answer.status ?? 200;
    ctx.body = answer.body;
  } catch (err) {
    if (err instanceof GatewayError && err.status < 500) throw fail(err.status, err.message);
    if (err instanceof GatewayError) throw fail(err.status, err.message, { code: err.code });
    throw err;
  }
}

/** The parameters of `pattern` (`sessions/:session_id`) in `segments`, or undefined when it does not match. */
function matchPath(pattern: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = pattern.split('/');
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    if (parts[i].startsWith(':')) params[parts[i].slice(1)] = segments[i];
    else if (parts[i] !== segments[i]) return undefined;
  }
  return params;
}
