/**
 * `/apisix/admin/<kind>/{id}/<path>`: the views and actions a plugin-defined resource offers below
 * a record (core/plugin.ts `ResourceDefinition.endpoints`: an MCP server's status, sessions, logs
 * and tools). They describe what this gateway process sees, so the process that answers names
 * itself in the body; the record must exist in the catalog.
 *
 * Several processes (workers, instances) each see their own part: `?scope=cluster` on a GET asks
 * every other gateway process too (over the relay listeners, core/relay) and answers with each
 * one's body, lists merged; a DELETE that finds nothing here (a session another process owns) is
 * tried on the others, so ending a session works from any instance.
 */
import type { Context } from 'koa';
import type { CatalogSnapshot, PluginResourceKind } from '../core/catalog/types.js';
import { formatListen } from '../core/config.js';
import { GatewayError } from '../core/errors.js';
import type { PluginApi, ResourceEndpoint } from '../core/plugin.js';
import type { PeerAnswer } from '../core/relay/relay.js';
import type { PluginRegistry } from '../core/registry.js';
import { AdminError, fail, NOT_FOUND_KEY } from './errors.js';

export interface EndpointContext {
  registry: PluginRegistry;
  api: PluginApi | undefined;
  snapshot: CatalogSnapshot;
  /** The other gateway processes of the deployment, when requests are relayed between them. */
  cluster?: { ask(method: 'GET' | 'DELETE', path: string): Promise<PeerAnswer[]> };
}

interface Answer {
  status: number;
  body: unknown;
}

export async function serveResourceEndpoint(ctx: Context, kind: PluginResourceKind, id: string, path: string, context: EndpointContext): Promise<void> {
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (Array.isArray(value)) throw fail(400, `query parameter ${name} must be given once`);
    if (value !== undefined) query[name] = value;
  }
  const { scope = 'local', ...rest } = query;
  if (scope !== 'local' && scope !== 'cluster') throw fail(400, 'scope must be local or cluster');
  const method = ctx.method as 'GET' | 'DELETE';
  const local = await runLocally(method, kind, id, path, rest, context);
  const question = `resource/${encodeURIComponent(kind)}/${encodeURIComponent(id)}/${path}${Object.keys(rest).length > 0 ? `?${new URLSearchParams(rest)}` : ''}`;
  let answer = local;
  if (method === 'GET' && scope === 'cluster') {
    answer = combine(local, (await context.cluster?.ask('GET', question)) ?? []);
  } else if (method === 'DELETE' && local.status === 404 && context.cluster) {
    const found = (await context.cluster.ask('DELETE', question)).find((peer) => peer.status !== undefined && peer.status < 300);
    if (found) answer = { status: found.status!, body: found.body };
  }
  ctx.status = answer.status;
  ctx.body = answer.body;
}

/**
 * Another gateway process's question (`resource/<kind>/<id>/<path>?query`, from the relay
 * listener): this process's own answer, never asked further.
 */
export async function answerResourceQuestion(method: string, question: string, context: EndpointContext): Promise<Answer> {
  const url = new URL(question, 'http://internal/');
  const [, area, kind, id, ...path] = url.pathname.split('/');
  if (area !== 'resource' || !kind || !id || (method !== 'GET' && method !== 'DELETE')) return { status: 404, body: { error_msg: 'not found' } };
  if (!context.registry.resource(decodeURIComponent(kind) as PluginResourceKind)) return { status: 404, body: { error_msg: 'not found' } };
  const query = Object.fromEntries(url.searchParams);
  try {
    return await runLocally(method, decodeURIComponent(kind) as PluginResourceKind, decodeURIComponent(id), path.join('/'), query, context);
  } catch (err) {
    if (err instanceof AdminError) return { status: err.status, body: err.body };
    throw err;
  }
}

/** This process's answer; errors of the endpoint become their status and `error_msg`. */
async function runLocally(method: string, kind: PluginResourceKind, id: string, path: string, query: Record<string, string>, context: EndpointContext): Promise<Answer> {
  const definition = context.registry.resource(kind)?.definition;
  const segments = path.split('/').filter(Boolean);
  let found: { endpoint: ResourceEndpoint; params: Record<string, string> } | undefined;
  let otherMethods = false;
  for (const endpoint of definition?.endpoints ?? []) {
    const params = matchPath(endpoint.path, segments);
    if (!params) continue;
    if (endpoint.method === method) found = { endpoint, params };
    else otherMethods = true;
  }
  if (!found) {
    if (otherMethods) throw fail(405, `not supported \`${method}\` method`);
    throw fail(404, 'not found');
  }
  if (!context.snapshot.get(kind, id) || !context.api) throw NOT_FOUND_KEY;
  try {
    const answer = await found.endpoint.handle({ id, params: found.params, query }, context.api);
    return { status: answer.status ?? 200, body: answer.body };
  } catch (err) {
    if (err instanceof GatewayError && err.status < 500) return { status: err.status, body: { error_msg: err.message } };
    if (err instanceof GatewayError) throw fail(err.status, err.message, { code: err.code });
    throw err;
  }
}

/**
 * Every process's answer: `instances` holds each body (each names its `instance`), and when the
 * bodies are lists (`total`, `list`) they are merged too, each item naming its instance.
 */
function combine(local: Answer, peers: readonly PeerAnswer[]): Answer {
  if (local.status >= 300) return local;
  const bodies = [local.body, ...peers.filter((p) => p.status !== undefined && p.status < 300).map((p) => p.body)];
  const unreachable = peers
    .filter((p) => p.status === undefined || p.status >= 300)
    .map((p) => ({ address: formatListen(p.address), error: p.error ?? `status ${p.status}` }));
  const body: Record<string, unknown> = { scope: 'cluster', instances: bodies, unreachable };
  const lists = bodies.map((b) => (b as { list?: unknown; instance?: string } | undefined));
  if (lists.every((b) => Array.isArray(b?.list))) {
    const list = lists.flatMap((b) => (b!.list as Array<Record<string, unknown>>).map((item) => ({ instance: b!.instance, ...item })));
    body.total = list.length;
    body.list = list;
  }
  return { status: 200, body };
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
