/**
 * Turns catalog records into executable routes: merge service, plugin_config and route plugins
 * with APISIX's precedence (route > plugin_config > service), validate every plugin config,
 * create per-route plugin instances, and attach the upstream. Once a consumer is authenticated,
 * its group's plugins and then its own join the chain (Consumer > Consumer Group > Route). A
 * route that cannot be built is not dropped (a request could then fall through to a less
 * protected route): it answers 503.
 */
import type { CatalogRecord, ResourceKind } from '../core/catalog/types.js';
import type { ConsumerInfo, RouteInfo } from '../core/context.js';
import { declaredCredentials } from '../core/credentials.js';
import { VARS_ERROR_PREFIX, type Expression } from '../core/expr.js';
import type { Logger } from '../core/logger.js';
import { buildChain, type Chain, type ChainEntry, type ExecutableRoute } from '../core/pipeline.js';
import { isDisposable, type Plugin, type PluginApi, type RequestOptions } from '../core/plugin.js';
import { isDisabled, type PluginMeta, type PluginRegistry } from '../core/registry.js';
import { bodyNeedsOf } from '../core/request.js';
import type { Upstream, UpstreamTimeouts } from '../core/upstream/upstream.js';
import { compiledVars } from './checks.js';
import type { ConsumerPlugins } from './consumers.js';
import { consumerFence } from './fail-closed.js';
import type { MatcherEntry } from './matcher.js';

export type PluginMap = Record<string, unknown>;

export interface RouteSources {
  id: string;
  route: Record<string, unknown>;
  service?: Record<string, unknown>;
  pluginConfig?: Record<string, unknown>;
  /** Why a referenced record is missing or invalid, if one is. */
  problem?: string;
}

/** A catalog record a compiled route was built from (undefined: it was missing then). */
export interface Dependency {
  kind: ResourceKind;
  id: string;
  record: CatalogRecord | undefined;
}

export interface CompileDeps {
  registry: PluginRegistry;
  api: PluginApi;
  logger: Logger;
  defaultMaxBodyBytes: number;
  /** limits.max_regex_program, for the route's `vars`. */
  maxRegexProgram: number;
  /** What an authenticated consumer adds to a chain (its group's plugins and its own). */
  consumers: { pluginsAfterAuth(consumer: ConsumerInfo): ConsumerPlugins };
}

/**
 * Creates the plugin instances of a plugins map; on failure, disposes what it created and throws.
 * `replacing` is the route's chain when these are a consumer's plugins: a plugin that merges a
 * consumer's config with the route's (`mergeConsumerConf`) gets the route's config from it.
 */
export function createEntries(deps: CompileDeps, plugins: PluginMap, info: RouteInfo, fromConsumer: boolean, replacing?: Chain): ChainEntry[] {
  const entries: ChainEntry[] = [];
  try {
    for (const [name, original] of Object.entries(plugins)) {
      if (isDisabled(original)) continue;
      const plugin = deps.registry.get(name);
      if (!plugin) throw new Error(`plugin ${name} is not loaded`);
      let conf = structuredClone(original);
      // Stored config: a policy tightened since it was written is the plugin's to enforce (checkOnWrite).
      const error = deps.registry.validate(name, conf, 'route', 'load');
      if (error) throw new Error(error);
      const replaced = plugin.mergeConsumerConf && replacing?.entries.find((e) => e.plugin.name === name && !e.fromConsumer);
      if (replaced) conf = plugin.mergeConsumerConf!(replaced.conf, conf);
      // Before create: a plugin that cannot say where its credentials are leaves no instance behind.
      const credentials = declaredCredentials(plugin, conf);
      const instance = plugin.create ? plugin.create(conf, info, deps.api) : undefined;
      const meta = (conf as { _meta?: PluginMeta })._meta;
      entries.push({ plugin, conf, instance, priority: meta?.priority ?? plugin.priority, fromConsumer, credentials });
    }
  } catch (err) {
    disposeEntries(entries, deps.logger);
    throw err;
  }
  return entries;
}

export function disposeEntries(entries: readonly ChainEntry[], logger: Logger): void {
  for (const entry of entries) {
    if (!isDisposable(entry.instance)) continue;
    try {
      const result = entry.instance.dispose();
      if (result instanceof Promise) result.catch((err) => logger.error({ err, plugin: entry.plugin.name }, 'plugin dispose failed'));
    } catch (err) {
      logger.error({ err, plugin: entry.plugin.name }, 'plugin dispose failed');
    }
  }
}

export function mergePlugins(sources: RouteSources): PluginMap {
  return {
    ...((sources.service?.plugins as PluginMap | undefined) ?? {}),
    ...((sources.pluginConfig?.plugins as PluginMap | undefined) ?? {}),
    ...((sources.route.plugins as PluginMap | undefined) ?? {}),
  };
}

