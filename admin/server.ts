/**
 * The Admin API, in APISIX Admin API v3 shapes (`/apisix/admin/{resource}/{id}`), so that
 * APISIX users' scripts and habits carry over: the same envelopes, status codes and
 * `error_msg` texts. Served on its own listener (loopback by default) behind AdminAuth.
 */
import { createServer, type Server } from 'node:http';
import Koa, { type Context } from 'koa';
import Router from '@koa/router';
import {
  CatalogConflictError,
  CatalogInUseError,
  CatalogReferenceError,
  CatalogUnavailableError,
  isPluginResourceKind,
  RESOURCE_KINDS,
  type Catalog,
  type CatalogRecord,
  type ResourceKind,
} from '../core/catalog/types.js';
import type { ListenAddress } from '../core/config.js';
import { closeNow, listen } from '../core/listen.js';
import type { Logger } from '../core/logger.js';
import type { PluginApi } from '../core/plugin.js';
import type { PluginRegistry } from '../core/registry.js';
import { isPrototypeKey, ownValue } from '../core/own.js';
import { credentialIdOf, credentialKey, credentialOwner } from '../routes/consumers.js';
import { consumerSchema, ID_PATTERN, SINGULAR } from '../routes/schemas.js';
import { AdminAuth, type AdminKey } from './auth.js';
import { AdminError, fail, NOT_FOUND_KEY } from './errors.js';
import { corsHeaders, headProbe } from './cors.js';
import { dashboard } from './dashboard.js';
import { BadBody, readJsonBody } from './json-body.js';
import { selectEntries, type ListEntry } from './lists.js';
import { maskSecrets } from './mask.js';
import { PluginEndpoints, type PluginControl } from './plugins.js';
import { serveResourceEndpoint, type EndpointContext } from './resource-endpoints.js';
import { QueryError, singleValued, ttlOf } from './query.js';
import { duplicateMessage, inUseMessage, mergePatch, missingReferenceMessage, validateResource } from './validate.js';

/** What `GET /apisix/admin/metrics` serves besides the time. */
export interface NodeMetrics {
  /** prom-client JSON: one gateway's registry, or every worker's summed. */
  metrics: unknown;
  /** With gateway.workers above 1: the workers whose registries the sum holds (a late one is left out). */
  workers?: Array<{ id: number; pid: number }>;
}

export interface AdminApiOptions {
  catalog: Catalog;
  registry: PluginRegistry;
  logger: Logger;
  keys: readonly AdminKey[];
  allow: readonly string[];
  maxBodyBytes: number;
  /** APISIX's enable_admin_cors (admin/cors.ts). */
  cors?: boolean;
  /** limits.max_regex_program: the largest list filter pattern (`name`, `uri`) and route `vars` pattern. */
  maxRegexProgram?: number;
  /** The loaded plugin set: reload (every instance) and per-plugin load status. */
  plugins?: PluginControl;
  /** Resolves once this process serves catalog revision `revision` (read-your-writes on the data plane). */
  waitForRevision?(revision: number): Promise<void>;
  /** What plugins are handed; the endpoints of plugin-defined resources (an MCP server's status) use it. */
  api?: PluginApi;
  /** The other gateway processes (core/relay), for `?scope=cluster` and ending a session another one owns. */
  cluster?: EndpointContext['cluster'];
  /** The built dashboard (dist/ui), served at `/ui/`; absent: no dashboard. */
  dashboardDir?: string;
  /** The data plane's URL (`http://127.0.0.1:9080`), for the dashboard's connect snippets. */
  dataPlaneUrl?: string;
  /** This gateway's metrics as prom-client JSON, for `GET /apisix/admin/metrics` (the dashboard's overview). */
  metrics?: () => Promise<NodeMetrics>;
}

/**
 * Which methods each resource supports (APISIX's `unsupported_methods`: no POST on global rules,
 * consumers, plugin configs, consumer groups, credentials and metadata; no PATCH on consumers,
 * credentials and metadata).
 */
