/**
 * ip-restriction — admits or refuses requests by the client's address (APISIX ip-restriction):
 * with `whitelist`, only addresses inside one of its IPs or CIDRs pass; with `blacklist`, those
 * inside are refused. IPv4 and IPv6 alike. The address is the one the core resolved
 * (`remote_addr`): the socket's peer, or the client a trusted proxy names in X-Forwarded-For
 * (`gateway.trusted_proxies`) — never a header an untrusted client sent (CVE-2022-24112).
 * The lists are compiled once per route version (core/address-set.ts: a lookup costs ~0.2 µs).
 * Phase: access. Fails closed: a refused address gets `response_code` (403) and
 * `{"message": …}`; nothing it depends on can fail.
 */
import { addressProblem } from '../../core/address.js';
import { AddressSet } from '../../core/address-set.js';
import { defineErrors } from '../../core/errors.js';
import { definePlugin } from '../../core/plugin.js';

interface IpRestrictionConf {
  whitelist?: string[];
  blacklist?: string[];
  message: string;
  response_code: number;
}

interface Compiled {
  list: AddressSet;
  /** true: the list names who may pass; false: who may not. */
  admits: boolean;
}

const addresses = (who: string) => ({
  type: 'array',
  minItems: 1,
  items: { type: 'string', minLength: 1, maxLength: 64 },
  description: `IPv4 or IPv6 addresses or CIDRs (\`10.0.0.0/8\`, \`2001:db8::/32\`) ${who}.`,
});

const ERRORS = defineErrors({
  GW_IP_RESTRICTED: { status: 403, message: 'Your IP address is not allowed' },
});

export default definePlugin<IpRestrictionConf, Compiled>({
  name: 'ip-restriction',
  version: '1.0.0',
  priority: 3000,
  errors: ERRORS,
  description: 'Admits or refuses requests by client IP address or CIDR.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      whitelist: addresses('that may pass; every other address is refused'),
      blacklist: addresses('that are refused; every other address passes'),
      message: { type: 'string', minLength: 1, maxLength: 1024, default: 'Your IP address is not allowed', description: 'The `message` of the refusal body.' },
      response_code: { type: 'integer', minimum: 403, maximum: 404, default: 403, description: 'Status of a refusal: 403 or 404.' },
    },
    oneOf: [{ required: ['whitelist'] }, { required: ['blacklist'] }],
  },

  checkConf(conf) {
    for (const entry of conf.whitelist ?? conf.blacklist ?? []) {
      if (addressProblem(entry)) return `invalid ip address: ${entry}`;
    }
    return undefined;
  },

  create: (conf) => ({ list: new AddressSet(conf.whitelist ?? conf.blacklist!), admits: conf.whitelist !== undefined }),

  access(ctx, conf, compiled) {
    if (compiled.list.has(ctx.gateway.clientIp) === compiled.admits) return;
    throw ERRORS.GW_IP_RESTRICTED.error({ status: conf.response_code, message: conf.message, body: { message: conf.message } });
  },
});
