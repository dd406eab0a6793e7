/**
 * The plugin kit (`import { … } from 'tollgate/kit'`): what the built-in plugins share, public so
 * that a custom plugin can do what they do without copying them. None of it is the kernel — the
 * core never imports the kit — and no plugin imports another plugin: what two plugins share lives
 * here. An algorithm only one plugin uses stays in that plugin's folder (limit-count's window
 * counter, limit-req's leaky bucket, limit-conn's counter).
 *
 * - Authentication: attach the consumer a credential names, APISIX's 401 (key-auth, jwt-auth).
 * - Limits: APISIX's `key_type`/`key` and Redis `policy` fields, the Redis a policy names, the
 *   Redis-unavailable policy (fail closed or `allow_degradation`), state shared across route
 *   versions, the rejection answer, waiting without outliving the client (limit-req,
 *   limit-count, limit-conn, api-breaker).
 * - Logging: APISIX's log entry and `log_format`, body capture, MCP tool-call audit entries,
 *   the attributes both log sinks take, and APISIX's batch processor (file-logger, http-logger).
 * - MCP (`mcp/`): fronts, sessions, backends, servers and the gateway-wide MCP runtime
 *   (mcp-bridge, mcp-federation).
 */
export { attachConsumer, unauthorized, withoutQueryParam, CONSUMER_USERNAME_HEADER, CREDENTIAL_HEADER, CUSTOM_ID_HEADER } from './auth.js';

export { keyProperties, keyResolver, ruleKeyResolver, type KeyType, type LimitKeyOf } from './limit-key.js';
export {
  POLICY_PROPERTIES,
  withPolicy,
  checkPolicy,
  limitRedis,
  limitStore,
  LimitScript,
  ensureReady,
  type LimitPolicy,
  type PolicyConf,
  type LimitRedis,
  type RedisHandle,
} from './limit-policy.js';
export {
  StoreFailurePolicy,
  storeFailureCount,
  limitRejection,
  rejectionProperties,
  DEGRADED_LOG_INTERVAL_MS,
  STORE_RETRY_AFTER,
} from './store-failure.js';
export { canonicalConf, confVersion, limitNamespace } from './shared-states.js';
// The gateway's one reference-counted map: state shared by route versions, released by the last.
export { RefCountedMap, type Held } from '../../core/ref-counted-map.js';
export { LIMIT_ERRORS, TOKEN_ERRORS } from './errors.js';
export { delay } from './delay.js';

export { requestLogEntry, toolCallAuditEntry, BodyCapture, cappedText, REDACTED, type Redaction, type EntryOptions } from './log-entry.js';
export { LogSinkRoute, LOG_SINK_PROPERTIES, LOG_FORMAT_SCHEMA, LOG_FORMAT_EXTRA_SCHEMA, LOG_SINK_TAPS, type LogFormats, type LogSinkConf } from './log-sink.js';
export { BatchProcessor, type BatchOptions, type BatchEvents, type DropReason, type SendBatch } from './batch-processor.js';

export * from './mcp/index.js';
