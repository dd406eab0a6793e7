/**
 * The plugin contract (APISIX's module table, typed). A plugin is a plain object: name, version,
 * priority, schema, lifecycle hooks and phase handlers from a closed set. The core knows phases,
 * never plugins.
 */
import type { GatewayContext, RouteInfo, ConsumerInfo } from './context.js';
import type { GatewayConfig } from './config.js';
import type { Logger } from './logger.js';
import type { JsonSchema } from './schema.js';
import type { RedisProvider } from './redis.js';
import type { ErrorTable, GatewayError } from './errors.js';
import type { PluginAttributes } from './plugin-attr.js';
import type { GatewayMetrics } from './metrics.js';
import type { ToolCallFeed } from './tool-calls.js';
import type { CredentialSources } from './credentials.js';
import type { Upstream } from './upstream/upstream.js';
import type { PluginResourceKind, RecordRef, Reference } from './catalog/types.js';

export const PHASES = ['rewrite', 'access', 'content', 'headerFilter', 'bodyFilter', 'log'] as const;
export type Phase = (typeof PHASES)[number];

export type PhaseHandler<C, I> = (ctx: GatewayContext, conf: C, instance: I) => void | Promise<void>;

/**
 * Called for each chunk of the response body (and once with `eof` for local replies, error
 * answers included; not for a content plugin's own stream). Returns the
 * chunk to send instead, or undefined to keep it. Synchronous: it runs inside the stream.
 */
export type BodyFilterHandler<C, I> = (
  ctx: GatewayContext,
  conf: C,
  instance: I,
  chunk: Buffer,
  eof: boolean,
) => Buffer | undefined | void;

/** What a route's plugins ask of the core before the chain runs. */
export interface RequestOptions {
  /** Request body limit for this route, bytes (413 above it). */
  maxBodyBytes?: number;
  /**
   * Buffer the body and parse it as JSON-RPC into `ctx.gateway.mcp` before any phase runs. A
   * batch of more than `maxBatchMessages` messages (default 100) is invalid: the access phase
   * runs once per message, so the number must be bounded before it does.
   */
  jsonRpc?: { basePath: string; maxBatchMessages?: number };
}

/** Finds consumers by credential; served from the catalog snapshot, never from a remote store. */
export interface ConsumerLookup {
  /** The consumer whose `plugins[plugin][field]` equals `value`. */
  find(plugin: string, field: string, value: string): ConsumerInfo | undefined;
  get(username: string): ConsumerInfo | undefined;
}

/**
 * Checks of catalog resources that a plugin config may embed, as the Admin API checks the
 * resources themselves (traffic-split's inline upstreams). Handed to `checkConf`.
 */
export interface ResourceChecks {
  /** Why `definition` is not a valid upstream, in the Admin API's words; undefined when it is. */
  upstream(definition: unknown): string | undefined;
}

/** An upstream a plugin holds for as long as its route version: released, it drains like a route's own. */
export interface UpstreamLease {
  readonly upstream: Upstream;
  release(): void;
}

/**
 * Upstreams a plugin may send a request to instead of the route's own (`ctx.gateway.upstream.target`),
 * served by the route table so that they share connection pools and drain on change as a route's do.
 */
export interface UpstreamDirectory {
  /**
   * An upstream built from an inline definition (checked as `ResourceChecks.upstream` does; throws
   * an Error with the reason). Call from `create`; release it in the instance's `dispose`.
   */
  acquire(definition: unknown): UpstreamLease;
  /**
   * The upstream stored under `id` as the catalog holds it now (APISIX resolves `upstream_id`
   * per request), or undefined when there is none or it is invalid. Held by the table until that
   * record changes; a request that got it keeps it until it ends.
   */
  byId(id: string): Upstream | undefined;
}

/**
 * A catalog resource a plugin defines (mcp-bridge: `mcp_servers`): stored, followed and
 * validated like the route model's resources, served by the Admin API at `/apisix/admin/<kind>`
 * with APISIX's envelopes while the plugin is loaded. APISIX's common fields (`id`, `name`,
 * `desc`, `labels`, `create_time`, `update_time`) are added to `schema` by the route model.
 */
