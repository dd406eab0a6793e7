/**
 * team-token-auth — authenticates a consumer by a team token sent in a header (X-Team-Token by
 * default) or, when `query` names one, a query parameter. It shows what an auth plugin owes the
 * gateway: the token in a `consumerSchema` (writeOnly, kept unique by `credentialField`), and
 * `credentials(conf)` naming where the token travels, so file-logger and http-logger redact it
 * wherever the plugin is configured — a route, a service, a plugin_config, a global rule.
 * The shared steps come from the plugin kit, as key-auth and jwt-auth take them: `attachConsumer`
 * (the consumer on the context, the identity headers to the upstream) and `unauthorized` (APISIX's
 * 401 shape with its challenge).
 * Phase: rewrite (authentication comes before every access-phase plugin). Fails closed: 401.
 */
import { defineErrors, definePlugin, type ConsumerLookup } from 'tollgate';
import { attachConsumer, unauthorized } from 'tollgate/kit';

interface TeamTokenConf {
  header: string;
  query?: string;
}

// Its codes, in one table: declared to the gateway (`errors`) and raised from there, never spelled twice.
const ERRORS = defineErrors({
  GW_AUTH_TEAM_TOKEN: { status: 401, message: 'missing or invalid team token' },
});

export default definePlugin<TeamTokenConf, ConsumerLookup>({
  name: 'team-token-auth',
  version: '1.0.0',
  priority: 2450,
  errors: ERRORS,
  type: 'auth',
  description: 'Authenticates consumers by a team token in a header or a query parameter.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { type: 'string', pattern: '^[A-Za-z0-9-]+$', default: 'X-Team-Token', description: 'Request header carrying the token.' },
      query: { type: 'string', minLength: 1, description: 'Query parameter carrying the token, checked when the header is absent (unset: none).' },
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['token'],
    properties: { token: { type: 'string', minLength: 16, writeOnly: true, description: "The team's token; unique across consumers." } },
  },
  credentialField: 'token',
  // Where the token travels with this config: the log sinks redact exactly these names.
  credentials: (conf) => ({ headers: [conf.header], query: conf.query ? [conf.query] : [] }),

  create: (_conf, _route, api) => api.consumers,

  rewrite(ctx, conf, consumers) {
    const token = ctx.get(conf.header) || (conf.query ? ctx.gateway.var(`arg_${conf.query}`) : undefined);
    const consumer = token ? consumers.find('team-token-auth', 'token', token) : undefined;
    // The same answer for a missing and a wrong token, and never the token itself.
    if (!consumer) throw unauthorized(ERRORS.GW_AUTH_TEAM_TOKEN, ERRORS.GW_AUTH_TEAM_TOKEN.message, 'Token realm="team"');
    attachConsumer(ctx, consumer);
  },
});
