/**
 * jwt-auth — authenticates a consumer by a JSON Web Token the client brings (APISIX jwt-auth):
 * from `Authorization: Bearer`, then `?jwt=`, then the `jwt` cookie. The token's `key` claim names
 * the consumer; its signature is checked with that consumer's `secret` (HS256/384/512) or
 * `public_key` (RS, PS, ES), its algorithm must be the consumer's, and `exp` / `nbf` hold within
 * the consumer's `lifetime_grace_period`. 401 reasons say what was wrong with the token, never
 * anything about the key it was checked against.
 * Phase: rewrite (before every access-phase plugin). Fails closed: 401. Consumers are looked up in
 * the gateway's in-memory snapshot, never in a remote store.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { attachConsumer, TOKEN_ERRORS, unauthorized, withoutQueryParam } from '../kit/index.js';
import type { ConsumerInfo, GatewayContext } from '../../core/context.js';
import { ownValue, requestHeader } from '../../core/own.js';
import { definePlugin, type ConsumerLookup } from '../../core/plugin.js';
import type { ErrorCode } from '../../core/errors.js';

/** jsonwebtoken, loaded by the first route that uses the plugin (create), not by every start. */
let jwtModule: typeof import('jsonwebtoken') | undefined;
const jwt = () => (jwtModule ??= createRequire(import.meta.url)('jsonwebtoken') as typeof import('jsonwebtoken'));

const HMAC = ['HS256', 'HS384', 'HS512'] as const;
const DEFAULT_CLAIMS = ['exp', 'nbf'] as const;
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
type Algorithm = (typeof HMAC)[number] | (typeof ASYMMETRIC)[number];

/** The key type (and EC curve) each asymmetric algorithm needs. */
const KEY_TYPES: Record<string, { type: string[]; curve?: string }> = {
  RS: { type: ['rsa'] },
  PS: { type: ['rsa', 'rsa-pss'] },
  ES256: { type: ['ec'], curve: 'prime256v1' },
  ES384: { type: ['ec'], curve: 'secp384r1' },
  ES512: { type: ['ec'], curve: 'secp521r1' },
};

interface JwtAuthConf {
  header: string;
  query: string;
  cookie: string;
  hide_credentials: boolean;
  key_claim_name: string;
  realm: string;
  anonymous_consumer?: string;
  claims_to_verify: Array<'exp' | 'nbf'>;
  store_in_ctx: boolean;
}

interface JwtConsumerConf {
  key: string;
  secret?: string;
  public_key?: string;
  algorithm: Algorithm;
  exp: number;
  base64_secret: boolean;
  lifetime_grace_period: number;
}

/**
 * Key objects per consumer config version: parsing a PEM per request would dominate the cost.
 * Keyed by the (immutable) consumer config object, so it is safe to share between gateways.
 */
const keys = new WeakMap<object, KeyObject>();

const ERRORS = TOKEN_ERRORS;

