/**
 * Access-token checks: a JWT's signature with jose (the issuer's JWKS, or a configured public
 * key), or an opaque token by introspection; then the same claim checks for both — issuer,
 * audience (RFC 8707: the token must be for this route's resource), `exp`/`nbf` within the
 * allowed clock skew, and no sender constraint (`cnf`) the gateway cannot honour.
 *
 * `TokenRejection` says why a token is refused in words fit for the client (RFC 6750
 * `error_description`): what is wrong with the token, never which keys or secrets it met.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { AuthorizationServer, KeySet } from './authorization-server.js';
import { AuthServerError } from './fetch.js';
import { Introspector } from './introspection.js';
import { TokenRejection } from './rejection.js';
import { acceptedAlgorithms, type OidcConf } from './schema.js';

const invalid = (message: string) => new TokenRejection('invalid_token', message);

/** Verified tokens kept per key source: checking a signature costs more than the rest of a request. */
const VERIFIED_MAX = 4096;

interface Verified {
  payload: JWTPayload;
  /** The algorithm it was signed with: each route checks it against its own list. */
  alg: string;
  generation: number;
}

/** Signature results by exact token text, void once the key set they were checked with is replaced. */
class VerifiedTokens {
  private readonly entries = new Map<string, Verified>();

  get(token: string, generation: number | undefined): Verified | undefined {
    const hit = this.entries.get(token);
    if (!hit) return undefined;
    if (hit.generation !== generation) {
      this.entries.delete(token);
      return undefined;
    }
    return hit;
  }

  set(token: string, verified: Verified): void {
    if (this.entries.size >= VERIFIED_MAX) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, verified);
  }
}

/** Per authorization server (and per route for a configured public key): shared caches. */
const verifiedByServer = new WeakMap<AuthorizationServer, VerifiedTokens>();

export { TokenRejection };

export class TokenVerifier {
  private readonly algorithms: readonly string[];
  private readonly publicKey?: KeyObject;
  private readonly introspector?: Introspector;
  private readonly ownCache = new VerifiedTokens();
  /** The audiences accepted: the resource, valid_audiences, and client_id when asked. */
  readonly audiences: ReadonlySet<string>;

  constructor(
    private readonly conf: OidcConf,
    private readonly server: AuthorizationServer,
  ) {
    this.algorithms = acceptedAlgorithms(conf);
    if (conf.public_key) this.publicKey = createPublicKey(conf.public_key);
    else if (!conf.use_jwks) this.introspector = new Introspector(conf, server);
    const audience = conf.claim_validator?.audience;
    this.audiences = new Set([
      ...(conf.resource ? [conf.resource] : []),
      ...(audience?.valid_audiences ?? []),
      ...(audience?.match_with_client_id && conf.client_id ? [conf.client_id] : []),
    ]);
  }

  /** The token's claims once every check passed; throws TokenRejection. */
  async verify(token: string): Promise<Record<string, unknown>> {
    if (this.introspector) {
      const claims = await this.introspector.introspect(token);
      this.checkClaims(claims, false, claims.iss === undefined ? [] : await this.issuers());
      return claims;
    }
    // A token seen before costs a lookup and the claim checks, without waiting on anything.
    const cache = this.publicKey ? this.ownCache : this.serverCache();
    const hit = cache.get(token, this.publicKey ? 0 : this.server.cachedKeySet()?.generation);
    const claims = hit ? this.checkAlgorithm(hit) : await this.verifySignature(token, cache);
    const issuers = this.conf.claim_validator?.issuer?.valid_issuers ?? cachedIssuers(this.server) ?? (await this.issuers());
    this.checkClaims(claims as Record<string, unknown>, true, issuers);
    return claims as Record<string, unknown>;
  }

  private checkAlgorithm(verified: Verified): JWTPayload {
    if (!this.algorithms.includes(verified.alg)) throw invalid(`tokens signed with ${safe(verified.alg)} are not accepted here`);
    return verified.payload;
  }

  private async verifySignature(token: string, cache: VerifiedTokens): Promise<JWTPayload> {
    let header: JWTHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as JWTHeaderParameters;
    } catch {
      throw invalid(this.conf.use_jwks || this.publicKey ? 'the token is not a JWT' : 'the token could not be read');
    }
    if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') throw invalid('unsigned tokens (alg none) are refused');
    if (!this.algorithms.includes(header.alg)) throw invalid(`tokens signed with ${safe(header.alg)} are not accepted here`);