const SUPPORTS_POST = new Set<ResourceKind>(['routes', 'services', 'upstreams', 'mcp_servers']);
const SUPPORTS_PATCH = new Set<ResourceKind>(['routes', 'services', 'upstreams', 'global_rules', 'plugin_configs', 'consumer_groups', 'mcp_servers']);

const USERNAME = new RegExp(consumerSchema.properties.username.pattern);

/** limits.max_regex_program's default, for an AdminApi built without the config. */
const DEFAULT_MAX_REGEX_PROGRAM = 500;

/** Kinds addressed only under another resource: a consumer's credentials. */
const NESTED = new Set<ResourceKind>(['credentials']);

/** A record as the Admin API addresses it: its catalog kind and id (a credential's names its consumer). */
interface Address {
  kind: ResourceKind;
  /** Its own id, as the path gives it (undefined for a collection). */
  id?: string;
  /** For credentials: the consumer they belong to. */
  username?: string;
}

export class AdminApi {
  readonly app = new Koa();
  readonly server: Server;
  /** limits.max_regex_program: list filter patterns and route `vars`. */
  private readonly maxRegexProgram: number;

  constructor(private readonly options: AdminApiOptions) {
    this.maxRegexProgram = options.maxRegexProgram ?? DEFAULT_MAX_REGEX_PROGRAM;
    const router = new Router({ prefix: '/apisix/admin' });
    const plugins = new PluginEndpoints(options.registry, options.plugins, (report) =>
      options.logger.info({ ...report }, 'plugins reloaded through the Admin API'),
    );
    plugins.register(router);
    // Tollgate additions for the dashboard; before `/:kind`, which would take these paths.
    router.get('/whoami', (ctx) => {
      ctx.body = { name: ctx.state.adminKeyName, role: ctx.state.adminRole, instance: options.api?.instance, data_plane: options.dataPlaneUrl };
    });
    router.get('/metrics', (ctx) => this.metrics(ctx));
    router.post('/schema/validate/:kind', (ctx) => this.validateOnly(ctx));
    // A consumer's credentials: /consumers/{username}/credentials[/{id}] (APISIX 3.10).
    const credentials = (ctx: Context): Address => {
      // Not a username any consumer can have (a `/` would also confuse the catalog id).
      if (!USERNAME.test(ctx.params.username)) throw fail(404, 'consumer not found');
      return { kind: 'credentials', id: ctx.params.id, username: ctx.params.username };
    };
    router.get('/consumers/:username/credentials', (ctx) => this.list(ctx, credentials(ctx)));
    router.get('/consumers/:username/credentials/:id', (ctx) => this.getOne(ctx, credentials(ctx)));
    router.put('/consumers/:username/credentials', (ctx) => this.write(ctx, 'PUT', credentials(ctx)));
    router.put('/consumers/:username/credentials/:id', (ctx) => this.write(ctx, 'PUT', credentials(ctx)));
    router.delete('/consumers/:username/credentials/:id', (ctx) => this.remove(ctx, credentials(ctx)));
    router.all(['/consumers/:username/credentials', '/consumers/:username/credentials/:id'], (ctx) => {
      throw fail(405, `not supported \`${ctx.method}\` method for credential`);
    });
    router.get('/:kind', (ctx) => this.list(ctx, this.addressOf(ctx)));
    router.put('/:kind', (ctx) => this.write(ctx, 'PUT', this.addressOf(ctx)));
    router.post('/:kind', (ctx) => this.write(ctx, 'POST', this.addressOf(ctx)));
    router.get('/:kind/:id', (ctx) => this.getOne(ctx, this.addressOf(ctx)));
    router.put('/:kind/:id', (ctx) => this.write(ctx, 'PUT', this.addressOf(ctx)));
    router.post('/:kind/:id', (ctx) => this.write(ctx, 'POST', this.addressOf(ctx)));
    router.patch('/:kind/:id', (ctx) => this.write(ctx, 'PATCH', this.addressOf(ctx)));
    router.patch('/:kind/:id/*path', (ctx) => this.write(ctx, 'PATCH', this.addressOf(ctx), String(ctx.params.path)));
    router.delete('/:kind/:id', (ctx) => this.remove(ctx, this.addressOf(ctx)));
    // Views and actions below a record of a plugin-defined kind (an MCP server's status, sessions…).
    router.get('/:kind/:id/*path', (ctx) => this.endpoint(ctx));
    router.delete('/:kind/:id/*path', (ctx) => this.endpoint(ctx));

    this.app.silent = true;
    this.app.use(async (ctx, next) => {
      ctx.set('X-API-VERSION', 'v3');
      try {
        await next();
        if (ctx.status === 404 && ctx.body === undefined) throw fail(404, 'not found');
        if (ctx.status === 405 && ctx.body === undefined) throw fail(405, `not supported \`${ctx.method}\` method`);
      } catch (err) {
        this.respondError(ctx, err);
      }
    });
    const auth = new AdminAuth(options.keys, options.allow);
    this.app.use(auth.allowList());
    // Public files behind the allow-list, before the key check: the page is how the key is typed in.
    if (options.dashboardDir) this.app.use(dashboard(options.dashboardDir));
    if (options.cors) this.app.use(corsHeaders());
    this.app.use(headProbe());
    this.app.use(auth.keyCheck());
    // APISIX checks `ttl` on every request, before it looks at the method.
    this.app.use((ctx, next) => {
      ctx.state.ttl = ttlOf(ctx);
      return next();
    });
    this.app.use(router.routes());
    this.app.use(router.allowedMethods());
    this.server = createServer({ maxHeaderSize: 16384, headersTimeout: 15_000, requestTimeout: 60_000 }, this.app.callback());
  }