export default definePlugin<JwtAuthConf, ConsumerLookup>({
  name: 'jwt-auth',
  version: '1.0.0',
  priority: 2510,
  errors: ERRORS,
  type: 'auth',
  description: 'Authenticates consumers by a JSON Web Token signed with their secret or key.',
  credentialField: 'key',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_-]+$', default: 'authorization', description: 'Header carrying the token (a "Bearer " prefix is removed).' },
      query: { type: 'string', minLength: 1, default: 'jwt', description: 'Query parameter carrying the token, checked when the header is absent.' },
      cookie: { type: 'string', minLength: 1, default: 'jwt', description: 'Cookie carrying the token, checked last.' },
      hide_credentials: {
        type: 'boolean',
        default: false,
        description: 'Remove the token from the upstream request: every line of the header, every `query` parameter and `cookie` of those names, whichever carried it; on the anonymous fallback too.',
      },
      key_claim_name: { type: 'string', minLength: 1, default: 'key', description: 'Payload claim naming the consumer (its jwt-auth `key`).' },
      realm: { type: 'string', minLength: 1, pattern: '^[^"\\\\]+$', default: 'jwt', description: 'Realm of the WWW-Authenticate challenge on 401.' },
      anonymous_consumer: { type: 'string', minLength: 1, description: 'Username of a consumer to use when the token is missing or invalid, instead of answering 401.' },
      claims_to_verify: {
        type: 'array',
        uniqueItems: true,
        items: { enum: ['exp', 'nbf'] },
        default: [...DEFAULT_CLAIMS],
        description: 'Time claims checked when present in the token; an empty list checks both, as the default does (a token past its `exp` is never accepted unless the list names only `nbf`).',
      },
      store_in_ctx: {
        type: 'boolean',
        default: false,
        description: 'Accepted for APISIX compatibility; plugins here share only typed context fields, so the payload is not exposed.',
      },
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: {
      key: { type: 'string', minLength: 1, description: 'Identifies the consumer: the value of the token claim `key_claim_name`. Unique across consumers.' },
      secret: { type: 'string', minLength: 1, writeOnly: true, description: 'HS256/384/512: the shared secret (masked for the viewer role).' },
      public_key: { type: 'string', minLength: 1, description: 'RS/PS/ES algorithms: the PEM public key tokens are verified with.' },
      algorithm: { enum: [...HMAC, ...ASYMMETRIC], default: 'HS256', description: 'The only algorithm accepted for this consumer’s tokens.' },
      exp: { type: 'integer', minimum: 1, default: 86400, description: 'Accepted for APISIX compatibility (token lifetime when APISIX signed tokens); tokens bring their own `exp`.' },
      base64_secret: { type: 'boolean', default: false, description: '`secret` is base64-encoded.' },
      lifetime_grace_period: { type: 'integer', minimum: 0, default: 0, description: 'Clock skew allowed on `exp` and `nbf`, in seconds.' },
    },
    allOf: [
      {
        if: { required: ['algorithm'], properties: { algorithm: { enum: [...ASYMMETRIC] } } },
        then: { required: ['public_key'] },
        else: { required: ['secret'] },
      },
    ],
  },
  credentials: (conf) => ({ headers: [conf.header], query: [conf.query], cookies: [conf.cookie] }),

  checkConsumerConf(conf: JwtConsumerConf) {
    try {
      keyOf(conf);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  },

  // The instance is this gateway's consumer directory (in-memory, from the catalog snapshot).
  create: (_conf, _route, api) => {
    jwt();
    return api.consumers;
  },

  rewrite(ctx, conf, consumers) {
    const challenge = `Bearer realm="${conf.realm}"`;
    const token = tokenOf(ctx, conf);
    let consumer: ConsumerInfo | undefined;
    let failure: { code: ErrorCode; message: string } | undefined;
    if (!token) failure = { code: ERRORS.GW_AUTH_MISSING_TOKEN, message: 'Missing JWT token in request' };
    else {
      const verified = verify(token, conf, consumers);
      if ('consumer' in verified) consumer = verified.consumer;
      else failure = verified;
    }
    if (!consumer) {
      if (conf.anonymous_consumer) {
        const anonymous = consumers.get(conf.anonymous_consumer);
        if (anonymous) {
          attachConsumer(ctx, anonymous);
          // A token that failed is still someone's credential: it goes no further either.
          if (conf.hide_credentials && token) hide(ctx, conf);
          return;
        }
        throw unauthorized(ERRORS.GW_AUTH_INVALID_TOKEN, 'Invalid user authorization', challenge);
      }
      throw unauthorized(failure!.code, failure!.message, challenge);
    }
    attachConsumer(ctx, consumer);
    if (conf.hide_credentials) hide(ctx, conf);
  },
});

function tokenOf(ctx: GatewayContext, conf: JwtAuthConf): string | undefined {
  const header = requestHeader(ctx.req.headers, conf.header);
  if (header) return header.replace(/^bearer\s+/i, '');
  return ctx.gateway.var(`arg_${conf.query}`) || ctx.gateway.var(`cookie_${conf.cookie}`) || undefined;
}

/**
 * Tokens verified recently, by claim name and exact token bytes: clients send the same token many
 * times, and checking a signature costs more than everything else a request does here. A hit
 * still checks the time claims, and that its consumer is unchanged (any edit makes a new object).
 */
interface VerifiedToken {
  claim: string;
  consumer: ConsumerInfo;
  exp?: number;
  nbf?: number;
}
const VERIFIED_MAX = 4096;
/** Shared by the gateways of a process: every hit is checked against the asking gateway's consumers. */
const verified = new Map<string, VerifiedToken>();

function fromCache(cacheKey: string, conf: JwtAuthConf, lookup: ConsumerLookup): ConsumerInfo | undefined {
  const hit = verified.get(cacheKey);
  if (!hit) return undefined;
  if (lookup.find('jwt-auth', 'key', hit.claim) !== hit.consumer) {
    verified.delete(cacheKey);
    return undefined;
  }
  // Same rule as jsonwebtoken's checks; when they fail, the full path below says why.
  const grace = (hit.consumer.plugins['jwt-auth'] as JwtConsumerConf).lifetime_grace_period;
  const now = Math.floor(Date.now() / 1000);
  const claims = claimsChecked(conf);
  if (hit.exp !== undefined && claims.includes('exp') && now >= hit.exp + grace) return undefined;
  if (hit.nbf !== undefined && claims.includes('nbf') && hit.nbf > now + grace) return undefined;
  return hit.consumer;
}

