/**
 * The Admin API's plugin and schema endpoints, in APISIX's shapes (apisix/admin/plugins.lua,
 * schema.lua, init.lua): the plugin list, each plugin's schemas, every plugin at once
 * (`?all=true`), the resource schemas, hot reload and load status. There is one subsystem, `http`:
 * `stream` is a subsystem with no plugins (Tollgate proxies no TCP/UDP streams), anything else is
 * refused as APISIX refuses it.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { PluginStatus, ReloadReport } from '../core/plugin-loader.js';
import type { ConfKind, PluginRegistry } from '../core/registry.js';
import type { JsonSchema } from '../core/schema.js';
import { PLUGIN_RESOURCE_KINDS } from '../core/catalog/types.js';
import { pluginResourceSchema } from '../routes/plugin-resources.js';
import { RESOURCE_SCHEMAS, SINGULAR } from '../routes/schemas.js';
import { AdminError, fail } from './errors.js';

export interface PluginControl {
  reload(): Promise<ReloadReport>;
  status(): PluginStatus[];
}

const SUBSYSTEMS = ['http', 'stream'];

/** `GET /apisix/admin/schema/{name}`: the resource schemas, by APISIX's singular names. */
const RESOURCE_SCHEMA_NAMES: Record<string, JsonSchema> = Object.fromEntries(
  Object.entries(RESOURCE_SCHEMAS).map(([kind, schema]) => [SINGULAR[kind as keyof typeof SINGULAR].replace(/ /g, '_'), schema]),
);

export class PluginEndpoints {
  constructor(
    private readonly registry: PluginRegistry,
    private readonly control: PluginControl | undefined,
    private readonly onReload: (report: ReloadReport) => void,
  ) {}

  /** Registers the endpoints; before the resources' `/{kind}` routes, which would take these paths. */
  register(router: Router): void {
    router.get('/plugins/list', (ctx) => this.list(ctx));
    router.put('/plugins/reload', (ctx) => this.reload(ctx));
    router.all('/plugins/reload', () => {
      throw fail(405, 'please use PUT method to reload the plugins, other methods are not allowed');
    });
    router.get('/plugins/status', (ctx) => this.status(ctx));
    router.get('/plugins', (ctx) => this.plugin(ctx, undefined));
    router.get('/plugins/:name', (ctx) => this.plugin(ctx, ctx.params.name));
    router.get('/schema/plugins/:name', (ctx) => this.plugin(ctx, ctx.params.name));
    router.get('/schema/:name', (ctx) => this.resourceSchema(ctx));
  }

  /** Names, highest priority first; APISIX answers a bad subsystem in plain text. */
  private list(ctx: Context): void {
    const subsystem = singleQuery(ctx, 'subsystem') ?? 'http';
    if (!SUBSYSTEMS.includes(subsystem)) throw new AdminError(400, 'invalid subsystem passed');
    ctx.body = subsystem === 'http' ? this.registry.list().map((p) => p.name) : [];
  }

  /**
   * `/plugins/{name}` (and `/schema/plugins/{name}`): a plugin's schema, `?schema_type=consumer`
   * or `metadata` for its other schemas. `/plugins?all=true`: every plugin keyed by name.
   */
  private plugin(ctx: Context, name: string | undefined): void {
    const subsystem = singleQuery(ctx, 'subsystem') ?? 'http';
    if (!SUBSYSTEMS.includes(subsystem)) throw fail(400, `unsupported subsystem: ${subsystem}`);
    if (singleQuery(ctx, 'all') === 'true') {
      ctx.body = subsystem === 'http' ? this.everyPlugin() : {};
      return;
    }
    if (name === undefined || subsystem !== 'http' || !this.registry.has(name)) throw fail(404, `plugin not found in subsystem ${subsystem}`);
    const type = singleQuery(ctx, 'schema_type') ?? 'route';
    if (!['route', 'consumer', 'metadata'].includes(type)) throw fail(400, 'schema_type must be route, consumer or metadata');
    const schema = this.registry.schemaOf(name, type as ConfKind);
    if (!schema) throw fail(400, 'not found schema');
    ctx.body = schema;
  }

  /** APISIX's `plugins?all=true`: `{name: {version, priority, schema, consumer_schema?, metadata_schema?, type?}}`, and our `description?`. */
  private everyPlugin(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const plugin of this.registry.list()) {
      const entry: Record<string, unknown> = { version: plugin.version, priority: plugin.priority, schema: this.registry.schemaOf(plugin.name, 'route') };
      const consumer = this.registry.schemaOf(plugin.name, 'consumer');
      const metadata = this.registry.schemaOf(plugin.name, 'metadata');
      if (consumer) entry.consumer_schema = consumer;
      if (metadata) entry.metadata_schema = metadata;
      if (plugin.type) entry.type = plugin.type;
      if (plugin.description) entry.description = plugin.description;
      out[plugin.name] = entry;
    }
    return out;
  }

  private resourceSchema(ctx: Context): void {
    let schema = Object.hasOwn(RESOURCE_SCHEMA_NAMES, ctx.params.name) ? RESOURCE_SCHEMA_NAMES[ctx.params.name] : undefined;
    for (const kind of PLUGIN_RESOURCE_KINDS) {
      const definition = this.registry.resource(kind)?.definition;
      if (definition && ctx.params.name === SINGULAR[kind].replace(/ /g, '_')) schema = pluginResourceSchema(definition);
    }
    if (!schema) throw fail(400, `not found schema: ${ctx.params.name}`);
    ctx.body = schema;
  }

  private async reload(ctx: Context): Promise<void> {
    if (!this.control) throw fail(404, 'not found');
    const report = await this.control.reload();
    this.onReload(report);
    ctx.body = { message: 'done', ...report };
  }

  private status(ctx: Context): void {
    if (!this.control) throw fail(404, 'not found');
    ctx.body = { list: this.control.status() };
  }
}

/** A query parameter given once (a repeated one is ambiguous: 400). */
function singleQuery(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw fail(400, `query parameter ${name} must be given once`);
  return value;
}
