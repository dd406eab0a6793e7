/**
 * One authorization server as a resource server sees it: its discovery document and its signing
 * keys (JWKS), cached and shared by every route that names the same discovery URL with the same
 * settings, within one gateway.
 *
 * Keys are fetched when first needed and again when older than `jwk_expires_in` (in the
 * background: requests keep using the keys they have). A token signed with a key not in the set
 * — a rotation — fetches the set again, but at most once per `jwk_min_refresh_interval`: a storm
 * of made-up `kid`s costs one fetch, not one each (OIDC Core §10.1.1 says to re-read on an
 * unfamiliar kid; agentgateway#2798 shows what never re-reading does). When the server cannot be
 * reached, the last keys keep serving; with no keys at all, requests fail with
 * `AuthServerError` (the route answers 503), and retries are spaced by the same bound.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../../core/logger.js';
import { AuthServerError, AuthServerHttp } from './fetch.js';
import { RefCountedMap, type Held } from '../../core/ref-counted-map.js';

export interface DiscoveryDocument {
  readonly issuer: string;
  readonly jwks_uri?: string;
  readonly introspection_endpoint?: string;
}

export interface KeySet {
  /** Finds the key for a token's protected header (jose's local JWKS: by kid, alg, kty, use). */
  readonly getKey: JWTVerifyGetKey;
  readonly kids: ReadonlySet<string>;
  /** Changes whenever a fetched set replaces this one: verifications cached under another are void. */
  readonly generation: number;
}

export interface AuthorizationServerOptions {
  discovery: string;
  timeoutMs: number;
  verifyTls: boolean;
  /** How long a fetched document or key set is used before it is fetched again. */
  maxAgeMs: number;
  /** The least time between two fetches of the key set outside that schedule (unknown kid, retry). */
  minRefreshMs: number;
}

/** The key under which routes share one server: the same URL with the same settings. */
export function authorizationServerKey(options: AuthorizationServerOptions): string {
  return JSON.stringify([options.discovery, options.timeoutMs, options.verifyTls, options.maxAgeMs, options.minRefreshMs]);
}

const WELL_KNOWN = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

/**
 * The issuer a discovery URL belongs to, without fetching it: `<issuer>/.well-known/openid-configuration`
 * (OIDC Discovery §4) or `<origin>/.well-known/oauth-authorization-server<path>` (RFC 8414 §3).
 */
export function issuerOfDiscoveryUrl(discovery: string): string | undefined {
  let url: URL;
  try {
    url = new URL(discovery);
  } catch {
    return undefined;
  }
  if (url.search || url.hash) return undefined;
  const path = url.pathname;
  for (const suffix of WELL_KNOWN) {
    if (path.endsWith(suffix)) return url.origin + path.slice(0, -suffix.length);
    if (path.startsWith(`${suffix}/`)) return url.origin + path.slice(suffix.length);
  }
  return undefined;
}

interface Cached<T> {
  value: T;
  fetchedAt: number;
}

export class AuthorizationServer {
  private document?: Cached<DiscoveryDocument>;
  private documentFetch?: Promise<DiscoveryDocument>;
  private keys?: Cached<KeySet>;
  private keysFetch?: Promise<KeySet>;
  /** When the key set was last asked for outside the schedule (or failed): the rate bound. */
  private lastKeysAttempt = -Infinity;
  private lastDocumentFailure = -Infinity;
  private generation = 0;
  private issuerWarned = false;
  /** Key sets fetched, for the log and the tests that count them. */
  keyFetches = 0;
  private readonly http: AuthServerHttp;

  constructor(
    readonly options: AuthorizationServerOptions,
    private readonly logger: Logger,
  ) {
    this.http = new AuthServerHttp(options.timeoutMs, options.verifyTls);
  }

  /** The HTTP client of this server, for introspection. */
  get client(): AuthServerHttp {
    return this.http;
  }

  /** The discovery document: cached, fetched again in the background when old; the last one serves while the server is down. */
  async discoveryDocument(): Promise<DiscoveryDocument> {
    const now = Date.now();
    const cached = this.document;
    if (cached) {
      if (now - cached.fetchedAt > this.options.maxAgeMs && !this.documentFetch && now - this.lastDocumentFailure >= this.options.minRefreshMs) {
        this.fetchDocument().catch(() => undefined);
      }
      return cached.value;
    }
    if (this.documentFetch) return this.documentFetch;
    if (now - this.lastDocumentFailure < this.options.minRefreshMs) {
      throw new AuthServerError(`discovery: ${this.options.discovery} failed less than ${this.options.minRefreshMs / 1000}s ago; not retried yet`);
    }
    return this.fetchDocument();
  }

  /** The issuer of the cached discovery document, without waiting (undefined when none is cached). */
  cachedIssuer(): string | undefined {
    return this.document?.value.issuer;
  }

  /**
   * The cached signing keys, without waiting (undefined when there are none yet); starts a
   * background refresh when they are old. The hot path: a request whose token was verified before.
   */
  cachedKeySet(): KeySet | undefined {
    const cached = this.keys;
    if (!cached) return undefined;
    const now = Date.now();
    if (now - cached.fetchedAt > this.options.maxAgeMs && !this.keysFetch && now - this.lastKeysAttempt >= this.options.minRefreshMs) {
      this.lastKeysAttempt = now;
      this.fetchKeys().catch(() => undefined);
    }
    return cached.value;
  }