    const keys = this.publicKey ? undefined : await this.keySet();
    let usedGeneration = keys?.generation ?? 0;
    const getKey = this.publicKey
      ? this.publicKey
      : async (protectedHeader: JWTHeaderParameters, jws: Parameters<KeySet['getKey']>[1]) => {
          let set = keys!;
          if (protectedHeader.kid !== undefined && !set.kids.has(protectedHeader.kid)) {
            set = await this.server.keySetAfterUnknownKid(set);
            if (!set.kids.has(protectedHeader.kid)) throw invalid('no signing key of the issuer matches the token (kid)');
          }
          usedGeneration = set.generation;
          return set.getKey(protectedHeader, jws);
        };
    try {
      const { payload } = await jwtVerify(token, getKey as Parameters<typeof jwtVerify>[1], {
        algorithms: [header.alg],
        clockTolerance: this.conf.clock_skew,
      });
      cache.set(token, { payload, alg: header.alg, generation: usedGeneration });
      return payload;
    } catch (err) {
      throw rejectionOf(err);
    }
  }

  private serverCache(): VerifiedTokens {
    let cache = verifiedByServer.get(this.server);
    if (!cache) {
      cache = new VerifiedTokens();
      verifiedByServer.set(this.server, cache);
    }
    return cache;
  }

  private async keySet(): Promise<KeySet> {
    try {
      return await this.server.keySet();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async issuers(): Promise<readonly string[]> {
    const configured = this.conf.claim_validator?.issuer?.valid_issuers;
    if (configured) return configured;
    try {
      return [(await this.server.discoveryDocument()).issuer];
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** The checks every token passes, verified or introspected (`jwt`: `exp` and `iss` are required). */
  private checkClaims(claims: Record<string, unknown>, jwt: boolean, issuers: readonly string[]): void {
    const now = Math.floor(Date.now() / 1000);
    const skew = this.conf.clock_skew;
    const { exp, nbf, iss } = claims;
    if (exp === undefined) {
      if (jwt) throw invalid('the token has no expiry (exp)');
    } else if (typeof exp !== 'number' || !Number.isFinite(exp)) {
      throw invalid('the token expiry (exp) is not a number');
    } else if (now >= exp + skew) {
      throw invalid('the token has expired');
    }
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + skew)) throw invalid('the token is not valid yet (nbf)');
    // RFC 7662 makes `iss` optional in an introspection answer: the server asked is the issuer.
    if (iss !== undefined || jwt) {
      if (typeof iss !== 'string' || !issuers.includes(iss)) throw invalid('the token was issued by an issuer this route does not trust');
    }
    const claimName = this.conf.claim_validator?.audience?.claim ?? 'aud';
    const audience = claims[claimName];
    const named = typeof audience === 'string' ? [audience] : Array.isArray(audience) ? audience.filter((a): a is string => typeof a === 'string') : [];
    if (named.length === 0) throw invalid(`the token names no audience (${safe(claimName)}); it must be issued for this resource`);
    if (!named.some((a) => this.audiences.has(a))) throw invalid('the token was issued for another resource (audience)');
    // RFC 7800 / RFC 9449: a sender-constrained token is only good with its proof, which a bearer request lacks.
    if (claims.cnf !== undefined) throw invalid('sender-constrained tokens (cnf) are not accepted as bearer tokens');
    const tokenType = claims.token_type;
    if (!jwt && tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
      throw invalid('the token is not a bearer token');
    }
  }
}

/** The scopes a token grants: `scope` (RFC 8693 §4.2, space-separated) or `scp` (a list or a string). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

function cachedIssuers(server: AuthorizationServer): readonly string[] | undefined {
  const issuer = server.cachedIssuer();
  return issuer === undefined ? undefined : [issuer];
}

function unavailable(err: unknown): TokenRejection {
  if (err instanceof TokenRejection) return err;
  const detail = err instanceof AuthServerError ? err.message : String(err);
  return new TokenRejection('unavailable', detail, { cause: err });
}

function rejectionOf(err: unknown): TokenRejection {
  if (err instanceof TokenRejection) return err;
  if (err instanceof errors.JWTExpired) return invalid('the token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    return invalid(err.claim === 'nbf' ? 'the token is not valid yet (nbf)' : `the token claim ${safe(err.claim)} is invalid`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('the token signing algorithm is not accepted here');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('the token signature is invalid');
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('no signing key of the issuer matches the token');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalid('several signing keys match the token; it must name its key (kid)');
  if (err instanceof errors.JOSENotSupported) return invalid('the token uses a JOSE feature that is not supported');
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return invalid('the token is not a valid JWT');
  return invalid('the token could not be verified');
}

/** A value from a token, fit to quote in a header parameter. */
function safe(value: string): string {
  return value.replace(/[^\x20-\x7E]|["\\]/g, '?').slice(0, 64);
}
