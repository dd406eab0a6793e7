/**
 * consumer-restriction — admits or refuses requests by who or where they are (APISIX
 * consumer-restriction): the authenticated consumer's name (the default) or group, or the route
 * or service the request matched. On a route it says which consumers may use it; on a consumer,
 * with `type: route_id` or `service_id`, which routes or services that consumer may use.
 * In order: no value to judge (no consumer authenticated) is a 401; a blacklisted value is
 * refused; a value not on the whitelist is refused; a value not on the whitelist whose
 * `allowed_by_methods` entry does not list the request's method is refused.
 * Phase: access (after authentication). Fails closed: refusals answer `rejected_code` (403) with
 * `{"message": …}`; nothing it depends on can fail.
 */
import type { GatewayState } from '../../core/context.js';
import { defineErrors, GatewayError } from '../../core/errors.js';
import { definePlugin } from '../../core/plugin.js';

type Subject = 'consumer_name' | 'service_id' | 'route_id' | 'consumer_group_id';

interface ConsumerRestrictionConf {
  type: Subject;
  whitelist?: string[];
  blacklist?: string[];
  allowed_by_methods?: Array<{ user?: string; methods: string[] }>;
  rejected_code: number;
  rejected_msg?: string;
}

interface Compiled {
  whitelist?: ReadonlySet<string>;
  blacklist?: ReadonlySet<string>;
  /** Per value, the methods its first `allowed_by_methods` entry lists. */
  methods?: ReadonlyMap<string, ReadonlySet<string>>;
  /** `The request is rejected, please check the <type> for this request` (401). */
  missing: string;
  rejected: string;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'];

const SUBJECT: Record<Subject, (state: GatewayState) => string | undefined> = {
  consumer_name: (state) => state.consumer?.username,
  consumer_group_id: (state) => state.consumer?.groupId,
  route_id: (state) => state.route?.id,
  service_id: (state) => state.route?.serviceId,
};

const names = (what: string) => ({ type: 'array', minItems: 1, items: { type: 'string' }, description: what });

const ERRORS = defineErrors({
  GW_CONSUMER_RESTRICTED: { status: 403, message: 'The consumer_name is forbidden.' },
});

export default definePlugin<ConsumerRestrictionConf, Compiled>({
  name: 'consumer-restriction',
  version: '1.0.0',
  priority: 2400,
  errors: ERRORS,
  description: 'Admits or refuses requests by consumer, consumer group, route or service.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      type: {
        enum: ['consumer_name', 'service_id', 'route_id', 'consumer_group_id'],
        default: 'consumer_name',
        description: 'What the lists name: the consumer (username), its consumer group, the matched route, or its service.',
      },
      whitelist: names('Values that may pass; any other is refused.'),
      blacklist: names('Values that are refused; checked first.'),
      allowed_by_methods: {
        type: 'array',
        description: 'Per value (`user`), the methods it may use; a value without an entry may use any method. Not applied to whitelisted values.',
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            user: { type: 'string', description: 'The value (a consumer name, a route id …) this entry is about.' },
            methods: { type: 'array', minItems: 1, items: { enum: METHODS }, description: 'Methods it may use.' },
          },
        },
      },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 403, description: 'Status of a refusal.' },
      rejected_msg: { type: 'string', description: 'The `message` of a refusal; default `The <type> is forbidden.`' },
    },
    anyOf: [{ required: ['blacklist'] }, { required: ['whitelist'] }, { required: ['allowed_by_methods'] }],
  },

  create(conf) {
    const methods = new Map<string, ReadonlySet<string>>();
    // APISIX reads the first entry for a value and ignores later ones.
    for (const entry of conf.allowed_by_methods ?? []) {
      if (entry.user !== undefined && !methods.has(entry.user)) methods.set(entry.user, new Set(entry.methods));
    }
    const message = conf.rejected_msg ?? `The ${conf.type} is forbidden.`;
    return {
      whitelist: conf.whitelist?.length ? new Set(conf.whitelist) : undefined,
      blacklist: conf.blacklist?.length ? new Set(conf.blacklist) : undefined,
      methods: conf.allowed_by_methods?.length ? methods : undefined,
      missing: `The request is rejected, please check the ${conf.type} for this request`,
      rejected: message,
    };
  },

  access(ctx, conf, compiled) {
    const value = SUBJECT[conf.type](ctx.gateway);
    if (value === undefined) throw refusal(401, compiled.missing);
    if (compiled.blacklist?.has(value)) throw refusal(conf.rejected_code, compiled.rejected);
    const whitelisted = compiled.whitelist?.has(value) ?? false;
    let blocked = compiled.whitelist !== undefined && !whitelisted;
    if (compiled.methods && !whitelisted) {
      const allowed = compiled.methods.get(value);
      if (allowed && !allowed.has(ctx.method)) blocked = true;
    }
    if (blocked) throw refusal(conf.rejected_code, compiled.rejected);
  },
});

function refusal(status: number, message: string): GatewayError {
  return ERRORS.GW_CONSUMER_RESTRICTED.error({ status, message, body: { message } });
}
