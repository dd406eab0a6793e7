/**
 * RFC 9728 OAuth 2.0 Protected Resource Metadata, and the RFC 6750 challenges that point to it.
 *
 * A route with a `resource` publishes its metadata at `/.well-known/oauth-protected-resource`
 * followed by the resource's path (§3.1: `https://gw/mcp/gh/mcp` → `https://gw/.well-known/
 * oauth-protected-resource/mcp/gh/mcp`), and at the root form when it is the only protected
 * resource of its origin; every 401 and 403 names that URL in `resource_metadata` (§5.1), which is
 * how MCP clients find the authorization server (MCP authorization, "Authorization Server
 * Discovery").
 */
import type { GatewayContext } from '../../core/context.js';
import type { ErrorCode, GatewayError } from '../../core/errors.js';
import { ERRORS } from './errors.js';
import type { OidcConf } from './schema.js';

export const WELL_KNOWN_PREFIX = '/.well-known/oauth-protected-resource';

/** The path-inserted metadata path of a resource URL (its path without a trailing slash). */
export function metadataPath(resource: string): string {
  const path = new URL(resource).pathname.replace(/\/+$/, '');
  return WELL_KNOWN_PREFIX + path;
}

/** The absolute metadata URL a challenge names. */
export function metadataUrl(resource: string): string {
  return new URL(resource).origin + metadataPath(resource);
}

/** The metadata document of a route (RFC 9728 §2). */
export function metadataDocument(conf: OidcConf, authorizationServer: string): Record<string, unknown> {
  const scopes = conf.scopes_supported ?? conf.required_scopes;
  return {
    resource: conf.resource,
    authorization_servers: [authorizationServer],
    ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    bearer_methods_supported: ['header'],
    ...(conf.resource_name ? { resource_name: conf.resource_name } : {}),
    ...(conf.resource_documentation ? { resource_documentation: conf.resource_documentation } : {}),
  };
}

export interface Challenge {
  /** RFC 6750 §3.1 error code; none when the request carried no token at all. */
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  description?: string;
  /** Scopes the request needs; all of them, not only the missing ones (MCP: clients replace their scopes with these). */
  scopes?: readonly string[];
}

/** `WWW-Authenticate: Bearer …` with `Bearer` first: the MCP SDK reads no other first scheme. */
export function challengeHeader(conf: OidcConf, challenge: Challenge): string {
  const params = [`realm="${conf.realm}"`];
  if (challenge.error) params.push(`error="${challenge.error}"`);
  // RFC 6750 §3.1: a request with no credentials at all gets no error information.
  if (challenge.error && challenge.description) params.push(`error_description="${quotable(challenge.description)}"`);
  if (challenge.scopes && challenge.scopes.length > 0) params.push(`scope="${challenge.scopes.join(' ')}"`);
  if (conf.resource) params.push(`resource_metadata="${metadataUrl(conf.resource)}"`);
  return `Bearer ${params.join(', ')}`;
}

const STATUS: Record<NonNullable<Challenge['error']> | 'none', number> = { none: 401, invalid_request: 400, invalid_token: 401, insufficient_scope: 403 };
const CODES: Record<NonNullable<Challenge['error']> | 'none', ErrorCode> = {
  none: ERRORS.GW_AUTH_MISSING_TOKEN,
  invalid_request: ERRORS.GW_AUTH_MALFORMED_TOKEN,
  invalid_token: ERRORS.GW_AUTH_INVALID_TOKEN,
  insufficient_scope: ERRORS.GW_AUTH_INSUFFICIENT_SCOPE,
};

/**
 * The answer to a request that cannot go on: the challenge in the header and the same facts as
 * a JSON body, for clients and people who read bodies rather than headers.
 */
export function refusal(ctx: GatewayContext, conf: OidcConf, challenge: Challenge): GatewayError {
  const kind = challenge.error ?? 'none';
  const description = challenge.description ?? 'this resource needs an OAuth bearer access token (Authorization: Bearer <token>)';
  const body: Record<string, unknown> = {
    ...(challenge.error ? { error: challenge.error } : {}),
    error_description: description,
    ...(challenge.scopes && challenge.scopes.length > 0 ? { scope: challenge.scopes.join(' ') } : {}),
    ...(conf.resource ? { resource_metadata: metadataUrl(conf.resource) } : {}),
    request_id: ctx.gateway.requestId,
  };
  // 400: RFC 6750 §3.1 says a challenge MAY come with it; it helps a client that sent garbage.
  return CODES[kind].error({ status: STATUS[kind], message: description, headers: { 'WWW-Authenticate': challengeHeader(conf, challenge) }, body });
}

function quotable(text: string): string {
  return text.replace(/[^\x20-\x7E]|["\\]/g, "'");
}

/**
 * The protected resources this gateway serves, by origin: the root form of the metadata URL is
 * unambiguous only when one resource of that origin is protected.
 */
export class ProtectedResources {
  private readonly byOrigin = new Map<string, Map<object, string>>();

  add(owner: object, resource: string): void {
    const origin = new URL(resource).origin;
    let owners = this.byOrigin.get(origin);
    if (!owners) this.byOrigin.set(origin, (owners = new Map()));
    owners.set(owner, resource);
  }

  remove(owner: object, resource: string): void {
    const origin = new URL(resource).origin;
    const owners = this.byOrigin.get(origin);
    owners?.delete(owner);
    if (owners?.size === 0) this.byOrigin.delete(origin);
  }

  /** The other resources of `resource`'s origin (a route version being replaced names the same one: not counted). */
  othersOf(resource: string): string[] {
    const owners = this.byOrigin.get(new URL(resource).origin);
    return owners ? [...new Set(owners.values())].filter((r) => r !== resource) : [];
  }
}
