/**
 * An OAuth-protected MCP route end to end, as an MCP client meets it: the official SDK client
 * with an OAuthClientProvider connects to an mcp-bridge route behind openid-connect, is refused
 * with a 401 that points at the route's protected resource metadata, discovers the authorization
 * server (a real oidc-provider), registers itself dynamically, completes the authorization code
 * flow with PKCE (this test drives the login and consent pages with plain HTTP), gets a token for
 * the route's resource and calls tools. Then: the token never reaches the MCP server (a stdio child
 * or a remote server), sessions
 * belong to the user who opened them, and limits count per user.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { expect } from 'chai';
import { startAuthorizationServer, type TestAuthorizationServer } from '../helpers/authorization-server.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startFixture } from './remote-fixture.js';
import { FAULT_SERVER, INIT, bridgeRoute, endRawSession, post, startBridgeGateway, textOf } from './support.js';

/** An MCP client's OAuth state, kept in memory: what a desktop client keeps in its keychain. */
class MemoryOAuthProvider implements OAuthClientProvider {
  readonly redirectUrl = 'http://127.0.0.1:9/callback';
  authorizationUrl?: URL;
  client?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  private verifier = '';

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'tollgate oauth test', redirect_uris: [this.redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** What a user does in the browser, and the client after the redirect: log in, consent, finish, reconnect. */
async function connectWithLogin(as: TestAuthorizationServer, url: string, login: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport; provider: MemoryOAuthProvider }> {
  const provider = new MemoryOAuthProvider();
  const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  let refused: unknown;
  try {
    await new Client({ name: 'oauth-test', version: '1.0.0' }).connect(first);
  } catch (err) {
    refused = err;
  }
  expect(refused).to.be.instanceOf(UnauthorizedError);
  expect(provider.authorizationUrl, 'the client was sent to log in').to.be.instanceOf(URL);
  const redirect = await as.authorize(provider.authorizationUrl!.href, login);
  const code = redirect.searchParams.get('code');
  expect(code, redirect.href).to.be.a('string');
  await first.finishAuth(code!);
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: 'oauth-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, provider };
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

describe('OAuth-protected MCP routes (openid-connect + mcp-bridge)', function () {
  this.timeout(60_000);
  let as: TestAuthorizationServer;
  let gw: TestGateway;
  let base: string;
  let resource: string;

  before(async () => {
    as = await startAuthorizationServer();
    gw = await startBridgeGateway();
    resource = `${gw.url}/tools/mcp`;
    as.resources.set(resource, { scope: 'mcp:tools', format: 'jwt' });
    base = await bridgeRoute(gw, 'tools', [FAULT_SERVER], {}, {
      plugins: {
        'openid-connect': { discovery: as.discovery, use_jwks: true, resource, scopes_supported: ['mcp:tools'], required_scopes: ['mcp:tools'] },
        'limit-count': { count: 6, time_window: 60, key_type: 'var', key: 'consumer_name', rejected_code: 429 },
      },
    });
  });
  after(async () => {
    await gw.stop();
    await as.close();
  });

  it('an SDK client discovers, registers, logs in with PKCE, gets a token for this route and calls tools', async () => {
    const registrations = as.hits('/reg');
    const { client, transport, provider } = await connectWithLogin(as, `${base}/mcp`, 'alice');
    try {
      expect(as.hits('/reg') - registrations, 'dynamic client registration').to.equal(1);
      expect(provider.client?.client_id).to.be.a('string');
      const auth = provider.authorizationUrl!;
      expect(auth.searchParams.get('code_challenge_method')).to.equal('S256');
      expect(auth.searchParams.get('resource')).to.equal(resource);
      expect(auth.searchParams.get('scope')).to.equal('mcp:tools');
      const claims = claimsOf(provider.saved!.access_token);
      expect(claims).to.deep.include({ sub: 'alice', aud: resource, iss: as.issuer, scope: 'mcp:tools' });
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'through oauth' } }))).to.equal('through oauth');
      expect((await client.listTools()).tools.map((t) => t.name)).to.include('echo');
      // The MCP server never sees the client's token: not in its environment, not anywhere.
      const env = textOf(await client.callTool({ name: 'env', arguments: {} }));
      expect(env).to.include('"PATH"');
      expect(env).to.not.include(provider.saved!.access_token);
      expect(env.toLowerCase()).to.not.include('bearer');
    } finally {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    }
  });

  it('401 for a client without a token points at the metadata; the metadata names the authorization server', async () => {
    const spawned = () => gw.logs.filter((line) => line.includes('mcp server started')).length;
    const before = spawned();
    const res = await post(`${base}/mcp`, INIT);
    expect(res.status).to.equal(401);
    const metadataUrl = `${gw.url}/.well-known/oauth-protected-resource/tools/mcp`;
    expect(res.headers.get('www-authenticate')).to.equal(`Bearer realm="tollgate", scope="mcp:tools", resource_metadata="${metadataUrl}"`);
    expect(res.json).to.deep.include({ resource_metadata: metadataUrl });
    const metadata = await (await fetch(metadataUrl)).json();
    expect(metadata).to.deep.equal({ resource, authorization_servers: [as.issuer], scopes_supported: ['mcp:tools'], bearer_methods_supported: ['header'] });
    expect(spawned(), 'no child is started for a refused request').to.equal(before);
  });

  it('a session belongs to the user who opened it; another user\'s valid token cannot use it', async () => {
    const alice = await as.issueToken({ sub: 'alice', resource, scope: 'mcp:tools' });
    const bob = await as.issueToken({ sub: 'bob', resource, scope: 'mcp:tools' });
    const init = await post(`${base}/mcp`, INIT, { authorization: `Bearer ${alice}` });
    expect(init.status, init.text).to.equal(200);
    const session = init.headers.get('mcp-session-id')!;
    try {
      const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
      const stolen = await post(`${base}/mcp`, list, { authorization: `Bearer ${bob}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
      expect(stolen.status).to.equal(404);
      // A session id is no credential: without a token the request is refused before the session is looked up.
      const bare = await post(`${base}/mcp`, list, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
      expect(bare.status).to.equal(401);
      const own = await post(`${base}/mcp`, list, { authorization: `Bearer ${alice}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
      expect(own.status).to.equal(200);
    } finally {
      await endRawSession(base, session, { authorization: `Bearer ${alice}` });
    }
  });

  it('a token for another resource, or without the route\'s scope, opens nothing', async () => {
    as.resources.set(`${gw.url}/elsewhere/mcp`, { scope: 'mcp:tools', format: 'jwt' });
    const elsewhere = await as.issueToken({ sub: 'alice', resource: `${gw.url}/elsewhere/mcp`, scope: 'mcp:tools' });
    const res = await post(`${base}/mcp`, INIT, { authorization: `Bearer ${elsewhere}` });
    expect(res.status).to.equal(401);
    expect(res.headers.get('www-authenticate')).to.include('error="invalid_token"');
    expect(res.json.error_description).to.equal('the token was issued for another resource (audience)');
    const noScope = await as.mint({ sub: 'alice', aud: resource, scope: 'mcp:admin' });
    const forbidden = await post(`${base}/mcp`, INIT, { authorization: `Bearer ${noScope}` });
    expect(forbidden.status).to.equal(403);
    expect(forbidden.headers.get('www-authenticate')).to.include('error="insufficient_scope", error_description="the token lacks the scope mcp:tools", scope="mcp:tools"');
  });

  it('a remote MCP server behind the route gets the gateway\'s credentials, never the client\'s token', async () => {
    const remote = await startFixture();
    const remoteResource = `${gw.url}/remote/mcp`;
    as.resources.set(remoteResource, { scope: 'mcp:tools', format: 'jwt' });
    try {
      const put = await gw.admin('PUT', '/mcp_servers/remote-oauth', { url: remote.url, headers: { Authorization: 'Bearer gateway-own' }, health_check: { interval: 0 } });
      expect(put.status, put.text).to.be.oneOf([200, 201]);
      const route = await gw.admin('PUT', '/routes/remote-oauth', {
        uri: '/remote/*',
        plugins: {
          'openid-connect': { discovery: as.discovery, use_jwks: true, resource: remoteResource, scopes_supported: ['mcp:tools'], required_scopes: ['mcp:tools'] },
          'mcp-bridge': { base_uri: '/remote', server_id: 'remote-oauth' },
        },
      });
      expect(route.status, route.text).to.be.oneOf([200, 201]);
      const token = await as.issueToken({ sub: 'erin', resource: remoteResource, scope: 'mcp:tools' });
      const auth = { authorization: `Bearer ${token}` };
      const init = await post(`${gw.url}/remote/mcp`, INIT, auth);
      expect(init.status, init.text).to.equal(200);
      const session = { ...auth, 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
      const called = await post(`${gw.url}/remote/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, session);
      expect(called.status, called.text).to.equal(200);
      expect(called.text).to.match(/session upstream-\d+/);
      await endRawSession(`${gw.url}/remote`, session['mcp-session-id'], auth);
      expect(remote.requests.map((r) => r.body).join('\n')).to.include('tools/call');
      for (const request of remote.requests) {
        expect(request.headers.authorization).to.equal('Bearer gateway-own');
        expect(JSON.stringify(request.headers)).to.not.include(token);
        expect(request.body).to.not.include(token);
      }
    } finally {
      await gw.admin('DELETE', '/routes/remote-oauth');
      await gw.admin('DELETE', '/mcp_servers/remote-oauth');
      await remote.close();
    }
  });

  it('counts limits per user named by the token', async () => {
    const carol = await as.issueToken({ sub: 'carol', resource, scope: 'mcp:tools' });
    const dave = await as.issueToken({ sub: 'dave', resource, scope: 'mcp:tools' });
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    const sessions: Array<[string, string]> = [];
    try {
      const remaining: string[] = [];
      for (const token of [carol, carol, dave]) {
        const init = await post(`${base}/mcp`, INIT, { authorization: `Bearer ${token}` });
        expect(init.status, init.text).to.equal(200);
        sessions.push([init.headers.get('mcp-session-id')!, token]);
        remaining.push(init.headers.get('x-ratelimit-remaining')!);
        await post(`${base}/mcp`, ping, { authorization: `Bearer ${token}`, 'mcp-session-id': sessions.at(-1)![0], 'mcp-protocol-version': '2025-11-25' });
      }
      // carol: 2 requests before her second initialize; dave starts afresh.
      expect(remaining).to.deep.equal(['5', '3', '5']);
    } finally {
      for (const [session, token] of sessions) await endRawSession(base, session, { authorization: `Bearer ${token}` });
    }
  });
});
