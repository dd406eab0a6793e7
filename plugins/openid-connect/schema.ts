/**
 * The route config of openid-connect: APISIX's field names where they mean the same thing
 * (`discovery`, `bearer_only`, `use_jwks`, `public_key`, `required_scopes`,
 * `introspection_endpoint`, `introspection_endpoint_auth_method`, `client_id`, `client_secret`,
 * `token_signing_alg_values_expected`, `claim_validator`, `set_userinfo_header` …), plus what a
 * resource server needs that APISIX's relying party has no field for, under the RFCs' own names
 * (`resource` from RFC 8707, `scopes_supported` and `resource_name` from RFC 9728).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';

/** RFC 7518 signature algorithms a resource server accepts by default: asymmetric ones only. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const INTROSPECTION_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'] as const;
export type IntrospectionAuthMethod = (typeof INTROSPECTION_AUTH_METHODS)[number];

export interface OidcConf {
  discovery: string;
  bearer_only: boolean;
  client_id?: string;
  client_secret?: string;
  use_jwks: boolean;
  public_key?: string;
  introspection_endpoint?: string;
  introspection_endpoint_auth_method: IntrospectionAuthMethod;
  client_rsa_private_key?: string;
  client_rsa_private_key_id?: string;
  client_jwt_assertion_alg?: string;
  introspection_interval: number;
  token_signing_alg_values_expected?: string | string[];
  required_scopes: string[];
  claim_validator?: {
    issuer?: { valid_issuers?: string[] };
    audience?: { claim: string; required: boolean; match_with_client_id: boolean; valid_audiences?: string[] };
  };
  resource?: string;
  scopes_supported?: string[];
  resource_name?: string;
  resource_documentation?: string;
  consumer_claim: string;
  realm: string;
  timeout: number;
  ssl_verify: boolean;
  jwk_expires_in: number;
  jwk_min_refresh_interval: number;
  clock_skew: number;
  set_access_token_header: boolean;
  access_token_in_authorization_header: boolean;
  set_userinfo_header: boolean;
  scope?: string;
}

const url = (description: string) => ({ type: 'string', minLength: 1, pattern: '^https?://[^\\s]+$', description });

export const oidcSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['discovery'],
  properties: {
    discovery: url(
      "URL of the authorization server's discovery document (`…/.well-known/openid-configuration` or RFC 8414 `…/.well-known/oauth-authorization-server`): its `issuer`, `jwks_uri` and `introspection_endpoint` are used. Fetched when first needed and cached for `jwk_expires_in`.",
    ),
    bearer_only: {
      type: 'boolean',
      default: true,
      description:
        'Resource-server role: every request must bring `Authorization: Bearer <access token>`. Tollgate implements only this role (APISIX defaults to false, its browser login flow); `false` is refused.',
    },
    client_id: { type: 'string', minLength: 1, description: "This gateway's client id at the authorization server: used to authenticate introspection calls and by `claim_validator.audience.match_with_client_id`." },
    client_secret: {
      type: 'string',
      minLength: 1,
      writeOnly: true,
      description: 'The client secret for introspection (`client_secret_basic`, `client_secret_post`, `client_secret_jwt`). Masked for the viewer role.',
    },
    use_jwks: {
      type: 'boolean',
      default: false,
      description: "Verify JWT access tokens locally with the issuer's JWKS (`jwks_uri` from discovery). Otherwise, without `public_key`, each token is introspected (RFC 7662).",
    },
    public_key: { type: 'string', minLength: 1, description: 'A PEM public key that verifies JWT access tokens instead of the JWKS.' },
    introspection_endpoint: url("RFC 7662 introspection endpoint; defaults to the discovery document's `introspection_endpoint`."),
    introspection_endpoint_auth_method: {
      enum: [...INTROSPECTION_AUTH_METHODS],
      default: 'client_secret_basic',
      description: 'How the gateway authenticates to the introspection endpoint (RFC 7662 §2.1, OIDC Core §9).',
    },
    client_rsa_private_key: {
      type: 'string',
      minLength: 1,
      writeOnly: true,
      description: '`private_key_jwt`: the PEM private key (RSA or EC) that signs the client assertion. Masked for the viewer role.',
    },
    client_rsa_private_key_id: { type: 'string', minLength: 1, description: '`private_key_jwt`: the `kid` of that key, if the server needs one.' },
    client_jwt_assertion_alg: {
      enum: ['HS256', 'HS512', 'RS256', 'RS512', 'ES256', 'ES512'],
      description: 'Algorithm of the client assertion: default HS256 for `client_secret_jwt`, RS256 (or ES256 for an EC key) for `private_key_jwt`.',
    },
    introspection_interval: {
      type: 'integer',
      minimum: 0,
      default: 0,
      description: "How long an introspection answer is reused, in seconds; 0: until the token's `exp` (never past it, RFC 7662 §4), at most 300 seconds. Inactive answers are not kept.",
    },
    token_signing_alg_values_expected: {
      anyOf: [
        { enum: [...ASYMMETRIC_ALGORITHMS] },
        { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ASYMMETRIC_ALGORITHMS] } },
      ],
      description: 'The signature algorithms accepted (one, or a list). Default: every asymmetric one. `none` and HMAC algorithms are never accepted.',
    },
    required_scopes: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', minLength: 1, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' },
      default: [],
      description: 'Scopes the token must all carry (`scope` or `scp`); a token without one of them gets 403 `insufficient_scope` naming them all.',
    },
    claim_validator: {
      type: 'object',
      additionalProperties: false,
      properties: {
        issuer: {
          type: 'object',
          additionalProperties: false,
          properties: {
            valid_issuers: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', minLength: 1 },
              description: "The `iss` values accepted, compared exactly. Default: the discovery document's `issuer`.",
            },
          },
        },
        audience: {
          type: 'object',
          additionalProperties: false,
          properties: {
            claim: { type: 'string', minLength: 1, default: 'aud', description: 'The claim holding the audience.' },
            required: { type: 'boolean', default: false, description: 'Accepted for APISIX compatibility: the audience is always required here.' },
            match_with_client_id: { type: 'boolean', default: false, description: 'Also accept tokens whose audience is `client_id` (Entra ID v2 tokens name the API by its client id).' },
            valid_audiences: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', minLength: 1 },
              description: 'More audiences accepted besides `resource` (an `api://` identifier, an Auth0 API identifier).',
            },
          },
        },
      },
    },
    resource: {
      type: 'string',
      minLength: 1,
      pattern: '^https?://[^\\s?#]+$',
      description:
        "This route's protected resource identifier (RFC 8707): the absolute URL clients use, e.g. `https://gw.example.com/mcp/github/mcp`. Tokens must name it in their audience; its RFC 9728 metadata is served at `/.well-known/oauth-protected-resource<its path>` and at the root form, and every 401 points there.",
    },
    scopes_supported: {
      type: 'array',
      uniqueItems: true,
      items: { type: 'string', minLength: 1, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' },
      description: 'The `scopes_supported` of the resource metadata. Default: `required_scopes`.',
    },
    resource_name: { type: 'string', minLength: 1, description: 'A human-readable name in the resource metadata (RFC 9728 `resource_name`).' },
    resource_documentation: url('A documentation URL in the resource metadata (RFC 9728 `resource_documentation`).'),
    consumer_claim: {
      type: 'string',
      minLength: 1,
      default: 'sub',
      description:
        "The claim naming the request's consumer: a consumer with that username is the request's consumer (its plugins apply); otherwise the claim's value is the consumer name (limits by consumer, MCP session binding and logs use it). Use a claim the authorization server controls, not one users choose.",
    },
    realm: { type: 'string', minLength: 1, pattern: '^[^"\\\\]+$', default: 'tollgate', description: 'Realm of the `WWW-Authenticate` challenge.' },
    timeout: { type: 'integer', minimum: 1, maximum: 60, default: 3, description: 'Timeout of each call to the authorization server (discovery, JWKS, introspection), in seconds.' },
    ssl_verify: { type: 'boolean', default: true, description: "Verify the authorization server's TLS certificate." },
    jwk_expires_in: {
      type: 'integer',
      minimum: 60,
      default: 3600,
      description:
        'How long the discovery document and the JWKS are used before they are fetched again, in seconds (APISIX: 86400). While the server cannot be reached, the last keys keep serving.',
    },
    jwk_min_refresh_interval: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      default: 10,
      description:
        'A token signed with a key not in the cached JWKS (a rotation) fetches the JWKS again, at most once per this many seconds: a storm of unknown `kid`s costs one fetch. The same bound spaces retries while the server is unreachable.',
    },
    clock_skew: { type: 'integer', minimum: 0, maximum: 300, default: 30, description: 'Seconds of clock difference allowed on `exp` and `nbf`.' },
    set_access_token_header: {
      type: 'boolean',
      default: false,
      description:
        'Send the access token to an HTTP upstream in `X-Access-Token` (APISIX defaults to true). Off by default: the token is for this gateway (RFC 8707) and `Authorization` is removed. Never sent to an MCP server behind the route.',
    },
    access_token_in_authorization_header: { type: 'boolean', default: false, description: 'With `set_access_token_header`: in `Authorization: Bearer` instead of `X-Access-Token`.' },
    set_userinfo_header: {
      type: 'boolean',
      default: true,
      description: "Send the token's claims (or the introspection answer) to an HTTP upstream as base64 JSON in `X-Userinfo`. A client's own `X-Userinfo` is always dropped.",
    },
    scope: { type: 'string', description: "Accepted for APISIX compatibility (the scope its browser login flow asks for); a resource server asks for none." },
  },
};

/** Checks beyond the schema; the message is the Admin API's 400. */
export function checkOidcConf(conf: OidcConf): string | undefined {
  if (!conf.bearer_only) {
    return 'bearer_only: false (the browser login flow) is not supported: openid-connect here is an OAuth resource server; set bearer_only: true';
  }
  const audience = conf.claim_validator?.audience;
  if (!conf.resource && !audience?.valid_audiences && !audience?.match_with_client_id) {
    return 'a token must be checked to be for this route (RFC 8707): set resource, claim_validator.audience.valid_audiences or claim_validator.audience.match_with_client_id';
  }
  if (audience?.match_with_client_id && !conf.client_id) return 'claim_validator.audience.match_with_client_id needs client_id';
  if (conf.public_key) {
    try {
      const key = createPublicKey(conf.public_key);
      if (key.type !== 'public') return 'public_key must be a PEM public key';
    } catch {
      return 'public_key is not a valid PEM public key';
    }
  }
  if (!conf.public_key && !conf.use_jwks) {
    // Introspection: the gateway must be able to authenticate itself (RFC 7662 §2.1).
    if (!conf.client_id) return 'introspection (use_jwks: false, no public_key) needs client_id';
    if (conf.introspection_endpoint_auth_method === 'private_key_jwt') {
      if (!conf.client_rsa_private_key) return 'introspection_endpoint_auth_method private_key_jwt needs client_rsa_private_key';
      try {
        createPrivateKey(conf.client_rsa_private_key);
      } catch {
        return 'client_rsa_private_key is not a valid PEM private key';
      }
      if (conf.client_jwt_assertion_alg?.startsWith('HS')) return `client_jwt_assertion_alg ${conf.client_jwt_assertion_alg} is symmetric; private_key_jwt signs with a private key`;
    } else if (!conf.client_secret) {
      return `introspection_endpoint_auth_method ${conf.introspection_endpoint_auth_method} needs client_secret`;
    }
    if (conf.introspection_endpoint_auth_method === 'client_secret_jwt' && conf.client_jwt_assertion_alg && !conf.client_jwt_assertion_alg.startsWith('HS')) {
      return `client_jwt_assertion_alg ${conf.client_jwt_assertion_alg} is asymmetric; client_secret_jwt signs with the client secret`;
    }
  }
  return undefined;
}

/** The algorithms a config accepts. */
export function acceptedAlgorithms(conf: OidcConf): readonly string[] {
  const expected = conf.token_signing_alg_values_expected;
  if (expected === undefined) return ASYMMETRIC_ALGORITHMS;
  return typeof expected === 'string' ? [expected] : expected;
}