export class CompiledRoute implements ExecutableRoute {
  readonly info: RouteInfo;
  readonly chain: Chain;
  readonly options: ExecutableRoute['options'];
  readonly timeout?: UpstreamTimeouts;
  readonly websocket: boolean;
  readonly broken?: string;
  /**
   * What a plugin's write-time policy (checkOnWrite) now refuses in this route's config: the route
   * runs, and that plugin answers its requests with 503 and the reason.
   */
  readonly refusedByPolicy?: string;
  readonly matcherEntry: MatcherEntry<ExecutableRoute>;
  /** The paths its plugins answer outside its uri (Plugin.companionPaths), each matched exactly. */
  readonly companionEntries: MatcherEntry<ExecutableRoute>[];
  private readonly consumerChains = new Map<string, { added: ConsumerPlugins; chain: Chain; own: ChainEntry[] }>();
  private readonly plugins: PluginMap;
  private readonly pluginsUsed: Map<string, Plugin | undefined>;

  constructor(
    private readonly deps: CompileDeps,
    sources: RouteSources,
    readonly dependencies: readonly Dependency[],
    readonly upstream: Upstream | undefined,
    private readonly releaseUpstream: () => void,
  ) {
    const { route, service } = sources;
    // Frozen once the chain says whether the route reads JSON-RPC (jsonRpc, set below).
    const info: { -readonly [K in keyof RouteInfo]: RouteInfo[K] } = {
      id: sources.id,
      name: route.name as string | undefined,
      serviceId: route.service_id === undefined ? undefined : String(route.service_id),
      upstreamId: (route.upstream_id ?? (route.upstream ? undefined : service?.upstream_id)) === undefined
        ? undefined
        : String(route.upstream_id ?? service?.upstream_id),
      labels: route.labels as Record<string, string> | undefined,
      record: route,
    };
    this.info = info;
    this.plugins = mergePlugins(sources);
    this.pluginsUsed = new Map(Object.keys(this.plugins).map((name) => [name, deps.registry.get(name)]));
    this.timeout = route.timeout as UpstreamTimeouts | undefined;
    this.websocket = (route.enable_websocket ?? service?.enable_websocket) === true;
    let broken = sources.problem;
    let entries: ChainEntry[] = [];
    let vars: Expression | undefined;
    if (Array.isArray(route.vars)) {
      try {
        vars = compiledVars(route.vars, deps.maxRegexProgram);
      } catch (err) {
        // Checked when the record was loaded; were it to fail anyway, the route answers 503
        // rather than match without its condition.
        broken ??= VARS_ERROR_PREFIX + (err as Error).message;
      }
    }
    if (!broken) {
      try {
        entries = createEntries(deps, this.plugins, this.info, false);
      } catch (err) {
        broken = (err as Error).message;
      }
    }
    if (broken) deps.logger.error({ route: sources.id, problem: broken }, 'route cannot run; it answers 503 until fixed');
    this.broken = broken;
    this.refusedByPolicy = entries.map((e) => deps.registry.writeRefusal(e.plugin.name, e.conf)).find((refusal) => refusal !== undefined);
    if (this.refusedByPolicy) {
      deps.logger.error({ route: sources.id, problem: this.refusedByPolicy }, 'route config refused by a policy tightened since it was written; its plugin answers 503 until fixed');
    }
    this.chain = buildChain(entries);
    this.options = requestOptionsOf(this.chain, deps.defaultMaxBodyBytes);
    if (this.options.jsonRpc) info.jsonRpc = Object.freeze({ basePath: this.options.jsonRpc.basePath });
    Object.freeze(info);
    const hosts = (route.hosts as string[] | undefined) ?? (route.host ? [route.host as string] : (service?.hosts as string[] | undefined));
    const remoteAddrs = (route.remote_addrs as string[] | undefined) ?? (route.remote_addr ? [route.remote_addr as string] : undefined);
    const priority = (route.priority as number | undefined) ?? 0;
    this.matcherEntry = {
      value: this,
      uris: (route.uris as string[] | undefined) ?? [route.uri as string],
      hosts,
      methods: route.methods as string[] | undefined,
      remoteAddrs,
      priority,
      vars,
      bodyNeeds: vars && bodyNeedsOf(vars.variables),
    };
    this.companionEntries = this.broken ? [] : companionsOf(this.chain, info, this.options.maxBodyBytes, deps.logger).map(({ route: companion, paths }) => ({
      value: companion,
      uris: paths,
      hosts,
      remoteAddrs,
      priority,
    }));
  }

  /** False when a plugin this route names was reloaded, removed or added since it was compiled. */
  usesCurrentPlugins(registry: PluginRegistry): boolean {
    for (const [name, used] of this.pluginsUsed) {
      if (registry.get(name) !== used) return false;
    }
    return true;
  }