  /** The signing keys: fetched when there are none, refreshed in the background when old. */
  async keySet(): Promise<KeySet> {
    const cached = this.cachedKeySet();
    if (cached) return cached;
    const now = Date.now();
    if (this.keysFetch) return this.keysFetch;
    if (now - this.lastKeysAttempt < this.options.minRefreshMs) {
      throw new AuthServerError(`jwks: fetching the keys failed less than ${this.options.minRefreshMs / 1000}s ago; not retried yet`);
    }
    this.lastKeysAttempt = now;
    return this.fetchKeys();
  }

  /**
   * A token names a key the set does not have: fetch the set again unless that was done less
   * than `minRefreshMs` ago. Returns the set to look in (the same one when not refetched).
   */
  async keySetAfterUnknownKid(seen: KeySet): Promise<KeySet> {
    if (this.keys && this.keys.value !== seen) return this.keys.value;
    if (this.keysFetch) return this.keysFetch;
    const now = Date.now();
    if (now - this.lastKeysAttempt < this.options.minRefreshMs) return seen;
    this.lastKeysAttempt = now;
    try {
      return await this.fetchKeys();
    } catch {
      // Logged by fetchKeys; the token is judged against the keys there are.
      return seen;
    }
  }

  close(): void {
    this.http.close();
  }

  private fetchDocument(): Promise<DiscoveryDocument> {
    this.documentFetch ??= this.loadDocument().finally(() => (this.documentFetch = undefined));
    return this.documentFetch;
  }

  private async loadDocument(): Promise<DiscoveryDocument> {
    const { discovery } = this.options;
    try {
      const { status, body } = await this.http.json(discovery, 'discovery');
      if (status !== 200) throw new AuthServerError(`discovery: ${discovery} answered ${status}`);
      const { issuer, jwks_uri, introspection_endpoint } = body;
      if (typeof issuer !== 'string' || issuer === '') throw new AuthServerError(`discovery: ${discovery} has no issuer`);
      const document: DiscoveryDocument = {
        issuer,
        jwks_uri: typeof jwks_uri === 'string' ? jwks_uri : undefined,
        introspection_endpoint: typeof introspection_endpoint === 'string' ? introspection_endpoint : undefined,
      };
      const expected = issuerOfDiscoveryUrl(discovery);
      if (expected !== undefined && expected !== issuer && !this.issuerWarned) {
        // OIDC Discovery §4.3 and RFC 8414 §3.3 make this an error for clients; tokens are still
        // checked against the document's issuer (or valid_issuers), so say it once and go on.
        this.issuerWarned = true;
        this.logger.warn({ discovery, issuer, expected }, 'openid-connect: the discovery document names another issuer than its URL implies');
      }
      this.document = { value: document, fetchedAt: Date.now() };
      return document;
    } catch (err) {
      this.lastDocumentFailure = Date.now();
      this.logger.warn({ discovery, err: (err as Error).message }, 'openid-connect: discovery document unavailable');
      throw err instanceof AuthServerError ? err : new AuthServerError(`discovery: ${(err as Error).message}`, { cause: err });
    }
  }

  private fetchKeys(): Promise<KeySet> {
    this.keysFetch ??= this.loadKeys().finally(() => (this.keysFetch = undefined));
    return this.keysFetch;
  }

  private async loadKeys(): Promise<KeySet> {
    let jwksUri: string | undefined;
    try {
      const document = await this.discoveryDocument();
      jwksUri = document.jwks_uri;
      if (!jwksUri) throw new AuthServerError(`jwks: the discovery document of ${this.options.discovery} has no jwks_uri`);
      const { status, body } = await this.http.json(jwksUri, 'jwks');
      if (status !== 200) throw new AuthServerError(`jwks: ${jwksUri} answered ${status}`);
      const keys = body.keys;
      if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'object' || k === null)) throw new AuthServerError(`jwks: ${jwksUri} has no "keys" array of objects`);
      let getKey: JWTVerifyGetKey;
      try {
        getKey = createLocalJWKSet(body as unknown as JSONWebKeySet);
      } catch (err) {
        throw new AuthServerError(`jwks: ${jwksUri} is not a JWK set (${(err as Error).message})`);
      }
      const kids = new Set(keys.map((k) => (k as { kid?: unknown }).kid).filter((kid): kid is string => typeof kid === 'string'));
      this.keyFetches += 1;
      const set: KeySet = { getKey, kids, generation: ++this.generation };
      const previous = this.keys?.value.kids;
      this.keys = { value: set, fetchedAt: Date.now() };
      this.logger.info({ jwks: jwksUri, kids: [...kids], before: previous ? [...previous] : undefined }, 'openid-connect: signing keys fetched');
      return set;
    } catch (err) {
      this.lastKeysAttempt = Date.now();
      this.logger.warn({ jwks: jwksUri ?? this.options.discovery, err: (err as Error).message, cached: this.keys !== undefined }, 'openid-connect: signing keys unavailable');
      throw err instanceof AuthServerError ? err : new AuthServerError(`jwks: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** This gateway's authorization servers, shared by the routes naming the same one; the last to let go closes it. */
export class AuthorizationServers {
  private readonly servers = new RefCountedMap<AuthorizationServer>((server) => server.close());

  constructor(private readonly logger: Logger) {}

  acquire(options: AuthorizationServerOptions): Held<AuthorizationServer> {
    return this.servers.acquire(authorizationServerKey(options), () => new AuthorizationServer(options, this.logger));
  }

  /** Every server, for tests and diagnostics. */
  list(): AuthorizationServer[] {
    return this.servers.values();
  }

  closeAll(): void {
    this.servers.clear();
  }
}
