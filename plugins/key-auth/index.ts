/**
 * key-auth — authenticates a consumer by an API key (APISIX key-auth): from the `apikey` header
 * (name configurable) or, when `query` names a parameter, from the query string. The consumer is
 * set on the context and named to the upstream in X-Consumer-Username; identity headers the client
 * sent are dropped. `hide_credentials` keeps the key from the upstream.
 * Phase: rewrite (as APISIX: before every access-phase plugin, so a rejected request never touches
 * a limiter, a breaker or an MCP child). Fails closed: 401 on a missing or unknown key. Keys are
 * looked up in the gateway's in-memory consumer snapshot, never in a remote store.
 */
import { attachConsumer, unauthorized, withoutQueryParam } from '../kit/index.js';
import type { GatewayContext } from '../../core/context.js';
import { requestHeader } from '../../core/own.js';
import { definePlugin, type ConsumerLookup } from '../../core/plugin.js';
import { defineErrors } from '../../core/errors.js';

interface KeyAuthConf {
  header: string;
  query?: string;
  hide_credentials: boolean;
  realm: string;
  anonymous_consumer?: string;
}

const ERRORS = defineErrors({
  GW_AUTH_MISSING_KEY: { status: 401, message: 'Missing API key in request' },
  GW_AUTH_INVALID_KEY: { status: 401, message: 'Invalid API key in request' },
});

export default definePlugin<KeyAuthConf, ConsumerLookup>({
  name: 'key-auth',
  version: '1.0.0',
  priority: 2500,
  errors: ERRORS,
  type: 'auth',
  description: 'Authenticates consumers by API key.',
  credentialField: 'key',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_-]+$', default: 'apikey', description: 'Request header carrying the key.' },
      query: {
        type: 'string',
        minLength: 1,
        description:
          'Query parameter carrying the key, checked when the header is absent. Unset (the default): keys in query strings, which end up in logs, are not accepted.',
      },
      hide_credentials: { type: 'boolean', default: false, description: 'Remove the key from the upstream request: every line of the header and, when `query` is set, every parameter of that name; on the anonymous fallback too.' },
      realm: { type: 'string', minLength: 1, pattern: '^[^"\\\\]+$', default: 'key', description: 'Realm of the WWW-Authenticate challenge on 401.' },
      anonymous_consumer: {
        type: 'string',
        minLength: 1,
        description: 'Username of a consumer to use when the key is missing or wrong, instead of answering 401.',
      },
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: {
      key: { type: 'string', minLength: 1, writeOnly: true, description: 'The API key; unique across consumers, masked for the viewer role.' },
    },
  },

  credentials: (conf) => ({ headers: [conf.header], query: conf.query ? [conf.query] : [] }),

  // The instance is this gateway's consumer directory (in-memory, from the catalog snapshot).
  create: (_conf, _route, api) => api.consumers,

  rewrite(ctx, conf, consumers) {
    const fromHeader = requestHeader(ctx.req.headers, conf.header);
    const key = fromHeader || (conf.query ? ctx.gateway.var(`arg_${conf.query}`) : undefined);
    const consumer = key ? consumers.find('key-auth', 'key', key) : undefined;
    if (!consumer) {
      const anonymous = conf.anonymous_consumer && consumers.get(conf.anonymous_consumer);
      if (anonymous) {
        attachConsumer(ctx, anonymous);
        // A wrong key is still a secret of someone's: it goes no further either (APISIX 3.17).
        if (conf.hide_credentials && key) hide(ctx, conf);
        return;
      }
      const challenge = `apikey realm="${conf.realm}"`;
      if (conf.anonymous_consumer) throw unauthorized(ERRORS.GW_AUTH_INVALID_KEY, 'Invalid user authorization', challenge);
      if (!key) throw unauthorized(ERRORS.GW_AUTH_MISSING_KEY, ERRORS.GW_AUTH_MISSING_KEY.message, challenge);
      throw unauthorized(ERRORS.GW_AUTH_INVALID_KEY, ERRORS.GW_AUTH_INVALID_KEY.message, challenge);
    }
    attachConsumer(ctx, consumer);
    if (conf.hide_credentials) hide(ctx, conf);
  },
});

/**
 * Every copy of the key, wherever it was read from: the header (every line of it) and, when the
 * route reads keys from the query string, every parameter of that name. A client that sent the
 * key twice must not have the second copy reach the upstream.
 */
function hide(ctx: GatewayContext, conf: KeyAuthConf): void {
  const plan = ctx.gateway.upstream;
  plan.headers.set(conf.header.toLowerCase(), null);
  if (conf.query) plan.uri = withoutQueryParam(plan.uri, conf.query);
}