  listen(address: ListenAddress): Promise<ListenAddress> {
    return listen(this.server, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  /** The resource a `/{kind}[/{id}]` path names; a kind addressed only under another one is unknown here. */
  private addressOf(ctx: Context): Address {
    return { kind: this.kindNamed(ctx.params.kind), id: ctx.params.id };
  }

  private kindNamed(name: string): ResourceKind {
    const kind = name as ResourceKind;
    const unknown = !RESOURCE_KINDS.includes(kind) || NESTED.has(kind) || (isPluginResourceKind(kind) && !this.options.registry.resource(kind));
    if (unknown) throw fail(404, `Unsupported resource type: ${name}`);
    return kind;
  }

  private endpoint(ctx: Context): Promise<void> {
    const { kind, id } = this.addressOf(ctx);
    if (!isPluginResourceKind(kind)) throw fail(404, 'not found');
    const { registry, api, catalog } = this.options;
    return serveResourceEndpoint(ctx, kind, id!, String(ctx.params.path), { registry, api, snapshot: catalog.snapshot(), cluster: this.options.cluster });
  }

  /** The catalog id of the record `address` names once its own id is `id`. */
  private catalogId(address: Address, id: string): string {
    return address.kind === 'credentials' ? credentialKey(address.username!, id) : id;
  }

  private list(ctx: Context, address: Address): void {
    const { kind } = address;
    const snapshot = this.options.catalog.snapshot();
    let entries: Iterable<ListEntry> = snapshot.list(kind);
    if (kind === 'credentials') {
      // APISIX: the credentials of a consumer that does not exist are a key that does not exist.
      if (!snapshot.get('consumers', address.username!)) throw NOT_FOUND_KEY;
      entries = [...snapshot.list(kind)].filter(([id]) => credentialOwner(id) === address.username);
    }
    const query = singleValued(ctx, ['name', 'label', 'uri', 'filter', 'page', 'page_size']);
    const selected = selectEntries(kind, entries, query, this.maxRegexProgram);
    ctx.body = { total: selected.total, list: selected.page.map(([id, record]) => envelope(kind, id, this.forRole(ctx, kind, id, record))) };
  }

  private getOne(ctx: Context, address: Address): void {
    const id = this.catalogId(address, address.id!);
    const record = this.options.catalog.snapshot().get(address.kind, id);
    if (!record) throw NOT_FOUND_KEY;
    ctx.body = envelope(address.kind, id, this.forRole(ctx, address.kind, id, record));
  }

  /**
   * What the caller's role may see of a record: viewers get plugin secrets masked; a record of a
   * plugin-defined kind shows what its definition presents (secrets masked for every role).
   */
  private forRole(ctx: Context, kind: ResourceKind, id: string, record: CatalogRecord): CatalogRecord {
    const role = ctx.state.adminRole === 'viewer' ? 'viewer' : 'admin';
    if (isPluginResourceKind(kind)) {
      const present = this.options.registry.resource(kind)?.definition.present;
      return present ? { ...record, value: present(record.value, role) } : record;
    }
    if (role !== 'viewer') return record;
    return { ...record, value: maskSecrets(kind, id, record.value as Record<string, unknown>, this.options.registry) };
  }

  private async write(ctx: Context, method: 'PUT' | 'POST' | 'PATCH', address: Address, subPath?: string): Promise<void> {
    const { kind } = address;
    const singular = SINGULAR[kind];
    if (method === 'POST' && !SUPPORTS_POST.has(kind)) throw fail(405, `not supported \`POST\` method for ${singular}`);
    if (method === 'PATCH' && !SUPPORTS_PATCH.has(kind)) throw fail(405, `not supported \`PATCH\` method for ${singular}`);
    const body = await readJsonBody(ctx.req, this.options.maxBodyBytes);
    const { catalog, registry } = this.options;
    const idField = kind === 'consumers' ? 'username' : 'id';

    // The record to store is the body as sent, with its id: from the path when the path has one
    // (a string, as APISIX stores it), else the body's (its JSON type kept).
    let id: string;
    let value: Record<string, unknown>;
    let times: { create_time?: number; update_time?: number } | undefined;
    if (method === 'PATCH') {
      id = address.id!;
      const existing = catalog.snapshot().get(kind, this.catalogId(address, id));
      if (!existing) throw NOT_FOUND_KEY;
      const { create_time: _c, update_time: _u, ...current } = existing.value as Record<string, unknown>;
      if (subPath) {
        value = setAtPath(current, subPath, body);
      } else {
        // APISIX lets a PATCH set the timestamps (a PUT or POST naming them is refused).
        const { create_time: createTime, update_time: updateTime, ...patch } = requireObject(body);
        times = timestampsOf(createTime, updateTime);
        value = mergePatch(current, patch) as Record<string, unknown>;
      }
      value[idField] = id;
    } else {
      value = { ...requireObject(body) };
      const bodyId = idIn(value, idField, singular);
      if (method === 'POST') {
        // APISIX: a POST names no id, in the body or the path (t/admin/routes.t TEST 17-18).
        if (bodyId !== undefined || address.id !== undefined) throw fail(400, `wrong ${singular} id, do not need it`);
        id = await this.guardStore(() => catalog.nextId());
        value[idField] = id;
      } else if (address.id !== undefined) {
        if (bodyId !== undefined && bodyId !== address.id) throw fail(400, kind === 'consumers' ? 'wrong username' : `wrong ${singular} id`);
        id = address.id;
        value[idField] = id;
      } else {
        if (bodyId === undefined) throw fail(400, `missing ${singular} id`);
        id = bodyId;
      }
    }
    if (kind === 'plugin_metadata') {
      if (!registry.has(id)) throw fail(400, 'invalid plugin name');
    } else {
      checkId(id, singular);
    }

    const catalogId = this.catalogId(address, id);
    if (isPluginResourceKind(kind)) {
      // A GET, an edit and a PUT keep the secrets the GET masked.
      const restore = registry.resource(kind)?.definition.restore;
      const problem = restore?.(value, catalog.snapshot().get(kind, catalogId)?.value);
      if (problem) throw fail(400, `invalid configuration: ${problem}`);
    }
    const validated = validateResource(kind, catalogId, value, { registry, snapshot: catalog.snapshot(), maxRegexProgram: this.maxRegexProgram });
    if ('error' in validated) throw fail(validated.status ?? 400, validated.error);
    const ttl = ctx.state.ttl as number | undefined;
    const { record, created } = await this.guardStore(() => catalog.put(kind, catalogId, validated.value, { ttl, times }));
    await this.options.waitForRevision?.(record.modifiedIndex);
    this.options.logger.info({ kind, id: catalogId, method, revision: record.modifiedIndex, ttl }, 'admin write');
    ctx.status = method === 'PATCH' ? 200 : created ? 201 : 200;
    ctx.body = { key: keyOf(kind, catalogId), value: this.forRole(ctx, kind, catalogId, record).value };
  }

  private async remove(ctx: Context, address: Address): Promise<void> {
    const { kind } = address;
    const id = this.catalogId(address, address.id!);
    const { catalog } = this.options;
    if (!catalog.snapshot().get(kind, id)) throw NOT_FOUND_KEY;
    // The catalog refuses it while another record refers to it, in the delete's atomic step; a
    // consumer's credentials go with it.
    const deleted = await this.guardStore(() => catalog.delete(kind, id, { force: ctx.query.force === 'true' }));
    if (!deleted) throw NOT_FOUND_KEY;
    await this.options.waitForRevision?.(catalog.snapshot().revision);
    this.options.logger.info({ kind, id, method: 'DELETE' }, 'admin write');
    ctx.body = { deleted: '1', key: keyOf(kind, id) };
  }

  private async metrics(ctx: Context): Promise<void> {
    if (!this.options.metrics) throw fail(404, 'not found');
    const { metrics, workers } = await this.options.metrics();
    ctx.body = { instance: this.options.api?.instance, time: Date.now(), metrics, ...(workers && { workers }) };
  }

  private async validateOnly(ctx: Context): Promise<void> {
    const kind = this.kindNamed(ctx.params.kind);
    const body = requireObject(await readJsonBody(ctx.req, this.options.maxBodyBytes));
    const idField = kind === 'consumers' ? 'username' : 'id';
    const id = idIn(body, idField, SINGULAR[kind]) ?? 'validate';
    const value = kind === 'plugin_metadata' ? body : { ...body, [idField]: ownValue(body, idField) ?? id };
    const validated = validateResource(kind, id, value, { registry: this.options.registry, snapshot: this.options.catalog.snapshot(), maxRegexProgram: this.maxRegexProgram });
    if ('error' in validated) throw fail(validated.status ?? 400, validated.error);
    ctx.body = { value: validated.checked };
  }

  private async guardStore<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof CatalogUnavailableError) throw fail(503, err.message);
      // Another write got in between our early check and the store's atomic one: it took the
      // credential, deleted what this write refers to, or came to refer to what this deletes.
      if (err instanceof CatalogConflictError) throw fail(400, duplicateMessage(err.kind, err.claim, err.holder));
      // A credential's consumer deleted since the early check: APISIX's 404.
      if (err instanceof CatalogReferenceError && err.missing.kind === 'consumers') throw fail(404, 'consumer not found');
      if (err instanceof CatalogReferenceError) throw fail(400, missingReferenceMessage(err.missing));
      if (err instanceof CatalogInUseError) throw fail(400, inUseMessage(err.target, err.user, this.options.catalog.snapshot()));
      throw err;
    }
  }

  private respondError(ctx: Context, err: unknown): void {
    if (err instanceof AdminError) {
      ctx.status = err.status;
      ctx.body = err.body;
      return;
    }
    if (err instanceof QueryError) {
      ctx.status = 400;
      ctx.body = { error_msg: err.message };
      return;
    }
    if (err instanceof BadBody) {
      ctx.status = err.status;
      ctx.body = err.raw === undefined ? { error_msg: err.message } : { error_msg: err.message, req_body: err.raw };
      if (err.status === 413) ctx.set('connection', 'close');
      return;
    }
    this.options.logger.error({ err, method: ctx.method, path: ctx.path }, 'admin request failed');
    ctx.status = 500;
    ctx.body = { error_msg: 'Internal Server Error' };
  }
}

