/**
 * The typed request context every plugin sees as `ctx.gateway`. Plugins cooperate only through
 * these fields: auth plugins set `consumer`, proxy-rewrite edits `upstream`, limiters read `var()`.
 */
import type { ParameterizedContext, DefaultState } from 'koa';
import type { CredentialNames } from './credentials.js';
import type { GatewayError } from './errors.js';
import type { Upstream } from './upstream/upstream.js';

/**
 * The `RouteInfo.id` that global rules' plugin instances are created with: a plugin that keys
 * state by route (an audit subscription) treats it as "every route".
 */
export const GLOBAL_RULES_ROUTE_ID = '__global__';

/** The route a request matched, after service / plugin_config merging. */
export interface RouteInfo {
  readonly id: string;
  readonly name?: string;
  readonly serviceId?: string;
  readonly upstreamId?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The route's own record as stored (its plugins only, before service/plugin_config merging); read-only. */
  readonly record: Readonly<Record<string, unknown>>;
  /**
   * Set only for the instances of a consumer's own plugins (merged in after authentication): the
   * consumer whose config they run. Limiters use it to count per consumer, as APISIX does.
   */
  readonly consumer?: string;
  /**
   * Set when the route's plugins asked the core to read its requests as JSON-RPC (an MCP route,
   * RequestOptions.jsonRpc), with the base path of its MCP endpoints. Known to every phase, even
   * before `ctx.gateway.mcp` is (global rules' rewrite) or when a request is not an MCP message
   * (a CORS preflight). Not yet set while plugins' `create` runs.
   */
  readonly jsonRpc?: { readonly basePath: string };
}

export interface ConsumerInfo {
  readonly username: string;
  readonly groupId?: string;
  /**
   * Set when one of the consumer's credentials (`/consumers/{username}/credentials/{id}`)
   * authenticated the request, not a key on the consumer itself: that credential's id.
   */
  readonly credentialId?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * The consumer's plugin configs (credentials included): only auth plugins should read them.
   * Found through a credential, its auth plugin's config is the credential's.
   */
  readonly plugins: Readonly<Record<string, unknown>>;
}

/**
 * What an authorization server vouched for about the request's bearer token, set by the plugin
 * that verified it (openid-connect) next to `consumer`; never the token itself. Plugins that decide
 * by scope or claim (an MCP access list: `"scopes": {"tools:write": …}`) read it here, and one
 * that refuses for want of a scope answers 403 with `WWW-Authenticate: Bearer
 * error="insufficient_scope", scope="…", resource_metadata="<resourceMetadata>"` (RFC 6750 §3.1,
 * RFC 9728 §5.1).
 */
export interface AuthInfo {
  /** The token's issuer (`iss`), as checked. */
  readonly issuer: string;
  /** `sub`, when the token has one. */
  readonly subject?: string;
  /** The OAuth client the token was issued to (`client_id`, `azp`). */
  readonly clientId?: string;
  /** The scopes granted (`scope`, or `scp`), in the order the token lists them. */
  readonly scopes: readonly string[];
  /** The audiences the token names (`aud`). */
  readonly audience: readonly string[];
  /** `exp`, in seconds since the epoch. */
  readonly expiresAt?: number;
  /** The protected resource (RFC 8707) the token was checked to be for, when the route names one. */
  readonly resource?: string;
  /** That resource's RFC 9728 metadata URL, for challenges. */
  readonly resourceMetadata?: string;
  /** Every claim of the token (or of the introspection answer), as issued. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * What the core learned from an MCP request before any plugin ran.
 *
 * A JSON-RPC batch (an array body, which MCP 2025-03-26 allows) is `kind: 'batch'` with one
 * description per message in `batch`. The access phase runs once per message of a batch, with
 * `ctx.gateway.mcp` describing that message alone, so a plugin that decides by method or tool
 * (limits keyed on `mcp_tool`, an access list) sees each call as if it came on its own; rewrite,
 * header filter and log phases see the batch.
 */
export interface McpRequestInfo {
  /** Which transport endpoint the request addressed. */
  readonly transport: 'streamable-http' | 'sse';
  /** JSON-RPC message kind; `invalid` when the body did not parse as JSON-RPC. */
  readonly kind: 'request' | 'notification' | 'response' | 'batch' | 'invalid' | 'none';
  /** `batch`: its messages, in order, each described as if it came alone. */
  readonly batch?: readonly McpRequestInfo[];
  readonly method?: string;
  readonly id?: string | number;
  /**
   * tools/call and prompts/get: `params.name`; resources/read and subscribe: `params.uri`;
   * completion/complete: the prompt's name or the resource template it completes for.
   */
  readonly name?: string;
  readonly sessionId?: string;
  /** The parsed message, for the content plugin; other plugins should use the fields above. */
  readonly message?: unknown;
  /** Why the body is not a valid JSON-RPC message (JSON-RPC error code and text). */
  readonly error?: { code: number; message: string };

  // ---- message filters (docs/plugin-development.md, "MCP message filters") ----------------
  // How a plugin acts on MCP traffic without knowing what serves it (a bridged child, a remote
  // server, a federation): it decides here, in its access handler, and the content plugin carries
  // the decision out, when the answer arrives (over legacy SSE, long after this request got 202).

