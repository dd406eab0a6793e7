/**
 * The live route table: follows the catalog, recompiles what changed, and swaps a new matcher in
 * atomically. Requests in flight keep the route objects they matched; a route version that is
 * replaced or deleted has its plugin instances disposed and its upstream released after the swap
 * (an upstream keeps its connections until its last request in flight has ended: it drains).
 * Unchanged routes (no record they were built from changed) keep their instances, so an unrelated change never resets
 * a rate limiter or drops an MCP session.
 */
import { RefCountedMap, type Held } from '../core/ref-counted-map.js';
import { PLUGIN_RESOURCE_KINDS, type Catalog, type CatalogRecord, type CatalogSnapshot, type ModelResourceKind, type PluginResourceKind, type ResourceKind } from '../core/catalog/types.js';
import type { GatewayConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { EntryProblem } from '../core/status.js';
import type { Chain, ExecutableRoute, RouteMatch, RouteResolver } from '../core/pipeline.js';
import type { PluginRegistry } from '../core/registry.js';
import type { RequestVariables } from '../core/request.js';
import { Upstream, type PoolRegistry, type UpstreamDefinition } from '../core/upstream/upstream.js';
import { CompiledRoute, disposeEntries, mergePlugins, type CompileDeps, type Dependency, type RouteSources } from './compiler.js';
import type { ConsumerDirectory } from './consumers.js';
import type { PluginApi, ResourceLookup, UpstreamDirectory, UpstreamLease } from '../core/plugin.js';
import { recordProblem, routeVarsProblem, storedValue } from './checks.js';
import { brokenRouteMatch } from './fail-closed.js';
import { compileGlobalRules, NO_GLOBAL_RULES, type GlobalRules } from './global-rules.js';
import { RouteMatcher } from './matcher.js';
import { pluginResourceProblem } from './plugin-resources.js';
import { RESOURCE_VALIDATORS, type Resources } from './schemas.js';

interface TableState {
  revision: number;
  matcher: RouteMatcher<ExecutableRoute>;
  routes: Map<string, CompiledRoute>;
  global: GlobalRules;
  /** Routes left out or answering 503, for /status. */
  problems: EntryProblem[];
}

export interface RouteTableOptions {
  catalog: Catalog;
  registry: PluginRegistry;
  /** The consumers the table keeps current; the same directory serves auth plugins through the api. */
  consumers: ConsumerDirectory;
  /** Handed to every plugin instance the table creates. */
  api: PluginApi;
  pools: PoolRegistry;
  config: Readonly<GatewayConfig>;
  logger: Logger;
}

export class RouteTable implements RouteResolver {
  readonly consumers: ConsumerDirectory;
  private state: TableState = {
    revision: -1,
    matcher: new RouteMatcher<ExecutableRoute>([]),
    routes: new Map(),
    global: NO_GLOBAL_RULES,
    problems: [],
  };
  /** Upstreams by definition, shared by the route versions and plugin instances that use one; the last release disposes it. */
  private readonly upstreams = new RefCountedMap<Upstream>((upstream) => upstream.dispose());
  /** Stored upstreams that plugins asked for by id, held (in `upstreams`) while their record is current. */
  private readonly heldById = new Map<string, { record: CatalogRecord; held: Held<Upstream> }>();
  /** What plugins that choose a request's upstream use (PluginApi.upstreams): shares `upstreams` with the routes. */
  readonly upstreamDirectory: UpstreamDirectory = {
    acquire: (definition) => this.leaseInline(definition),
    byId: (id) => this.upstreamById(id),
  };
  /** Validated records (or why not) by kind, then by id and version. */
  private readonly validated: { readonly [K in ModelResourceKind]: Map<string, Resources[K] | string> } = {
    routes: new Map(),
    services: new Map(),
    upstreams: new Map(),
    consumers: new Map(),
    global_rules: new Map(),
    plugin_configs: new Map(),
    consumer_groups: new Map(),
    credentials: new Map(),
  };
  /** Plugin metadata checked against its plugin's metadataSchema, per record version and plugin version. */
  private readonly metadata = new WeakMap<object, { plugin: object; result: Readonly<Record<string, unknown>> | string }>();
  /** Records of plugin-defined kinds checked against their definition, per record version and plugin version. */
  private readonly pluginResources = new WeakMap<object, { plugin: object; result: NonNullable<ResourceLookup> }>();
  private readonly deps: CompileDeps;
  private unsubscribe?: () => void;
  private rebuilding = false;
  private closed = false;
  private rebuildAgain = false;
  private waiters: Array<{ revision: number; resolve: () => void }> = [];

  constructor(private readonly options: RouteTableOptions) {
    this.consumers = options.consumers;
    this.deps = {
      registry: options.registry,
      api: options.api,
      logger: options.logger,
      defaultMaxBodyBytes: options.config.limits.max_body_bytes,
      maxRegexProgram: options.config.limits.max_regex_program,
      consumers: options.consumers,
    };
  }

  /** Builds from the current snapshot and follows every later change. */
  start(): void {
    this.unsubscribe = this.options.catalog.onChange(() => this.scheduleRebuild());
    this.rebuildSafely();
  }

  /** Catalog entries this gateway cannot use as stored: left out, or answering 503 (for /status). */
  problems(): EntryProblem[] {
    const metadata: EntryProblem[] = [];
    for (const name of this.options.catalog.snapshot().list('plugin_metadata').keys()) {
      const checked = this.checkedMetadata(name);
      if (typeof checked === 'string') metadata.push({ kind: 'plugin_metadata', id: name, error: checked, effect: 'skipped' });
    }
    const resources: EntryProblem[] = [];
    for (const kind of PLUGIN_RESOURCE_KINDS) {
      for (const id of this.options.catalog.snapshot().list(kind).keys()) {
        const checked = this.pluginResource(kind, id);
        if (checked && 'error' in checked) resources.push({ kind, id, error: checked.error, effect: 'skipped' });
      }
    }
    return [...this.state.problems, ...this.state.global.problems, ...this.consumers.problems, ...metadata, ...resources];
  }

  /**
   * A record of a kind a plugin defines, as the catalog holds it now, checked against the
   * definition of the plugin loaded now (defaults filled; what PluginApi.resource answers).
   * A record no loaded plugin defines, or that does not pass, is an error: its users answer 503.
   */
  pluginResource(kind: PluginResourceKind, id: string): ResourceLookup {
    const record = this.options.catalog.snapshot().get(kind, id);
    if (!record) return undefined;
    const plugin = this.options.registry.resource(kind)?.plugin ?? this;
    const cached = this.pluginResources.get(record);
    if (cached?.plugin === plugin) return cached.result;
    const value = storedValue(record.value);
    let result: NonNullable<ResourceLookup>;
    if (typeof value === 'string') result = { error: value };
    else {
      const problem = pluginResourceProblem(this.options.registry, kind, value, 'load');
      result = problem ? { error: problem } : { value: Object.freeze(value) };
    }
    if ('error' in result) this.options.logger.error({ kind, id, error: result.error }, 'invalid record in catalog; what uses it answers 503');
    this.pluginResources.set(record, { plugin, result });
    return result;
  }

  /**
   * A plugin's metadata as stored, when it passes the plugin's metadataSchema; undefined when
   * there is none or it does not (a record written straight into the store): the plugin then runs
   * on its defaults instead of failing every request on a bad value.
   */
  pluginMetadata(name: string): Readonly<Record<string, unknown>> | undefined {
    const checked = this.checkedMetadata(name);
    return typeof checked === 'string' ? undefined : checked;
  }

  private checkedMetadata(name: string): Readonly<Record<string, unknown>> | string | undefined {
    const record = this.options.catalog.snapshot().get('plugin_metadata', name);
    const plugin = this.options.registry.get(name);
    if (!record || !plugin) return undefined;
    const cached = this.metadata.get(record);
    if (cached?.plugin === plugin) return cached.result;
    const value = storedValue(record.value);
    let result: Readonly<Record<string, unknown>> | string = value;
    if (typeof value !== 'string') {
      delete value.id;
      // The checked copy: its defaults filled (they are not stored), without the record's id.
      result = this.options.registry.validate(name, value, 'metadata') ?? Object.freeze(value);
    }
    if (typeof result === 'string') this.options.logger.error({ pluginMetadata: name, error: result }, 'invalid plugin metadata in catalog; the plugin runs without it');
    this.metadata.set(record, { plugin, result });
    return result;
  }

  match(method: string, host: string, path: string, clientIp: string, vars: RequestVariables): RouteMatch | undefined {
    const hit = this.state.matcher.match(method, host, path, clientIp, vars);
    if (!hit) return undefined;
    return { route: hit.value, params: hit.params, needsBody: hit.needsBody, uri: hit.uri, host: hit.host };
  }

  globalChain(): Chain {
    return this.state.global.chain;
  }

  get revision(): number {
    return this.state.revision;
  }

  get size(): number {
    return this.state.routes.size;
  }

  route(id: string): CompiledRoute | undefined {
    return this.state.routes.get(id);
  }

  /** Resolves once the table includes catalog revision `revision` (or after `timeoutMs`). */
  waitForRevision(revision: number, timeoutMs = 2000): Promise<void> {
    if (this.state.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = { revision, resolve: done };
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(waiter);
    });
  }

  /**
   * After a plugin reload: recompiles the routes (and global rules) that use a plugin whose loaded
   * version changed or that is gone; every other route keeps its instances and sessions.
   */
  refreshPlugins(): Promise<void> {
    const done = new Promise<void>((resolve) => this.waiters.push({ revision: -1, resolve }));
    this.scheduleRebuild();
    return done;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    for (const route of this.state.routes.values()) route.dispose();
    disposeEntries(this.state.global.chain.entries, this.options.logger);
    this.state = { ...this.state, routes: new Map(), matcher: new RouteMatcher<ExecutableRoute>([]), global: NO_GLOBAL_RULES, problems: [] };
    this.upstreams.clear();
    this.heldById.clear();
  }

  /** An inline upstream for a plugin instance, shared with identical ones (a route's included). */
  private leaseInline(definition: unknown): UpstreamLease {
    const value = validRecord('upstreams', definition);
    if (typeof value === 'string') throw new Error(value);
    // Validated with its defaults, as a route's inline upstream is: identical ones share one key.
    const held = this.acquireUpstream(`inline:${JSON.stringify(value)}`, value);
    return {
      upstream: held.value,
      release: () => {
        if (!this.closed) held.release();
      },
    };
  }

  private upstreamById(id: string): Upstream | undefined {
    if (this.closed) return undefined;
    const record = this.options.catalog.snapshot().get('upstreams', id);
    const held = this.heldById.get(id);
    if (held && held.record === record) return held.held.value;
    if (held) {
      this.heldById.delete(id);
      held.held.release();
    }
    if (!record) return undefined;
    const value = validRecord('upstreams', record.value);
    if (typeof value === 'string') return undefined;
    const lease = this.acquireUpstream(`id:${id}@${record.modifiedIndex}`, value);
    this.heldById.set(id, { record, held: lease });
    return lease.value;
  }

  /** Lets go of stored upstreams whose record changed or went: they drain like a replaced route's. */
  private releaseStaleById(snapshot: CatalogSnapshot): void {
    for (const [id, held] of this.heldById) {
      if (snapshot.get('upstreams', id) === held.record) continue;
      this.heldById.delete(id);
      held.held.release();
    }
  }

  private scheduleRebuild(): void {
    if (this.rebuilding) {
      this.rebuildAgain = true;
      return;
    }
    this.rebuilding = true;
    // Coalesce a burst of changes (a reload, a script of Admin calls) into one rebuild.
    queueMicrotask(() => {
      try {
        do {
          this.rebuildAgain = false;
          this.rebuildSafely();
        } while (this.rebuildAgain);
      } finally {
        this.rebuilding = false;
      }
    });
  }

  /**
   * Every record is checked when it is loaded, so a rebuild should not throw; if one ever does,
   * the previous table keeps serving rather than the process ending (a rebuild runs in a microtask).
   */
  private rebuildSafely(): void {
    try {
      this.rebuild();
    } catch (err) {
      this.options.logger.error({ err }, 'route table rebuild failed; the previous table keeps serving');
    }
  }

  private rebuild(): void {
    if (this.closed) return;
    const snapshot = this.options.catalog.snapshot();
    this.consumers.update(snapshot);
    const previous = this.state;
    const routes = new Map<string, CompiledRoute>();
    const problems: EntryProblem[] = [];
    const liveValidations = new Set<string>();
    for (const [id, record] of snapshot.list('routes')) {
      const existing = previous.routes.get(id);
      // The common case on a big table: this route and what it references did not change.
      if (existing && existing.usesCurrentPlugins(this.options.registry) && stillCurrent(existing.dependencies, snapshot)) {
        routes.set(id, existing);
        continue;
      }
      const route = this.load(snapshot, 'routes', id, liveValidations);
      if (typeof route === 'string') {
        const fenced = this.fenceInvalidRoute(snapshot, id, record, route, liveValidations);
        if (fenced) routes.set(id, fenced);
        else problems.push({ kind: 'routes', id, error: route, effect: 'skipped' });
        continue;
      }
      if (route.status === 0) continue;
      const sources = this.resolveSources(snapshot, id, route, liveValidations);
      routes.set(id, this.compileRoute(snapshot, sources, this.dependenciesOf(snapshot, record, sources), liveValidations));
    }
    const global = compileGlobalRules(snapshot, previous.global, this.deps, (id) => this.load(snapshot, 'global_rules', id, liveValidations));
    for (const cache of Object.values(this.validated)) for (const key of cache.keys()) if (!liveValidations.has(key)) cache.delete(key);

    for (const [id, route] of routes) {
      const error = route.broken ?? route.refusedByPolicy;
      if (error) problems.push({ kind: 'routes', id, error, effect: 'answers 503' });
    }
    const matcher = new RouteMatcher([...routes.values()].flatMap((r) => [r.matcherEntry, ...r.companionEntries]), (route, err) => {
      this.options.logger.error({ route: route.info.id, error: err.message }, 'route cannot be matched; skipped');
      problems.push({ kind: 'routes', id: route.info.id, error: err.message, effect: 'skipped' });
    });
    this.state = { revision: snapshot.revision, matcher, routes, global, problems };

    for (const [id, route] of previous.routes) if (routes.get(id) !== route) route.dispose();
    this.releaseStaleById(snapshot);
    if (global !== previous.global) disposeEntries(previous.global.chain.entries, this.options.logger);
    const ready = this.waiters.filter((w) => w.revision <= snapshot.revision);
    this.waiters = this.waiters.filter((w) => w.revision > snapshot.revision);
    for (const waiter of ready) waiter.resolve();
  }

  /**
   * A route record that fails validation is kept as a route answering 503 on what it could match
   * (fail-closed.ts): left out, its requests would fall through to a broader route. Undefined when
   * it can match nothing (no usable uri, or disabled).
   */
  private fenceInvalidRoute(snapshot: CatalogSnapshot, id: string, record: CatalogRecord, error: string, live: Set<string>): CompiledRoute | undefined {
    const salvaged = brokenRouteMatch(record.value, id, this.deps.maxRegexProgram);
    if (!salvaged) {
      this.options.logger.error({ route: id, error }, 'invalid route in catalog; it can match no request, skipped');
      return undefined;
    }
    if (salvaged.widened.length > 0) {
      this.options.logger.error({ route: id, widened: salvaged.widened }, 'invalid route in catalog: matching fields it cannot read match anything while it answers 503');
    }
    const sources = this.resolveSources(snapshot, id, salvaged.route, live);
    sources.problem = error;
    return this.compileRoute(snapshot, sources, this.dependenciesOf(snapshot, record, sources), live);
  }

  private compileRoute(snapshot: CatalogSnapshot, sources: RouteSources, dependencies: Dependency[], live: Set<string>): CompiledRoute {
    const { route, service } = sources;
    let upstream: Held<Upstream> | undefined;
    if (!sources.problem) {
      try {
        const resolved = this.resolveUpstream(snapshot, sources.id, route, service, live);
        if (resolved) upstream = this.acquireUpstream(resolved.key, resolved.definition);
      } catch (err) {
        sources.problem = (err as Error).message;
      }
    }
    return new CompiledRoute(this.deps, sources, dependencies, upstream?.value, () => upstream?.release());
  }

  private resolveSources(snapshot: CatalogSnapshot, id: string, route: Record<string, unknown>, live: Set<string>): RouteSources {
    const sources: RouteSources = { id, route };
    if (route.service_id !== undefined) {
      const service = this.load(snapshot, 'services', String(route.service_id), live);
      if (typeof service === 'string') sources.problem = `service ${route.service_id}: ${service}`;
      else sources.service = service;
    }
    if (route.plugin_config_id !== undefined) {
      const pluginConfig = this.load(snapshot, 'plugin_configs', String(route.plugin_config_id), live);
      if (typeof pluginConfig === 'string') sources.problem = `plugin_config ${route.plugin_config_id}: ${pluginConfig}`;
      else sources.pluginConfig = pluginConfig;
    }
    return sources;
  }

  private resolveUpstream(
    snapshot: CatalogSnapshot,
    routeId: string,
    route: Record<string, unknown>,
    service: Record<string, unknown> | undefined,
    live: Set<string>,
  ): { key: string; definition: UpstreamDefinition } | undefined {
    const owner = route.upstream || route.upstream_id !== undefined ? route : service;
    if (!owner) return undefined;
    if (owner.upstream) {
      const definition = owner.upstream as UpstreamDefinition;
      return { key: `inline:${JSON.stringify(definition)}`, definition };
    }
    if (owner.upstream_id === undefined) return undefined;
    const id = String(owner.upstream_id);
    const record = snapshot.get('upstreams', id);
    const upstream = this.load(snapshot, 'upstreams', id, live);
    if (typeof upstream === 'string' || !record) throw new Error(`upstream ${id} of route ${routeId}: ${upstream}`);
    return { key: `id:${id}@${record.modifiedIndex}`, definition: upstream };
  }

  private acquireUpstream(key: string, definition: UpstreamDefinition): Held<Upstream> {
    const { upstream } = this.options.config;
    return this.upstreams.acquire(
      key,
      () =>
        new Upstream(definition, this.options.pools, {
          timeout: upstream.timeout,
          keepaliveConnections: upstream.keepalive_connections,
          keepaliveTimeout: upstream.keepalive_timeout,
        }),
    );
  }

  /**
   * A catalog record, validated against its resource schema (defaults filled) and the checks the
   * Admin API applies on write (routes/checks.ts), cached by version. Returns the error message
   * for a missing or invalid record.
   */
  private load<K extends ModelResourceKind>(snapshot: CatalogSnapshot, kind: K, id: string, live: Set<string>): Resources[K] | string {
    const record = snapshot.get(kind, id);
    if (!record) return 'not found';
    const key = `${kind}/${id}@${record.modifiedIndex}`;
    live.add(key);
    const cache: Map<string, Resources[K] | string> = this.validated[kind];
    let cached = cache.get(key);
    if (cached === undefined) {
      cached = validRecord(kind, record.value);
      if (kind === 'routes' && typeof cached !== 'string') cached = routeVarsProblem(cached, this.deps.maxRegexProgram) ?? cached;
      cache.set(key, cached);
    }
    return cached;
  }

  /**
   * Every record a compiled route was built from, the records its plugins refer to included (an
   * MCP server): if none changed, the compiled route is reusable.
   */
  private dependenciesOf(snapshot: CatalogSnapshot, record: CatalogRecord, sources: RouteSources): Dependency[] {
    const deps = dependenciesOf(snapshot, record, sources.route);
    for (const ref of this.options.registry.referencesOf(mergePlugins(sources))) {
      deps.push({ kind: ref.kind, id: ref.id, record: snapshot.get(ref.kind, ref.id) });
    }
    return deps;
  }
}

