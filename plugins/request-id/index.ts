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
  algorithm: 'uuid' | 'uuidv7' | 'nanoid' | 'range_id' | 'ksuid';
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
      algorithm: {
        enum: ['uuid', 'uuidv7', 'nanoid', 'range_id', 'ksuid'],
        default: 'uuid',
        description: 'How new ids are generated: UUID v4, time-ordered UUID v7, nanoid, range_id, or a time-ordered KSUID.',
      },
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
    // A global rule and a route may both run the plugin: each keeps the id of its own header
    // (two names, two ids, both answered), and one that comes second under the same name reuses
    // the first's id, as the header it set is what APISIX's second instance reads.
    const ids = ctx.gateway.scratch('request-id', () => new Map<string, string>());
    const name = conf.header_name.toLowerCase();
    let id = ids.get(name);
    if (id === undefined) {
      const incoming = requestHeader(ctx.req.headers, conf.header_name);
      id = incoming && ACCEPTABLE_ID.test(incoming) ? incoming : generate(conf);
      ids.set(name, id);
    }
    ctx.gateway.requestId = id;
    ctx.gateway.upstream.headers.set(name, id);
  },

  headerFilter(ctx, conf) {
    if (!conf.include_in_response) return;
    // Before rewrite ran (a request refused earlier), the request's own id is the one to echo.
    const id = ctx.gateway.scratch('request-id', () => new Map<string, string>()).get(conf.header_name.toLowerCase());
    ctx.set(conf.header_name, id ?? ctx.gateway.requestId);
  },
});

function generate(conf: RequestIdConf): string {
  switch (conf.algorithm) {
    case 'uuid':
      return randomUUID();
    case 'uuidv7':
      return uuidV7();
    case 'ksuid':
      return ksuid();
    case 'nanoid':
      return randomString(NANOID_ALPHABET, 21);
    case 'range_id':
      return randomString(conf.range_id.char_set, conf.range_id.length);
  }
}

function randomString(alphabet: string, length: number): string {
  const bytes = randomBytes(length);
  let id = '';
  for (let i = 0; i < length; i++) id += alphabet[bytes[i] % alphabet.length];
  return id;
}

/**
 * RFC 9562 UUID version 7: 48 bits of Unix milliseconds, then a 12-bit counter in `rand_a`
 * (method 1 of §6.2) so ids made in the same millisecond still sort in order, then 62 random
 * bits. The counter starts at a random value below 2048 each millisecond; when it overflows the
 * timestamp moves one millisecond ahead rather than repeating (as APISIX's generator does).
 */
let v7LastMs = 0;
let v7Counter = 0;

function uuidV7(): string {
  let ms = Date.now();
  if (ms > v7LastMs) {
    v7Counter = randomBytes(2).readUInt16BE(0) & 0x7ff;
  } else {
    ms = v7LastMs;
    v7Counter++;
    if (v7Counter > 0xfff) {
      ms++;
      v7Counter = 0;
    }
  }
  v7LastMs = ms;
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (v7Counter >> 8);
  bytes[7] = v7Counter & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** KSUID: 4 bytes of seconds since 2014-05-13 (KSUID's epoch) and 16 random bytes, 27 base62 characters. */
const KSUID_EPOCH = 1_400_000_000;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function ksuid(): string {
  const bytes = Buffer.concat([Buffer.alloc(4), randomBytes(16)]);
  bytes.writeUInt32BE(Math.floor(Date.now() / 1000) - KSUID_EPOCH, 0);
  let value = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  while (value > 0n) {
    out = BASE62[Number(value % 62n)] + out;
    value /= 62n;
  }
  return out.padStart(27, '0');
}