  /**
   * Refuses this request (a tools/call, prompts/get, resources/read, resources/(un)subscribe, or a
   * completion/complete for a prompt or a resource template): the
   * content plugin answers it exactly as it answers a name its server does not have, so the
   * client learns nothing of the name's existence; the access log (`mcp_denied`) and the metrics
   * (`tollgate_mcp_denied_total`) record it with the plugin's name.
   */
  refuse(plugin: string): void;
  /** The plugin that refused this request, if one did. */
  readonly refusedBy?: string;
  /**
   * For a list request (tools/list, prompts/list, resources/list, resources/templates/list): its
   * result reaches the client with only the items every filter keeps. For an MCP 2026-07-28
   * `subscriptions/listen`: only the resource URIs every filter keeps are watched. A filter that
   * throws drops the item (fail closed).
   */
  filterList(plugin: string, keep: McpListFilter): void;
  /** Whether a list result keeps an item: every filter set on this request agrees. */
  keeps(kind: McpItemKind, name: string): boolean;
  /** True when a filter was set on this request. */
  readonly filtersList: boolean;
}

/** What an MCP list item is: its kind, by the list that holds it. */
export type McpItemKind = 'tool' | 'prompt' | 'resource' | 'resource_template';

/**
 * Whether a list keeps an item, by kind and name: a tool's or prompt's `name`, a resource's `uri`,
 * a resource template's `uriTemplate`.
 */
export type McpListFilter = (kind: McpItemKind, name: string) => boolean;

/** How the request will be sent upstream; plugins in rewrite/access phases edit it. */
export interface UpstreamRequestPlan {
  /** Path and query sent upstream. Starts as the client's normalized path and query. */
  uri: string;
  /** Method sent upstream, when a plugin changes it. */
  method?: string;
  /** Host header to send, when a plugin or `pass_host: rewrite` decides it. */
  host?: string;
  /** Header edits applied over the client's headers: a string sets, null removes. Names are lower case. */
  readonly headers: Map<string, string | null>;
  /** The upstream to send to instead of the route's: one from `PluginApi.upstreams` (traffic-split). */
  target?: Upstream;
}

/**
 * The backend's outcome, for log-phase plugins (api-breaker counts it, loggers record it). The
 * HTTP proxy fills it; a content plugin with another backend (mcp-bridge) fills it too, with a
 * 5xx status when its backend failed (a child that crashed, timed out or never initialized).
 */
export interface UpstreamOutcome {
  addr?: string;
  status?: number;
  /** Milliseconds from sending the request to the response headers. */
  latency?: number;
  /** Bytes received from the upstream body. */
  bytes?: number;
}

export interface GatewayState {
  /** Generated per request; the request-id plugin may adopt the client's. */
  requestId: string;
  /** performance.now() when the request arrived. */
  readonly startTime: number;
  /** The socket's address (or the client address a trusted proxy vouched for). */
  readonly clientIp: string;
  /** The normalized request path that matching and every plugin see. */
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly query: string;
  /**
   * The authority (host[:port]) of an absolute-form request target, which routing uses instead of
   * the Host header (RFC 9112 §3.2.2); undefined for the usual origin-form request.
   */
  readonly authority?: string;
  route?: RouteInfo;
  /** The route's uri pattern that matched the request (`/orders/*`), set with `route`. */
  readonly matchedUri?: string;
  /** The route's host pattern that matched (`*.example.com`); undefined when the route names no host. */
  readonly matchedHost?: string;
  params: Record<string, string>;
  consumer?: ConsumerInfo;
  /** Set with `consumer` by a plugin that verified a bearer token with an authorization server. */
  authInfo?: AuthInfo;
  mcp?: McpRequestInfo;
  /** The request body, when the route asked the core to buffer it (MCP routes). */
  body?: Buffer;
  readonly upstream: UpstreamRequestPlan;
  upstreamOutcome?: UpstreamOutcome;
  /**
   * Set by the core: the plugin whose rewrite or access handler ended the request (it answered,
   * or threw), for logs and the rejections metric.
   */
  answeredBy?: string;
  /** Set by the core: the error the request was answered with, if any (its code goes to the logs). */
  error?: GatewayError;
  /**
   * The JSON-RPC error code an MCP request was answered with, if any: set by whoever wrote the
   * answer (the content plugin for the server's errors and its own, the core for errors it renders).
   */
  mcpError?: number;
  /**
   * Bytes received from the client for this request (request line, headers, body) and sent to it
   * (status line, headers, body), measured on the connection; set when the log phase starts.
   */
  bytesIn?: number;
  bytesOut?: number;
  /** Aborts when the client goes away or the request times out: pass it to every I/O call. */
  readonly signal: AbortSignal;
  /**
   * Header, query parameter and cookie names whose values must never be logged: the standard
   * ones and those the plugins of this request's chains declare (global rules, the route merged
   * with its service and plugin_config, the consumer's plugins), as the chains stand now.
   */
  readonly credentials: CredentialNames;
  /** APISIX-style variables: remote_addr, uri, host, http_<name>, arg_<name>, consumer_name, consumer_group_id, mcp_tool … */
  var(name: string): string | undefined;
  /**
   * Runs the header filters, once. A content plugin that writes to `ctx.res` itself (a stream)
   * calls it before writing the response head; the core does it for every other response.
   */
  commitHeaders(): Promise<void>;
  /** A private scratch object per plugin, created on first use. */
  scratch<T extends object>(plugin: string, init: () => T): T;
}

export type GatewayContext = ParameterizedContext<DefaultState, { gateway: GatewayState }>;