  /**
   * The chain once `consumer` is authenticated: its group's plugins, then its own, override the
   * route's (Consumer > Consumer Group > Route). Instances live as long as this route version and
   * that consumer's plugins (every credential of one consumer shares them), created on first use.
   * A consumer whose plugins cannot be known or built (its group is gone) answers 503.
   */
  chainFor(consumer: ConsumerInfo): Chain {
    const added = this.deps.consumers.pluginsAfterAuth(consumer);
    const cached = this.consumerChains.get(consumer.username);
    // A consumer that adds nothing (one without plugins, or an identity a token named that is
    // no catalog consumer) runs the route's chain: nothing is kept per consumer for it.
    if (!added.problem && Object.keys(added.plugins).length === 0) {
      if (cached) {
        disposeEntries(cached.own, this.deps.logger);
        this.consumerChains.delete(consumer.username);
      }
      return this.chain;
    }
    if (cached && cached.added === added && cached.own.every((e) => this.deps.registry.get(e.plugin.name) === e.plugin)) return cached.chain;
    if (cached) disposeEntries(cached.own, this.deps.logger);
    let chain = this.chain;
    let own: ChainEntry[] = [];
    let problem = added.problem;
    if (!problem && Object.keys(added.plugins).length > 0) {
      try {
        own = createEntries(this.deps, added.plugins, Object.freeze({ ...this.info, consumer: consumer.username }), true, this.chain);
        const kept = this.chain.entries.filter((e) => !Object.hasOwn(added.plugins, e.plugin.name));
        chain = buildChain([...kept, ...own]);
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    if (problem) {
      this.deps.logger.error({ route: this.info.id, consumer: consumer.username, problem }, "consumer's plugins cannot run; its requests answer 503");
      chain = buildChain([...this.chain.entries, consumerFence(problem)]);
    }
    this.consumerChains.set(consumer.username, { added, chain, own });
    return chain;
  }

  dispose(): void {
    disposeEntries(this.chain.entries, this.deps.logger);
    for (const { own } of this.consumerChains.values()) disposeEntries(own, this.deps.logger);
    this.consumerChains.clear();
    this.releaseUpstream();
  }
}

/**
 * Folds what the route's plugins ask of the core. A plugin may raise or lower the gateway-wide
 * body limit for its route; when several ask, the smallest wins.
 */
function requestOptionsOf(chain: Chain, defaultMaxBodyBytes: number): ExecutableRoute['options'] {
  let asked: number | undefined;
  let jsonRpc: RequestOptions['jsonRpc'];
  for (const entry of chain.entries) {
    const options = entry.plugin.requestOptions?.(entry.conf);
    if (!options) continue;
    if (options.maxBodyBytes !== undefined) asked = Math.min(asked ?? Infinity, options.maxBodyBytes);
    if (options.jsonRpc) jsonRpc = options.jsonRpc;
  }
  return { maxBodyBytes: asked ?? defaultMaxBodyBytes, jsonRpc };
}

/**
 * A path a plugin answers for its route outside the route's uri (Plugin.companionPaths): it runs
 * the global rules, then that plugin's `serveCompanion` with the route's instance, as content.
 * The instance belongs to the route, which disposes it; a companion never does.
 */
class CompanionRoute implements ExecutableRoute {
  readonly chain: Chain;
  readonly options: ExecutableRoute['options'];

  constructor(
    readonly info: RouteInfo,
    entry: ChainEntry,
    maxBodyBytes: number,
  ) {
    const { plugin } = entry;
    const answer: Plugin = { name: plugin.name, version: plugin.version, priority: plugin.priority, schema: plugin.schema, content: plugin.serveCompanion };
    this.chain = buildChain([{ ...entry, plugin: answer }]);
    this.options = { maxBodyBytes };
  }

  chainFor(): Chain {
    return this.chain;
  }
}

function companionsOf(chain: Chain, info: RouteInfo, maxBodyBytes: number, logger: Logger): Array<{ route: CompanionRoute; paths: string[] }> {
  const out: Array<{ route: CompanionRoute; paths: string[] }> = [];
  for (const entry of chain.entries) {
    if (!entry.plugin.companionPaths) continue;
    let paths: readonly string[];
    try {
      paths = entry.plugin.companionPaths(entry.conf);
    } catch (err) {
      logger.error({ route: info.id, plugin: entry.plugin.name, err }, 'companionPaths failed; the plugin answers no path outside the route');
      continue;
    }
    const valid = paths.filter((path) => typeof path === 'string' && path.startsWith('/') && !path.includes('*') && !path.includes(':'));
    if (valid.length > 0) out.push({ route: new CompanionRoute(info, entry, maxBodyBytes), paths: [...new Set(valid)] });
  }
  return out;
}