function verify(token: string, conf: JwtAuthConf, lookup: ConsumerLookup): { consumer: ConsumerInfo } | { code: ErrorCode; message: string } {
  const cacheKey = `${conf.key_claim_name}\u0000${token}`;
  const cached = fromCache(cacheKey, conf, lookup);
  if (cached) return { consumer: cached };
  const invalid = (message: string) => ({ code: ERRORS.GW_AUTH_INVALID_TOKEN, message });
  const decoded = jwt().decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object' || decoded.payload === null) return invalid('JWT token invalid');
  // RFC 7515 §4.1.11: a recipient that does not understand every extension `crit` names must
  // refuse the token; this plugin understands none (and `crit: []` is forbidden to producers).
  if (Object.hasOwn(decoded.header, 'crit')) return invalid('JWT token invalid: unsupported critical header parameter');
  const claim = ownValue(decoded.payload, conf.key_claim_name);
  if (typeof claim !== 'string' || claim === '') return invalid('missing user key in JWT token');
  const consumer = lookup.find('jwt-auth', 'key', claim);
  if (!consumer) return invalid('Invalid user key in JWT token');
  const auth = consumer.plugins['jwt-auth'] as JwtConsumerConf;
  // The consumer's algorithm, not the token's header, decides how the token is checked.
  if (decoded.header.alg !== auth.algorithm) return invalid('failed to verify jwt');
  let key: KeyObject;
  try {
    key = keyOf(auth);
  } catch {
    return invalid('failed to verify jwt');
  }
  const claims = claimsChecked(conf);
  try {
    jwt().verify(token, key, {
      algorithms: [auth.algorithm],
      clockTolerance: auth.lifetime_grace_period,
      ignoreExpiration: !claims.includes('exp'),
      ignoreNotBefore: !claims.includes('nbf'),
    });
  } catch (err) {
    if (err instanceof jwt().TokenExpiredError) return invalid(`'exp' claim expired at ${err.expiredAt.toUTCString()}`);
    if (err instanceof jwt().NotBeforeError) return invalid(`'nbf' claim not valid until ${err.date.toUTCString()}`);
    return invalid('failed to verify jwt');
  }
  const payload = decoded.payload as Record<string, unknown>;
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
  verified.set(cacheKey, {
    claim,
    consumer,
    exp: typeof payload.exp === 'number' ? payload.exp : undefined,
    nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
  });
  return { consumer };
}

/** RFC 4648 base64 with its padding: what ngx.decode_base64 accepts. */
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The verification key of a consumer config, parsed once; throws a message fit for the Admin API. */
function keyOf(auth: JwtConsumerConf): KeyObject {
  const cached = keys.get(auth);
  if (cached) return cached;
  let key: KeyObject;
  if ((HMAC as readonly string[]).includes(auth.algorithm)) {
    // Node decodes any text as base64, skipping what is not; APISIX (ngx.decode_base64) refuses it.
    if (auth.base64_secret && !STANDARD_BASE64.test(auth.secret ?? '')) throw new Error('base64_secret required but the secret is not in base64 format');
    const secret = auth.base64_secret ? Buffer.from(auth.secret ?? '', 'base64') : Buffer.from(auth.secret ?? '', 'utf8');
    if (secret.length === 0) throw new Error(auth.base64_secret ? 'base64_secret required but the secret is not in base64 format' : 'secret is required');
    key = createSecretKey(secret);
  } else {
    try {
      key = createPublicKey(auth.public_key ?? '');
    } catch {
      throw new Error(`public_key is not a valid PEM public key for ${auth.algorithm}`);
    }
    const wanted = KEY_TYPES[auth.algorithm] ?? KEY_TYPES[auth.algorithm.slice(0, 2)];
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (!wanted.type.includes(key.asymmetricKeyType ?? '') || (wanted.curve && curve !== wanted.curve)) {
      throw new Error(`public_key is a ${key.asymmetricKeyType}${curve ? ` (${curve})` : ''} key; ${auth.algorithm} needs ${wanted.type[0]}${wanted.curve ? ` (${wanted.curve})` : ''}`);
    }
  }
  keys.set(auth, key);
  return key;
}

/**
 * Every copy of the token, whichever one was read: the header (every line of it), every query
 * parameter and every cookie of the configured names. Other cookies go upstream unchanged.
 */
function hide(ctx: GatewayContext, conf: JwtAuthConf): void {
  const plan = ctx.gateway.upstream;
  plan.headers.set(conf.header.toLowerCase(), null);
  plan.uri = withoutQueryParam(plan.uri, conf.query);
  const cookies = ctx.get('cookie');
  if (!cookies) return;
  const rest = cookies
    .split(';')
    .filter((pair) => pair.slice(0, pair.indexOf('=') < 0 ? undefined : pair.indexOf('=')).trim() !== conf.cookie)
    .map((pair) => pair.trim())
    .filter(Boolean);
  plan.headers.set('cookie', rest.length > 0 ? rest.join('; ') : null);
}

/**
 * The time claims checked when a token carries them. An empty list means the default, as unset
 * does in APISIX 3.17: `[]` once skipped every check and let expired tokens through.
 */
function claimsChecked(conf: JwtAuthConf): ReadonlyArray<'exp' | 'nbf'> {
  return conf.claims_to_verify.length > 0 ? conf.claims_to_verify : DEFAULT_CLAIMS;
}
