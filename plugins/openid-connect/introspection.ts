/**
 * RFC 7662 token introspection for opaque access tokens: `POST token=…&token_type_hint=access_token`
 * to the server's introspection endpoint, the gateway authenticating as a client (RFC 7662 §2.1)
 * with `client_secret_basic`, `client_secret_post`, `client_secret_jwt` or `private_key_jwt`
 * (RFC 7523). Concurrent requests with one new token share one call. An active answer is kept
 * for `introspection_interval` seconds (default: until the token's `exp`), never past `exp` (§4)
 * and at most five minutes, so a revoked token stops working within that; inactive answers are
 * not kept.
 */
import { createHash, createPrivateKey, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AuthorizationServer } from './authorization-server.js';
import { AuthServerError } from './fetch.js';
import type { OidcConf } from './schema.js';
import { TokenRejection } from './rejection.js';

/** Active answers kept per route; a bound, not a target. */
const CACHE_MAX = 1024;
/** The longest an answer is reused whatever the token's `exp` says: revocation must show. */
const MAX_CACHE_SECONDS = 300;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface CachedAnswer {
  claims: Record<string, unknown>;
  until: number;
}

export class Introspector {
  private readonly cache = new Map<string, CachedAnswer>();
  /** Calls in flight by token: an MCP client's first requests arrive together with one new token. */
  private readonly asking = new Map<string, Promise<Record<string, unknown>>>();
  private readonly assertionKey?: { key: KeyObject; alg: string };

  constructor(
    private readonly conf: OidcConf,
    private readonly server: AuthorizationServer,
  ) {
    const method = conf.introspection_endpoint_auth_method;
    if (method === 'private_key_jwt' && conf.client_rsa_private_key) {
      const key = createPrivateKey(conf.client_rsa_private_key);
      const ec = key.asymmetricKeyType === 'ec';
      this.assertionKey = { key, alg: conf.client_jwt_assertion_alg ?? (ec ? 'ES256' : 'RS256') };
    } else if (method === 'client_secret_jwt' && conf.client_secret) {
      this.assertionKey = { key: createSecretKey(Buffer.from(conf.client_secret, 'utf8')), alg: conf.client_jwt_assertion_alg ?? 'HS256' };
    }
  }

  /** The answer for an active token; throws TokenRejection (inactive: 401, server unusable: 503). */
  async introspect(token: string): Promise<Record<string, unknown>> {
    const id = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit) {
      if (hit.until > now) return hit.claims;
      this.cache.delete(id);
    }
    let pending = this.asking.get(id);
    if (!pending) {
      pending = this.ask(token).finally(() => this.asking.delete(id));
      this.asking.set(id, pending);
    }
    const claims = await pending;
    if (claims.active !== true) throw new TokenRejection('invalid_token', 'the token is not active (revoked, expired or unknown to the issuer)');
    const seconds = Math.min(this.conf.introspection_interval || MAX_CACHE_SECONDS, MAX_CACHE_SECONDS);
    let until = now + seconds * 1000;
    if (typeof claims.exp === 'number') until = Math.min(until, claims.exp * 1000);
    if (until > now) {
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(id, { claims, until });
    }
    return claims;
  }

  private async ask(token: string): Promise<Record<string, unknown>> {
    let endpoint = this.conf.introspection_endpoint;
    try {
      endpoint ??= (await this.server.discoveryDocument()).introspection_endpoint;
      if (!endpoint) throw new AuthServerError(`introspection: neither introspection_endpoint nor the discovery document of ${this.conf.discovery} names an endpoint`);
      const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      await this.authenticate(form, headers, endpoint);
      const { status, body } = await this.server.client.json(endpoint, 'introspection', { method: 'POST', headers, body: form.toString() });
      if (status !== 200) {
        const error = typeof body.error === 'string' ? ` (${body.error})` : '';
        throw new AuthServerError(`introspection: ${endpoint} answered ${status}${error}`);
      }
      return body;
    } catch (err) {
      if (err instanceof TokenRejection) throw err;
      throw new TokenRejection('unavailable', (err as Error).message, { cause: err });
    }
  }

  /** RFC 6749 §2.3.1 (Basic with form-encoded id and secret, or both in the body), RFC 7523 §2.2. */
  private async authenticate(form: URLSearchParams, headers: Record<string, string>, endpoint: string): Promise<void> {
    const id = this.conf.client_id!;
    switch (this.conf.introspection_endpoint_auth_method) {
      case 'client_secret_basic': {
        const pair = `${encodeURIComponent(id)}:${encodeURIComponent(this.conf.client_secret!)}`;
        headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
        return;
      }
      case 'client_secret_post':
        form.set('client_id', id);
        form.set('client_secret', this.conf.client_secret!);
        return;
      default: {
        const { key, alg } = this.assertionKey!;
        const header = { alg, ...(this.conf.client_rsa_private_key_id && alg[0] !== 'H' ? { kid: this.conf.client_rsa_private_key_id } : {}) };
        const assertion = await new SignJWT({})
          .setProtectedHeader(header)
          .setIssuer(id)
          .setSubject(id)
          .setAudience(endpoint)
          .setJti(randomUUID())
          .setIssuedAt()
          .setExpirationTime('60s')
          .sign(key);
        form.set('client_id', id);
        form.set('client_assertion_type', ASSERTION_TYPE);
        form.set('client_assertion', assertion);
      }
    }
  }
}
