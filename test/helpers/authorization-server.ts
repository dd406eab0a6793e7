/**
 * A real OAuth 2.1 / OpenID authorization server for tests: `oidc-provider` (the certified Node
 * OpenID Provider) on a free loopback port, with dynamic client registration, PKCE, resource
 * indicators (RFC 8707: tokens are issued for the resource asked for), introspection and a JWKS.
 *
 * The test drives its login and consent pages with plain HTTP (`authorize`), gets real tokens
 * (`issueToken`, JWT or opaque per resource), signs tokens of its own with the server's key for
 * the refusals a real server never issues (`mint`), rotates the signing key (`rotate`), counts
 * what the gateway fetched (`hits`), and takes the server down and up again on the same port.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';

export interface ResourceSpec {
  /** Scopes the server grants for this resource (space-separated). */
  scope: string;
  format: 'jwt' | 'opaque';
  /** Access-token lifetime, seconds. */
  ttl?: number;
}

/** Clients the gateway introspects as (one per RFC 7662 client authentication method). */
export const INTROSPECTION_CLIENTS = {
  basic: { client_id: 'gw-basic', client_secret: 'gw-basic-secret-0123456789abcdef' },
  post: { client_id: 'gw-post', client_secret: 'gw-post-secret-0123456789abcdef' },
  jwt: { client_id: 'gw-jwt', client_secret: 'gw-jwt-secret-0123456789abcdefghijklmnop' },
} as const;