export interface ResourceDefinition {
  /** JSON Schema of the record's own fields (`additionalProperties: false`); defaults are filled on use. */
  schema: JsonSchema;
  /**
   * Checks beyond the schema (written and loaded records alike); returns an error message.
   * `given` names the fields the record sets itself (`value` has the schema's defaults filled).
   */
  check?(value: Readonly<Record<string, unknown>>, config: Readonly<GatewayConfig>, given: ReadonlySet<string>): string | undefined;
  /**
   * Like `check`, at write time only: an operator policy the plugin enforces itself when it uses
   * the record (mcp.allowed_commands), so that a stored record a tightened policy refuses still
   * loads and its users learn why (see `Plugin.checkOnWrite`).
   */
  checkOnWrite?(value: Readonly<Record<string, unknown>>, config: Readonly<GatewayConfig>): string | undefined;
  /**
   * What a GET shows of a stored record (secrets masked); `role` is the caller's. Absent: the
   * record as stored.
   */
  present?(value: Readonly<Record<string, unknown>>, role: 'admin' | 'viewer'): Record<string, unknown>;
  /**
   * A write's body with what `present` masked taken back from the stored record (`stored`, when
   * there is one), so that a GET, an edit and a PUT keep the secrets; returns an error message
   * when the body keeps a mask it cannot take back.
   */
  restore?(value: Record<string, unknown>, stored: Readonly<Record<string, unknown>> | undefined): string | undefined;
  /** Views and actions below a record (`/apisix/admin/<kind>/{id}/status`), answered by the instance the request reached. */
  endpoints?: readonly ResourceEndpoint[];
}

export interface ResourceEndpointRequest {
  /** The record's id (it exists when the handler runs). */
  readonly id: string;
  /** The path's parameters (`:session_id`). */
  readonly params: Readonly<Record<string, string>>;
  /** Single-valued query parameters. */
  readonly query: Readonly<Record<string, string>>;
}

export interface ResourceEndpoint {
  readonly method: 'GET' | 'DELETE';
  /** Below the record, `:name` segments are parameters: `status`, `sessions/:session_id`. */
  readonly path: string;
  /** Answers 200 with `body` unless `status` says otherwise; a GatewayError answers its status and message. */
  handle(request: ResourceEndpointRequest, api: PluginApi): Promise<{ status?: number; body: unknown }>;
}

/** A catalog record a plugin defines, validated (defaults filled), or why it cannot be used. */
export type ResourceLookup = { readonly value: Readonly<Record<string, unknown>> } | { readonly error: string } | undefined;

/**
 * What the core hands a plugin: at `init` and `destroy`, and to every `create`. One per gateway,
 * so several gateways in one process (tests, embedders) never share a plugin's state: keep what
 * outlives a request in `state()` or in a per-route instance, never in module variables.
 */
export interface PluginApi {
  readonly config: Readonly<GatewayConfig>;
  readonly logger: Logger;
  readonly redis: RedisProvider;
  readonly consumers: ConsumerLookup;
  /** The plugin_metadata record of a plugin (its global settings), if any. */
  metadata(plugin: string): Readonly<Record<string, unknown>> | undefined;
  /** This gateway's state for `plugin`, created by `init` on first use (a session registry, a cache). */
  state<T extends object>(plugin: string, init: () => T): T;
  /** This gateway's metrics (its own prom-client registry and the standard metrics, core/metrics.ts). */
  readonly metrics: GatewayMetrics;
  /** MCP tool calls as they complete: mcp-bridge publishes, audit loggers subscribe (core/tool-calls.ts). */
  readonly toolCalls: ToolCallFeed;
  /** Upstreams other than the route's, for plugins that choose where a request goes (traffic-split). */
  readonly upstreams: UpstreamDirectory;
  /**
   * A record of a kind a plugin defines (`resources`), as the catalog holds it now: its value
   * checked against the definition with defaults filled, `error` when it does not pass, undefined
   * when there is none. A route whose plugin config names it (`references`) is rebuilt when it changes.
   */
  resource(kind: PluginResourceKind, id: string): ResourceLookup;
  /** This gateway instance's name (host name and process id), for answers that differ per instance. */
  readonly instance: string;
}

/** Per-route state may implement this to release timers, sockets and processes. */
export interface Disposable {
  dispose(): void | Promise<void>;
}

