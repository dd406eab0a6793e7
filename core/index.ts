/**
 * What plugin authors import (`import { definePlugin, GatewayError } from 'tollgate'`): the plugin
 * contract, the typed request context, the error type, and the linear-time regular expressions a
 * plugin compiles configured patterns with. Nothing else of the core is public.
 */
export { definePlugin, PHASES } from './plugin.js';
export type {
  Plugin,
  Phase,
  PhaseHandler,
  BodyFilterHandler,
  PluginApi,
  RequestOptions,
  ConsumerLookup,
  Disposable,
  ResourceChecks,
  UpstreamDirectory,
  UpstreamLease,
} from './plugin.js';
export type {
  GatewayContext,
  GatewayState,
  RouteInfo,
  ConsumerInfo,
  AuthInfo,
  McpRequestInfo,
  McpItemKind,
  McpListFilter,
  UpstreamRequestPlan,
  UpstreamOutcome,
} from './context.js';
export { GatewayError, defineErrors, clientGone, CORE_ERRORS, RETRY_AFTER } from './errors.js';
export type { ErrorCode, ErrorTable, ErrorDefinition, RaiseOptions, GatewayErrorOptions } from './errors.js';
// MCP message filters: what a content plugin serving MCP applies to a list request's result.
export { filterListResult } from './mcp.js';
// The status the client got (499 when it left first), for plugins that log or count responses.
export { responseStatus } from './respond.js';
export { LinearRegex, Replacement, RegexError, type RegexMatch, type RegexFlags } from './regex.js';
// The `$var` template language (`${name ?? default}` too), compiled once per config, rendered per request.
export { compileTemplate, Template, type Escape } from './template.js';
// APISIX's `vars` expressions (route vars, response-rewrite, traffic-split), for plugins that take one.
export { compileExpression, expressionProblem, ExprError, VARS_ERROR_PREFIX, type Expression, type VarSource } from './expr.js';
// What `PluginApi.metrics` and `PluginApi.toolCalls` are, for plugins that record or audit.
export type { GatewayMetrics, ToolCallOutcome } from './metrics.js';
export type { ToolCallFeed, ToolCallRecord } from './tool-calls.js';
export type { JsonSchema } from './schema.js';
// The one reference-counted map: a value shared by every holder of its key, disposed by the last.
export { RefCountedMap, type Held } from './ref-counted-map.js';
// Plugin attributes (plugin_attr.<name> in conf/config.yaml), checked against the plugin's schema.
export { pluginAttributes, type PluginAttributes } from './plugin-attr.js';
// What `Plugin.credentials(conf)` returns, and what `ctx.gateway.credentials` holds.
export type { CredentialSources, CredentialNames } from './credentials.js';
