/**
 * openid-connect — Tollgate as an OAuth 2.1 resource server (APISIX's openid-connect with
 * `bearer_only: true`), the role the MCP authorization specification gives an HTTP MCP server.
 *
 * Every request must bring `Authorization: Bearer <access token>`. A JWT is verified with the
 * issuer's JWKS (`use_jwks`, found through `discovery`, cached, refetched on an unknown `kid` at a
 * bounded rate) or a configured `public_key`; any other token is introspected (RFC 7662). Then:
 * issuer, audience (the token must be for this route's `resource`, RFC 8707), `exp`/`nbf`, the
 * accepted algorithms (never `none`), and `required_scopes`. The token's `consumer_claim` (default
 * `sub`) becomes the request's consumer — the catalog consumer of that name, or a consumer
 * identity of that name — so limits by consumer and MCP session binding work as with key-auth;
 * what the token grants is on `ctx.gateway.authInfo` for plugins that decide by scope.
 *
 * With a `resource`, the route's RFC 9728 metadata is served at
 * `/.well-known/oauth-protected-resource<resource path>` (and the root form), and every 401/403
 * carries `WWW-Authenticate: Bearer … resource_metadata="…"`, which MCP clients follow to log in.
 *
 * The token is for this gateway: it is removed before the upstream (unless
 * `set_access_token_header`), and never reaches an MCP server behind the route.
 *
 * Phase: rewrite (before every access-phase plugin: a refused request touches no limiter and
 * starts no MCP child). Fails closed: 401/403 for tokens, 503 when the authorization server is
 * needed and cannot be reached (cached keys keep serving; with none, nothing passes).
 */
import type { AuthInfo, ConsumerInfo, GatewayContext } from '../../core/context.js';
import type { GatewayError } from '../../core/errors.js';
import { ERRORS } from './errors.js';
import { definePlugin, type ConsumerLookup, type Disposable, type PluginApi } from '../../core/plugin.js';
import type { Held } from '../../core/ref-counted-map.js';
import { attachConsumer } from '../kit/index.js';
import { AuthorizationServers, issuerOfDiscoveryUrl, type AuthorizationServer } from './authorization-server.js';
import { metadataDocument, metadataPath, metadataUrl, ProtectedResources, refusal, WELL_KNOWN_PREFIX } from './metadata.js';
import { checkOidcConf, oidcSchema, type OidcConf } from './schema.js';
import { scopesOf, TokenRejection, TokenVerifier } from './tokens.js';

const NAME = 'openid-connect';

/** Headers only this plugin may set for the upstream: a client's own are dropped (APISIX does too). */
const IDENTITY_HEADERS = ['x-access-token', 'x-userinfo', 'x-id-token', 'x-refresh-token', 'x-raw-id-token'];

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** What a consumer name may be: it travels in X-Consumer-Username and in logs. */
const CONSUMER_NAME = /^[\x21-\x7E]{1,256}$/;

const NO_PLUGINS: Readonly<Record<string, unknown>> = Object.freeze({});

interface Runtime {
  servers: AuthorizationServers;
  resources: ProtectedResources;
}

const runtimeOf = (api: PluginApi): Runtime =>
  api.state(NAME, () => ({ servers: new AuthorizationServers(api.logger), resources: new ProtectedResources() }));

/** What a request's consumer, authInfo and X-Userinfo are, worked out once per verified claims object. */
interface Derived {
  authInfo: AuthInfo;
  /** The consumer the claim names when no catalog consumer has that name; undefined: no usable claim. */
  identity?: ConsumerInfo;
  userinfo(): string;
}

/** A route's instance: its verifier, and its share of the authorization server. */
class ProtectedRoute implements Disposable {
  /**
   * Keyed by the claims object the verifier returns, which is the same object for every request
   * bringing a token verified (or introspected) before: a repeated token costs no new objects.
   */
  private readonly derivedByClaims = new WeakMap<object, Derived>();

  readonly server: AuthorizationServer;
  private readonly held: Held<AuthorizationServer>;
  readonly verifier: TokenVerifier;
  readonly consumers: ConsumerLookup;
  private readonly runtime: Runtime;