function envelope(kind: ResourceKind, id: string, record: CatalogRecord) {
  return { key: keyOf(kind, id), value: record.value, createdIndex: record.createdIndex, modifiedIndex: record.modifiedIndex };
}

function keyOf(kind: ResourceKind, id: string): string {
  if (kind === 'credentials') return `/apisix/consumers/${credentialOwner(id)}/credentials/${credentialIdOf(id)}`;
  return `/apisix/${kind}/${id}`;
}

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fail(400, 'invalid request body: a JSON object is required');
  return body as Record<string, unknown>;
}

/** The id a body names (`id`, or `username` for consumers): a string or a number, as the schema allows. */
function idIn(body: Record<string, unknown>, field: string, singular: string): string | undefined {
  const value = ownValue(body, field);
  if (value === undefined) return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') throw fail(400, `invalid configuration: ${singular} ${field} must be a string or an integer`);
  return String(value);
}

/**
 * APISIX's id pattern, and two more rules: an id made of dots cannot be addressed in a URL (clients
 * resolve `/routes/..`), and a prototype key would name an object's machinery wherever ids are keys.
 */
function checkId(id: string, singular: string): void {
  if (!new RegExp(ID_PATTERN).test(id)) throw fail(400, `invalid configuration: ${singular} id "${id}" must match ${ID_PATTERN}`);
  if (/^\.+$/.test(id)) throw fail(400, `invalid configuration: ${singular} id "${id}" cannot be addressed in a URL`);
  if (isPrototypeKey(id)) throw fail(400, `invalid configuration: ${singular} id "${id}" is reserved`);
}

