/**
 * request-id — gives every request an id that follows it to the upstream, the response and the
 * logs. A well-formed id sent by the client (or a proxy in front) is kept, as in APISIX; anything
 * else is replaced, so a client cannot inject log lines through it.
 * Phases: rewrite (adopt or generate, forward upstream), headerFilter (echo in the response).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { requestHeader } from '../../core/own.js';
import { definePlugin } from '../../core/plugin.js';

interface RequestIdConf {
  header_name: string;
  include_in_response: boolean;
  algorithm: 'uuid' | 'nanoid' | 'range_id';
  range_id: { char_set: string; length: number };
}

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const NANOID_ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict';

export default definePlugin<RequestIdConf>({
  name: 'request-id',
  version: '1.0.0',
  priority: 12015,
  description: 'Adds a unique request id to the upstream request and the response.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header_name: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9-]+$', default: 'X-Request-Id', description: 'Header carrying the id.' },
      include_in_response: { type: 'boolean', default: true, description: 'Echo the id in the response.' },
      algorithm: { enum: ['uuid', 'nanoid', 'range_id'], default: 'uuid', description: 'How new ids are generated.' },
      range_id: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'For algorithm range_id: the characters and length of the id.',
        properties: {
          char_set: { type: 'string', minLength: 6, default: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789' },
          length: { type: 'integer', minimum: 6, maximum: 128, default: 16 },
        },
      },
    },
  },

  rewrite(ctx, conf) {
    const incoming = requestHeader(ctx.req.headers, conf.header_name);
    const id = incoming && ACCEPTABLE_ID.test(incoming) ? incoming : generate(conf);
    ctx.gateway.requestId = id;
    ctx.gateway.upstream.headers.set(conf.header_name.toLowerCase(), id);
  },

  headerFilter(ctx, conf) {
    if (conf.include_in_response) ctx.set(conf.header_name, ctx.gateway.requestId);
  },
});

function generate(conf: RequestIdConf): string {
  if (conf.algorithm === 'uuid') return randomUUID();
  const alphabet = conf.algorithm === 'nanoid' ? NANOID_ALPHABET : conf.range_id.char_set;
  const length = conf.algorithm === 'nanoid' ? 21 : conf.range_id.length;
  const bytes = randomBytes(length);
  let id = '';
  for (let i = 0; i < length; i++) id += alphabet[bytes[i] % alphabet.length];
  return id;
}