  constructor(
    readonly conf: OidcConf,
    api: PluginApi,
  ) {
    this.runtime = runtimeOf(api);
    this.consumers = api.consumers;
    this.held = this.runtime.servers.acquire({
      discovery: conf.discovery,
      timeoutMs: conf.timeout * 1000,
      verifyTls: conf.ssl_verify,
      maxAgeMs: conf.jwk_expires_in * 1000,
      minRefreshMs: conf.jwk_min_refresh_interval * 1000,
    });
    this.server = this.held.value;
    try {
      this.verifier = new TokenVerifier(conf, this.server);
    } catch (err) {
      this.held.release();
      throw err;
    }
    if (conf.resource) this.runtime.resources.add(this, conf.resource);
  }

  derive(claims: Record<string, unknown>): Derived {
    let derived = this.derivedByClaims.get(claims);
    if (!derived) {
      let userinfo: string | undefined;
      derived = {
        authInfo: authInfoOf(claims, scopesOf(claims), this.conf),
        identity: identityOf(claims, this.conf),
        userinfo: () => (userinfo ??= Buffer.from(JSON.stringify(claims)).toString('base64')),
      };
      this.derivedByClaims.set(claims, derived);
    }
    return derived;
  }

  /** Whether the root metadata URL of this route's origin names other protected resources too. */
  otherResources(): string[] {
    return this.conf.resource ? this.runtime.resources.othersOf(this.conf.resource) : [];
  }

  dispose(): void {
    if (this.conf.resource) this.runtime.resources.remove(this, this.conf.resource);
    this.held.release();
  }
}

export default definePlugin<OidcConf, ProtectedRoute>({
  name: NAME,
  version: '1.0.0',
  priority: 2599,
  errors: ERRORS,
  description: 'OAuth 2.1 resource server: bearer access tokens verified by JWKS or introspection, RFC 9728 metadata, consumer identity from the token.',
  schema: oidcSchema,
  credentials: () => ({ headers: ['authorization', 'x-access-token'], query: ['access_token'] }),
  checkConf: (conf) => checkOidcConf(conf),

  init(api) {
    runtimeOf(api);
  },

  destroy(api) {
    runtimeOf(api).servers.closeAll();
  },

  create: (conf, _route, api) => new ProtectedRoute(conf, api),

  async rewrite(ctx, conf, route) {
    const plan = ctx.gateway.upstream.headers;
    for (const header of IDENTITY_HEADERS) plan.set(header, null);
    const scopes = challengeScopes(conf);
    const token = bearerToken(ctx, conf, scopes);

    let claims: Record<string, unknown>;
    try {
      claims = await route.verifier.verify(token);
    } catch (err) {
      if (!(err instanceof TokenRejection)) throw err;
      if (err.kind === 'invalid_token') throw refusal(ctx, conf, { error: 'invalid_token', description: err.message, scopes });
      throw unavailable(ctx, conf, err);
    }

    const derived = route.derive(claims);
    const missing = conf.required_scopes.filter((scope) => !derived.authInfo.scopes.includes(scope));
    if (missing.length > 0) {
      throw refusal(ctx, conf, { error: 'insufficient_scope', description: `the token lacks the scope ${missing.join(' ')}`, scopes: conf.required_scopes });
    }
    if (!derived.identity) {
      throw refusal(ctx, conf, { error: 'invalid_token', description: `the token has no ${conf.consumer_claim} claim that can name a consumer`, scopes });
    }
    attachConsumer(ctx, route.consumers.get(derived.identity.username) ?? derived.identity);
    ctx.gateway.authInfo = derived.authInfo;

    // The token is for this gateway (RFC 8707, MCP "token passthrough" is forbidden); an MCP
    // route never hands it on, whatever the config says.
    const toUpstream = conf.set_access_token_header && !ctx.gateway.route?.jsonRpc;
    if (toUpstream && conf.access_token_in_authorization_header) plan.set('authorization', `Bearer ${token}`);
    else plan.set('authorization', null);
    if (toUpstream && !conf.access_token_in_authorization_header) plan.set('x-access-token', token);
    if (conf.set_userinfo_header && !ctx.gateway.route?.jsonRpc) plan.set('x-userinfo', derived.userinfo());
  },

  companionPaths: (conf) => (conf.resource ? [...new Set([metadataPath(conf.resource), WELL_KNOWN_PREFIX])] : []),

  async serveCompanion(ctx, conf, route) {
    // Public documents that browser-based MCP clients fetch cross-origin (RFC 9728 §3).
    ctx.set('access-control-allow-origin', '*');
    if (ctx.method === 'OPTIONS') {
      ctx.set('access-control-allow-methods', 'GET, HEAD, OPTIONS');
      ctx.set('access-control-allow-headers', 'mcp-protocol-version');
      ctx.set('access-control-max-age', '86400');
      ctx.status = 204;
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('allow', 'GET, HEAD, OPTIONS');
      throw ERRORS.GW_METHOD_NOT_ALLOWED.error();
    }
    const resource = conf.resource!;
    if (ctx.gateway.path === WELL_KNOWN_PREFIX && metadataPath(resource) !== WELL_KNOWN_PREFIX) {
      const others = route.otherResources();
      if (others.length > 0) {
        throw ERRORS.GW_AUTH_METADATA_AMBIGUOUS.error({ message: `several protected resources share this origin; read the metadata of one at ${WELL_KNOWN_PREFIX}<its path>, e.g. ${metadataUrl(resource)}` });
      }
    }
    // The issuer exactly as the server states it (Auth0's ends with "/", and MCP clients compare
    // it with the metadata they fetch next); while it cannot be fetched, the one its URL implies.
    let authorizationServer: string | undefined;
    try {
      authorizationServer = (await route.server.discoveryDocument()).issuer;
    } catch (err) {
      authorizationServer = issuerOfDiscoveryUrl(conf.discovery);
      if (!authorizationServer) throw unavailable(ctx, conf, new TokenRejection('unavailable', (err as Error).message, { cause: err }));
    }
    ctx.set('cache-control', 'public, max-age=300');
    ctx.status = 200;
    ctx.body = metadataDocument(conf, authorizationServer);
  },
});