/**
 * PATCH /{kind}/{id}/{a/b}: replaces that one attribute (APISIX's sub-path PATCH). Only the
 * record's own attributes are walked, and a segment that names prototype machinery is refused:
 * `routes/r1/__proto__/x` would otherwise write into Object.prototype.
 */
function setAtPath(target: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('/').filter(Boolean);
  if (keys.length === 0) throw fail(400, 'empty sub path');
  const reserved = keys.find(isPrototypeKey);
  if (reserved !== undefined) throw fail(400, `invalid sub path: "${reserved}" is not an attribute name`);
  const out = structuredClone(target);
  let node: Record<string, unknown> = out;
  for (const key of keys.slice(0, -1)) {
    const child = ownValue(node, key);
    if (typeof child === 'object' && child !== null) node = child as Record<string, unknown>;
    else node = node[key] = {};
  }
  const last = keys[keys.length - 1];
  if (value === null || value === undefined) delete node[last];
  else node[last] = value;
  return out;
}

/** The timestamps a PATCH sets, held to their schema (whole seconds); undefined when it sets none. */
function timestampsOf(createTime: unknown, updateTime: unknown): { create_time?: number; update_time?: number } | undefined {
  if (createTime === undefined && updateTime === undefined) return undefined;
  for (const [field, value] of [['create_time', createTime], ['update_time', updateTime]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0)) {
      throw fail(400, `invalid configuration: property "${field}" validation failed: wrong type: expected integer, got ${typeof value}`);
    }
  }
  return { create_time: createTime as number | undefined, update_time: updateTime as number | undefined };
}