/** The public client the helper itself logs in with to issue tokens. */
const APP_CLIENT = 'test-app';
const APP_REDIRECT = 'http://127.0.0.1:9/callback';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface TestAuthorizationServer {
  readonly issuer: string;
  readonly discovery: string;
  readonly port: number;
  /** The kid tokens are signed with now. */
  readonly kid: string;
  /** Resource indicators the server issues tokens for; add the gateway's once its URL is known. */
  readonly resources: Map<string, ResourceSpec>;
  /** Requests the server received for `path` (the gateway's fetches of `/jwks`, `/token/introspection` …). */
  hits(path: string): number;
  /** A JWT signed with the server's current key (or `key`), with the claims a real token has unless overridden. */
  mint(claims: Record<string, unknown>, options?: { header?: Record<string, unknown>; key?: 'current' | 'stranger' }): Promise<string>;
  /** Publishes a new signing key (the old one stays in the JWKS) and signs with it from now on; returns its kid. */
  rotate(): Promise<string>;
  /** Follows an authorization URL through login (as `login`) and consent; returns the redirect with `code`. */
  authorize(url: string, login: string): Promise<URL>;
  /** A real access token for `resource`, through the authorization code flow with PKCE. */
  issueToken(options: { sub: string; resource: string; scope: string }): Promise<string>;
  /** Registers a confidential client that authenticates with private_key_jwt using `jwk` (public). */
  addPrivateKeyJwtClient(clientId: string, jwk: JWK): Promise<void>;
  /** Stops listening (connections refused) until `start`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function signingKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const base = { kid, alg: 'ES256', use: 'sig' };
  return { kid, privateKey, privateJwk: { ...(await exportJWK(privateKey)), ...base }, publicJwk: { ...(await exportJWK(publicKey)), ...base } };
}

/**
 * oidc-provider warns, once it is loaded and whenever a provider is built, about what makes it a
 * test server (Node 20 rather than 22 LTS, where it runs fine for these tests; the in-memory
 * adapter; the development login pages): all of it chosen here, so only noise in test output.
 */
async function quietly<T>(build: () => T | Promise<T>): Promise<T> {
  const { warn, info } = console;
  console.warn = () => undefined;
  console.info = () => undefined;
  try {
    return await build();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

const importProvider = () => quietly(() => import('oidc-provider'));

export async function startAuthorizationServer(options: { scopes?: string[] } = {}): Promise<TestAuthorizationServer> {
  const { default: Provider, errors } = await importProvider();
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    counts.set(path, (counts.get(path) ?? 0) + 1);
    handler(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const issuer = `http://127.0.0.1:${port}`;
  const resources = new Map<string, ResourceSpec>();
  const extraClients: Array<Record<string, unknown>> = [];
  let keys: SigningKey[] = [await signingKey()];
  const stranger = await signingKey();
  const scopes = options.scopes ?? ['openid', 'offline_access', 'mcp:tools', 'mcp:admin', 'api:read', 'api:write'];

  const build = async () => {
    const provider = await quietly(() => new Provider(issuer, {
      jwks: { keys: keys.map((k) => k.privateJwk) as never },
      scopes,
      clients: [
        { client_id: APP_CLIENT, token_endpoint_auth_method: 'none', redirect_uris: [APP_REDIRECT], grant_types: ['authorization_code'], response_types: ['code'] },
        ...Object.values(INTROSPECTION_CLIENTS).map(({ client_id, client_secret }) => ({
          client_id,
          client_secret,
          token_endpoint_auth_method: client_id === 'gw-jwt' ? 'client_secret_jwt' : client_id === 'gw-post' ? 'client_secret_post' : 'client_secret_basic',
          redirect_uris: [],
          grant_types: [],
          response_types: [],
        })),
        ...extraClients,
      ] as never,
      clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' } as never,
      pkce: { required: () => true },
      cookies: { keys: ['tollgate-test-cookie-key'] },
      features: {
        devInteractions: { enabled: true },
        registration: { enabled: true },
        // Confidential clients (the gateway) may introspect any token; public ones none.
        introspection: { enabled: true, allowedPolicy: (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod !== 'none' },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf?.[0] ?? undefined,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, indicator: string) => {
            const spec = resources.get(indicator);
            if (!spec) throw new errors.InvalidTarget();
            return spec.format === 'jwt'
              ? { scope: spec.scope, audience: indicator, accessTokenFormat: 'jwt', accessTokenTTL: spec.ttl ?? 300, jwt: { sign: { alg: 'ES256' } } }
              : { scope: spec.scope, audience: indicator, accessTokenFormat: 'opaque', accessTokenTTL: spec.ttl ?? 300 };
          },
        },
      } as never,
      // Set so that oidc-provider does not print a notice about each default on first use.
      ttl: { AccessToken: 300, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600, IdToken: 300, RefreshToken: 3600 },
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    }));
    const callback = provider.callback();
    handler = (req, res) => void callback(req, res);
  };
  await build();

  const listen = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const closeServer = () => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });

  const authorize = async (url: string, login: string): Promise<URL> => {
    const jar = new Map<string, string>();
    let next: { url: string; method: 'GET' | 'POST'; body?: string } = { url, method: 'GET' };
    for (let step = 0; step < 12; step++) {
      const res = await fetch(new URL(next.url, issuer), {
        method: next.method,
        redirect: 'manual',
        headers: {
          cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
          ...(next.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        body: next.body,
      });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair.indexOf('=');
        jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
      }
      const location = res.headers.get('location');
      if (location) {
        await res.body?.cancel();
        const target = new URL(location, issuer);
        if (target.origin !== issuer) return target;
        next = { url: target.href, method: 'GET' };
        continue;
      }
      const page = await res.text();
      const action = /action="([^"]+)"/.exec(page)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(page)?.[1];
      if (res.status !== 200 || !action || !prompt) throw new Error(`authorization stopped at ${next.url}: ${res.status} ${page.slice(0, 300)}`);
      const form = new URLSearchParams({ prompt });
      if (prompt === 'login') {
        form.set('login', login);
        form.set('password', 'any');
      }
      next = { url: action, method: 'POST', body: form.toString() };
    }
    throw new Error('authorization did not reach the redirect_uri');
  };

  const state: TestAuthorizationServer = {
    issuer,
    discovery: `${issuer}/.well-known/openid-configuration`,
    port,
    get kid() {
      return keys[0].kid;
    },
    resources,
    hits: (path) => counts.get(path) ?? 0,
    async mint(claims, mintOptions = {}) {
      const key = mintOptions.key === 'stranger' ? stranger : keys[0];
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss: issuer, iat: now, exp: now + 300, scope: 'mcp:tools', client_id: APP_CLIENT, jti: randomUUID(), ...claims };
      // null leaves a claim out (a token without exp).
      for (const [name, value] of Object.entries(payload)) if (value === null) delete payload[name];
      return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...mintOptions.header }).sign(key.privateKey);
    },
    async rotate() {
      keys = [await signingKey(), ...keys];
      await build();
      return keys[0].kid;
    },
    authorize,
    async issueToken({ sub, resource, scope }) {
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const auth = new URL('/auth', issuer);
      auth.search = new URLSearchParams({
        client_id: APP_CLIENT,
        response_type: 'code',
        redirect_uri: APP_REDIRECT,
        scope,
        resource,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: randomUUID(),
      }).toString();
      const redirect = await authorize(auth.href, sub);
      const code = redirect.searchParams.get('code');
      if (!code) throw new Error(`no code in ${redirect.href}`);
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP_REDIRECT, code_verifier: verifier, client_id: APP_CLIENT, resource }).toString(),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async addPrivateKeyJwtClient(clientId, jwk) {
      extraClients.push({
        client_id: clientId,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: jwk.kty === 'EC' ? 'ES256' : 'RS256',
        jwks: { keys: [jwk] },
        redirect_uris: [],
        grant_types: [],
        response_types: [],
      });
      await build();
    },
    stop: closeServer,
    start: listen,
    close: closeServer,
  };
  return state;
}