/** The scopes a challenge names: the ones required, else the ones advertised. */
function challengeScopes(conf: OidcConf): readonly string[] {
  return conf.required_scopes.length > 0 ? conf.required_scopes : (conf.scopes_supported ?? []);
}

/** The bearer token of `Authorization` (RFC 6750 §2.1: the only place MCP allows); throws the 401/400. */
function bearerToken(ctx: GatewayContext, conf: OidcConf, scopes: readonly string[]): string {
  const header = ctx.req.headers.authorization;
  const match = header ? /^bearer(?: +(.*))?$/i.exec(header.trim()) : null;
  if (!match) {
    const inQuery = ctx.gateway.var('arg_access_token') !== undefined;
    throw refusal(ctx, conf, {
      scopes,
      description: inQuery
        ? 'access tokens in the query string are not accepted; send Authorization: Bearer <token>'
        : 'this resource needs an OAuth bearer access token (Authorization: Bearer <token>)',
    });
  }
  const token = match[1]?.trim() ?? '';
  if (!B64TOKEN.test(token)) throw refusal(ctx, conf, { error: 'invalid_request', description: 'the Authorization header does not carry a bearer token (RFC 6750)', scopes });
  return token;
}

/**
 * The consumer identity the token's `consumer_claim` names, for when no catalog consumer has that
 * name (one that does is looked up per request: consumers change). Undefined when the claim is
 * missing or cannot be a name.
 */
function identityOf(claims: Record<string, unknown>, conf: OidcConf): ConsumerInfo | undefined {
  const value = claims[conf.consumer_claim];
  const name = typeof value === 'string' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
  if (name === undefined || !CONSUMER_NAME.test(name)) return undefined;
  return Object.freeze({ username: name, plugins: NO_PLUGINS });
}

function authInfoOf(claims: Record<string, unknown>, scopes: string[], conf: OidcConf): AuthInfo {
  const aud = claims.aud;
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : undefined;
  return Object.freeze({
    issuer: typeof claims.iss === 'string' ? claims.iss : '',
    subject: typeof claims.sub === 'string' ? claims.sub : undefined,
    clientId,
    scopes: Object.freeze(scopes),
    audience: Object.freeze(typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []),
    expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined,
    resource: conf.resource,
    resourceMetadata: conf.resource ? metadataUrl(conf.resource) : undefined,
    claims: Object.freeze({ ...claims }),
  });
}

/** 503: the token cannot be checked, so nothing passes; the body says so plainly, the cause goes to the log. */
function unavailable(ctx: GatewayContext, conf: OidcConf, err: TokenRejection): GatewayError {
  const message =
    conf.use_jwks || conf.public_key
      ? 'cannot verify the access token now: the authorization server is unavailable and no usable signing keys are cached'
      : 'cannot verify the access token now: the authorization server does not answer its introspection endpoint';
  return ERRORS.GW_AUTH_SERVER_UNAVAILABLE.error({
    message,
    cause: err,
    retryAfter: conf.jwk_min_refresh_interval,
    body: { error_msg: message, error: 'temporarily_unavailable', request_id: ctx.gateway.requestId },
  });
}