export interface Plugin<C = any, I = any> {
  /** kebab-case; equals its folder and its key in a route's `plugins`. */
  name: string;
  version: string;
  /** Unique across loaded plugins; higher runs first within a phase. */
  priority: number;
  description?: string;
  /**
   * The codes this plugin answers with (`defineErrors({ GW_<AREA>_<WHAT>: { status, message } })`),
   * raised from the table (`ERRORS.GW_X.error()`); listed with the gateway's in docs/errors.md.
   */
  errors?: ErrorTable;
  /**
   * Its gateway-wide settings (APISIX's plugin_attr): the schema of `plugin_attr.<name>` in
   * conf/config.yaml, and optionally an older top-level section and environment variables that
   * set them. Read them with `pluginAttributes(api.config, plugin)`.
   */
  attributes?: PluginAttributes;
  /**
   * `auth` plugins read credentials from consumers and may set `ctx.gateway.consumer`. A plugin
   * that authenticates against something else (a token an authorization server issued) may set it
   * too without being one: it then has no config on consumers.
   */
  type?: 'auth';
  /** JSON Schema of the route-level config (defaults are filled in). */
  schema: JsonSchema;
  /**
   * JSON Schema of the config on a consumer (credentials). Mark secret fields `writeOnly: true`
   * (here and in `schema`): the Admin API masks them for the viewer role.
   */
  consumerSchema?: JsonSchema;
  /**
   * Auth plugins: the consumer config field that identifies a credential (key-auth `key`). Its
   * value must be unique across consumers; the Admin API answers 400 on a duplicate.
   */
  credentialField?: string;
  /**
   * Where this config makes the plugin read credentials from the request: header, query parameter
   * and cookie names. The log sinks redact them wherever the plugin is configured (route, service,
   * plugin_config, global rule, consumer). Required of auth plugins; any plugin that reads a
   * secret from the request (a signature, a token) should declare it. Must not throw.
   */
  credentials?(conf: C): CredentialSources;
  /**
   * The plugin never ends or refuses a request, whatever its config: it only looks (a log sink
   * whose access handler taps the request body, a metrics exporter). When its config in a global
   * rule cannot be used, the rule is skipped instead of every request answering 503 (the route
   * table fails closed on anything that could refuse requests: routes/fail-closed.ts). A plugin
   * without rewrite, access or content handlers observes anyway. Not allowed with `content`,
   * `type: 'auth'` or `credentials`.
   */
  observesOnly?: boolean;
  /** JSON Schema of `/apisix/admin/plugin_metadata/<name>`. */
  metadataSchema?: JsonSchema;
  /** Catalog resource kinds this plugin defines (at most one plugin defines a kind). */
  resources?: Partial<Record<PluginResourceKind, ResourceDefinition>>;
  /**
   * The catalog records a (schema-valid) config refers to by id, such as mcp-bridge's
   * `server_id`: a write naming one that does not exist is refused, one cannot be deleted while
   * a config refers to it (without `?force=true`), and a route is rebuilt when one changes.
   * An `optional` reference may name a record that does not exist yet (the plugin looks it up
   * per request and answers its own error, as traffic-split's `upstream_id`): only the delete is
   * guarded. Must not throw.
   */
  references?(conf: C): readonly Reference[];
  /**
   * Checks beyond the schema (e.g. an allow-list from the gateway config, an embedded upstream
   * through `resources`); returns an error message. `given` names the top-level fields the config
   * sets itself (`conf` has the schema's defaults filled), for fields that exclude each other.
   */
  checkConf?(conf: C, config: Readonly<GatewayConfig>, resources: ResourceChecks, given: ReadonlySet<string>): string | undefined;
  /**
   * Like `checkConf`, but only when a config is written (the Admin API's 400): an operator policy
   * that the plugin enforces itself, answering 503 whenever it would act against it (mcp-bridge:
   * mcp.allowed_commands, checked again before every spawn). A stored config that a policy
   * tightened since refuses still loads, so the plugin can tell its clients why in their own
   * protocol instead of the route answering a bare 503; /status lists the route.
   */
  checkOnWrite?(conf: C, config: Readonly<GatewayConfig>): string | undefined;
  /**
   * Checks a config against the plugin's own plugin_metadata when the config is written (the
   * Admin API's 400): a setting that may come from either (file-logger's `path`). Not run on
   * load: the metadata may change after the route was written.
   */
  checkWithMetadata?(conf: C, metadata: Readonly<Record<string, unknown>> | undefined): string | undefined;
  /**
   * Checks a config against this plugin's configs on the catalog's other records (routes,
   * services, plugin configs, global rules, consumers, groups; defaults filled) when it is written
   * (the Admin API's 400): limit-count's routes of one `group` must agree on the limit. Not run
   * on load; two writes at the same moment are not held to each other.
   */
  checkWithOthers?(conf: C, others: readonly C[]): string | undefined;
  /**
   * A consumer's config of this plugin replaces the route's once the consumer is authenticated
   * (APISIX's consumer merge). A plugin whose route config must keep holding for every consumer
   * (mcp-acl: a route's deny rules beat a consumer's allow) returns the config to run from both;
   * both are validated, defaults filled. Must not throw.
   */
  mergeConsumerConf?(routeConf: C, consumerConf: C): C;
  /** Like `checkConf`, for the config on a consumer (e.g. a public key that must parse). */
  checkConsumerConf?(conf: any, config: Readonly<GatewayConfig>): string | undefined;
  init?(api: PluginApi): void | Promise<void>;
  /** Releases what `init` and `state()` hold for this gateway (the same api object as init's). */
  destroy?(api: PluginApi): void | Promise<void>;
  /**
   * Per-route state, living as long as that route version; disposed (if Disposable) when the
   * route changes or is deleted. Synchronous: open sockets and processes lazily, on first use.
   */
  create?(conf: C, route: RouteInfo, api: PluginApi): I;
  /** What this plugin needs from the core before the chain runs (read once, at route compile). */
  requestOptions?(conf: C): RequestOptions;
  rewrite?: PhaseHandler<C, I>;
  access?: PhaseHandler<C, I>;
  /** Terminal: at most one per route. The HTTP upstream proxy is the default content. */
  content?: PhaseHandler<C, I>;
  /**
   * Content plugins only: renders an error that another plugin raised for this route before
   * content ran (a rate limit, an open breaker), in the protocol the client speaks (mcp-bridge
   * turns it into a JSON-RPC error). Returns true when it answered; otherwise the core answers
   * with the usual JSON error body.
   */
  renderError?(ctx: GatewayContext, conf: C, instance: I, error: GatewayError): boolean | Promise<boolean>;
  headerFilter?: PhaseHandler<C, I>;
  bodyFilter?: BodyFilterHandler<C, I>;
  /**
   * With `bodyFilter`: whether this config filters response bodies at all (read at route compile).
   * A response that passes through a body filter loses its Content-Length (the filter may change
   * the length), so a plugin that only looks at bodies when configured to (a logger keeping the
   * response body) answers false otherwise. Absent: always.
   */
  filtersBody?(conf: C): boolean;
  /** Runs after the response finished or the client went away; never delays it, errors are logged. */
  log?: PhaseHandler<C, I>;
  /**
   * Paths outside the route's `uri` that this plugin answers on its route's behalf: RFC 9728 puts
   * a protected resource's metadata at `/.well-known/oauth-protected-resource<path>`, where no
   * route's uri reaches. Read once when the route is compiled (route plugins only, not global
   * rules). Each path is matched exactly, on the route's hosts and remote_addrs, so it wins over
   * prefix routes; such a request runs the global rules, then `serveCompanion` as its content,
   * and none of the route's other plugins. Requires `serveCompanion`.
   */
  companionPaths?(conf: C): readonly string[];
  /** Answers a request to one of `companionPaths` (`ctx.gateway.path` says which); the route's instance is passed. */
  serveCompanion?: PhaseHandler<C, I>;
}

/** Identity function that types a plugin definition (`export default definePlugin({...})`). */
export function definePlugin<C = any, I = undefined>(plugin: Plugin<C, I>): Plugin<C, I> {
  return plugin;
}

export function isDisposable(value: unknown): value is Disposable {
  return typeof value === 'object' && value !== null && typeof (value as Disposable).dispose === 'function';
}