/** Why `definition` cannot be an upstream (the checks the Admin API runs on one), or undefined: plugins' ResourceChecks.upstream. */
export function upstreamDefinitionProblem(definition: unknown): string | undefined {
  const value = validRecord('upstreams', definition);
  return typeof value === 'string' ? value : undefined;
}

function validRecord<K extends ModelResourceKind>(kind: K, stored: unknown): Resources[K] | string {
  const value = storedValue(stored);
  if (typeof value === 'string') return value;
  const valid = RESOURCE_VALIDATORS[kind].parse(value);
  if (typeof valid === 'string') return valid;
  return recordProblem(kind, valid) ?? valid;
}


/** The records a compiled route was built from directly: itself, its service, plugin config and upstream. */
function dependenciesOf(snapshot: CatalogSnapshot, record: CatalogRecord, route: Record<string, unknown>): Dependency[] {
  const deps: Dependency[] = [{ kind: 'routes', id: String(route.id), record }];
  const add = (kind: ResourceKind, id: unknown) => {
    if (id !== undefined) deps.push({ kind, id: String(id), record: snapshot.get(kind, String(id)) });
  };
  add('services', route.service_id);
  add('plugin_configs', route.plugin_config_id);
  const service = route.service_id === undefined ? undefined : snapshot.get('services', String(route.service_id))?.value;
  add('upstreams', route.upstream_id ?? (route.upstream ? undefined : service?.upstream_id));
  return deps;
}

/** Identity first (unchanged records keep their object), then revision (after a full reload). */
function stillCurrent(dependencies: readonly Dependency[], snapshot: CatalogSnapshot): boolean {
  for (const dep of dependencies) {
    const now = snapshot.get(dep.kind, dep.id);
    if (now === dep.record) continue;
    if (!now || !dep.record || now.modifiedIndex !== dep.record.modifiedIndex) return false;
  }
  return true;
}
