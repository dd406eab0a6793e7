/**
 * Plugin chains and how a phase runs over one. A chain is built once per route version (sorted by
 * priority, split by phase) so the request path only walks arrays.
 */
import type { ConsumerInfo, GatewayContext, RouteInfo } from './context.js';
import { credentialNamesOf, type CredentialNames, type CredentialSources } from './credentials.js';
import type { Phase, Plugin, RequestOptions } from './plugin.js';
import type { BodyNeeds, RequestVariables } from './request.js';
import type { Upstream, UpstreamTimeouts } from './upstream/upstream.js';

export interface ChainEntry {
  readonly plugin: Plugin;
  readonly conf: any;
  readonly instance: unknown;
  /** The plugin's priority, or the instance's `_meta.priority`. */
  readonly priority: number;
  /** Merged in from the authenticated consumer (its rewrite runs after authentication). */
  readonly fromConsumer?: boolean;
  /** What the plugin declared for this config (`Plugin.credentials`), read once when the entry was created. */
  readonly credentials?: CredentialSources;
}

export interface Chain {
  readonly entries: readonly ChainEntry[];
  readonly rewrite: readonly ChainEntry[];
  readonly access: readonly ChainEntry[];
  readonly content?: ChainEntry;
  readonly headerFilter: readonly ChainEntry[];
  readonly bodyFilter: readonly ChainEntry[];
  readonly log: readonly ChainEntry[];
  /** Where this chain's plugins read credentials, with the standard names: what logs redact. */
  readonly credentials: CredentialNames;
}

export function buildChain(entries: readonly ChainEntry[]): Chain {
  const sorted = [...entries].sort((a, b) => b.priority - a.priority);
  const having = (phase: Phase) =>
    sorted.filter((e) => typeof e.plugin[phase] === 'function' && (phase !== 'bodyFilter' || e.plugin.filtersBody?.(e.conf) !== false));
  return {
    entries: sorted,
    rewrite: having('rewrite'),
    access: having('access'),
    content: having('content')[0],
    headerFilter: having('headerFilter'),
    bodyFilter: having('bodyFilter'),
    log: having('log'),
    credentials: credentialNamesOf(sorted.map((e) => e.credentials)),
  };
}

export const EMPTY_CHAIN: Chain = buildChain([]);

/** A matched route, ready to run. Built by routes/ from the catalog; the core only executes it. */
export interface ExecutableRoute {
  readonly info: RouteInfo;
  readonly chain: Chain;
  readonly upstream?: Upstream;
  readonly timeout?: UpstreamTimeouts;
  /** WebSocket upgrades are proxied (APISIX's `enable_websocket`, the route's or its service's). */
  readonly websocket?: boolean;
  readonly options: Required<Pick<RequestOptions, 'maxBodyBytes'>> & Pick<RequestOptions, 'jsonRpc'>;
  /** Set when the route cannot run (a dangling reference, an invalid plugin): it answers 503. */
  readonly broken?: string;
  /** The route's chain with the consumer's own plugins merged in (cached per consumer version). */
  chainFor(consumer: ConsumerInfo): Chain;
}

export interface RouteMatch {
  readonly route: ExecutableRoute;
  readonly params: Record<string, string>;
  /**
   * The lookup stopped at `route`, whose `vars` read the request body (`post_arg_*`, `mcp_*`),
   * before the body was read: the core reads it within `route`'s limits and matches again.
   */
  readonly needsBody?: BodyNeeds;
  /** The route's uri pattern that matched (one of its `uris`). */
  readonly uri: string;
  /** The route's host pattern that matched (`*.example.com`); undefined for a route without hosts. */
  readonly host?: string;
}

export interface RouteResolver {
  /** The route for a request; `vars` is what routes' `vars` rules read (the request's state). */
  match(method: string, host: string, path: string, clientIp: string, vars: RequestVariables): RouteMatch | undefined;
  /** Plugins of every global rule, merged; they run before route plugins in every phase. */
  globalChain(): Chain;
}

/**
 * Runs one request phase (rewrite, access) over `entries`. Returns true when a plugin answered
 * the request (set a body, or took over the response), which ends the request phases. The plugin
 * that ended the request (answered or threw) is noted in `ctx.gateway.answeredBy` for the logs
 * and the rejections metric.
 */
export async function runPhase(
  phase: 'rewrite' | 'access',
  entries: readonly ChainEntry[],
  ctx: GatewayContext,
  only?: (entry: ChainEntry) => boolean,
): Promise<boolean> {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (only && !only(entry)) continue;
    try {
      const result = entry.plugin[phase]!(ctx, entry.conf, entry.instance);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') await result;
    } catch (err) {
      ctx.gateway.answeredBy = entry.plugin.name;
      throw err;
    }
    if (ctx.body !== undefined || ctx.respond === false) {
      ctx.gateway.answeredBy = entry.plugin.name;
      return true;
    }
  }
  return false;
}

/** Runs headerFilter handlers; errors propagate (headers are not sent yet, so a 500 can still go out). */
export async function runHeaderFilters(entries: readonly ChainEntry[], ctx: GatewayContext): Promise<void> {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const result = entry.plugin.headerFilter!(ctx, entry.conf, entry.instance);
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') await result;
  }
}

/** Passes a body chunk through every bodyFilter in order. */
export function runBodyFilters(entries: readonly ChainEntry[], ctx: GatewayContext, chunk: Buffer, eof: boolean): Buffer {
  let out = chunk;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const replaced = entry.plugin.bodyFilter!(ctx, entry.conf, entry.instance, out, eof);
    if (replaced) out = replaced;
  }
  return out;
}
