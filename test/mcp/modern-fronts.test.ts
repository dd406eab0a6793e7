/**
 * MCP 2026-07-28 clients on the other MCP routes (issue 16, slice 4): a remote `mcp_servers`
 * record (server-everything over Streamable HTTP, a 2025-era server) behind mcp-bridge, and an
 * mcp-federation route over a stdio server and that remote one. The real v2 SDK client pinned to
 * 2026-07-28 lists and calls through each, as a 2025-era client does.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { CONFORMANCE_SERVER, EVERYTHING_SERVER, connect, startBridgeGateway, startRemoteEverything, textOf, waitFor, type RemoteServer } from './support.js';

const MODERN = '2026-07-28';

async function modernClient(url: string): Promise<ModernClient> {
  const client = new ModernClient({ name: 'modern-only', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
  await client.connect(new ModernTransport(new URL(url)));
  return client;
}

describe('MCP 2026-07-28 clients on remote servers and federations', function () {
  this.timeout(40_000);
  let gw: TestGateway;
  let remote: RemoteServer;

  before(async () => {
    gw = await startBridgeGateway();
    remote = await startRemoteEverything('streamableHttp');
    for (const [id, body] of [
      ['rv', { url: remote.url, health_check: { interval: 0 }, session_idle_timeout: 0.5 }],
      ['ev', { command: 'node', args: [EVERYTHING_SERVER, 'stdio'], session_idle_timeout: 0.5 }],
    ] as const) {
      const res = await gw.admin('PUT', `/mcp_servers/${id}`, body);
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    }
    // Pooled sessions end like idle sessions: soon, so that each test's children end with it.
    const bridge = await gw.admin('PUT', '/routes/remote', { uri: '/remote/*', plugins: { 'mcp-bridge': { base_uri: '/remote', server_id: 'rv' } } });
    expect(bridge.status, bridge.text).to.be.oneOf([200, 201]);
    const federation = await gw.admin('PUT', '/routes/fed', {
      uri: '/fed/*',
      plugins: {
        'mcp-federation': {
          base_uri: '/fed',
          session_idle_timeout: 0.5,
          servers: [
            { server_id: 'ev', prefix: 'ev' },
            { server_id: 'rv', prefix: 'rv' },
          ],
        },
      },
    });
    expect(federation.status, federation.text).to.be.oneOf([200, 201]);
    const conformance = await gw.admin('PUT', '/routes/conformance', {
      uri: '/conformance/*',
      plugins: { 'mcp-bridge': { base_uri: '/conformance', command: 'node', args: [CONFORMANCE_SERVER], session_idle_timeout: 0.5 } },
    });
    expect(conformance.status, conformance.text).to.be.oneOf([200, 201]);
    const guarded = await gw.admin('PUT', '/routes/guarded', {
      uri: '/guarded/*',
      plugins: { 'mcp-acl': { deny: ['get-env', 'trigger-*'] }, 'mcp-bridge': { base_uri: '/guarded', server_id: 'ev' } },
    });
    expect(guarded.status, guarded.text).to.be.oneOf([200, 201]);
  });

  after(async () => {
    await gw?.stop();
    await remote?.stop();
  });

  it('serves a modern client through mcp-bridge in front of a remote 2025-era server', async () => {
    const client = await modernClient(`${gw.url}/remote/mcp`);
    try {
      expect(client.getServerVersion()?.name).to.equal('mcp-servers/everything');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).to.include('echo');
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'via remote' } }))).to.equal('Echo: via remote');
    } finally {
      await client.close();
    }
  });

  it('serves a modern client on a federation of a stdio and a remote server', async () => {
    const client = await modernClient(`${gw.url}/fed/mcp`);
    try {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      expect(names).to.include.members(['ev_echo', 'rv_echo']);
      const [local, far] = await Promise.all([
        client.callTool({ name: 'ev_echo', arguments: { message: 'to stdio' } }),
        client.callTool({ name: 'rv_echo', arguments: { message: 'to remote' } }),
      ]);
      expect(textOf(local)).to.equal('Echo: to stdio');
      expect(textOf(far)).to.equal('Echo: to remote');
    } finally {
      await client.close();
    }
  });

  it('passes a federated stdio server’s resource updates to a modern listen stream', async () => {
    const client = await modernClient(`${gw.url}/fed/mcp`);
    const updates: string[] = [];
    client.setNotificationHandler('notifications/resources/updated', (notification) => void updates.push(notification.params.uri));
    try {
      const { resources } = await client.listResources();
      const uri = resources.find((r) => r.uri.startsWith('demo://resource/static/document/'))!.uri;
      const subscription = await client.listen({ resourceSubscriptions: [uri] });
      expect(subscription.honoredFilter.resourceSubscriptions).to.deep.equal([uri]);
      expect(textOf(await client.callTool({ name: 'ev_toggle-subscriber-updates' }))).to.contain('Started');
      expect(await waitFor(() => updates.length > 0, 5000), 'an update reached the client').to.equal(true);
      expect(updates[0]).to.equal(uri);
      await subscription.close();
      expect(textOf(await client.callTool({ name: 'ev_toggle-subscriber-updates' }))).to.contain('Stopped');
    } finally {
      await client.close();
    }
  });

  it('applies per-tool rules (mcp-acl) to modern requests as to 2025-era ones: hidden from the list, refused when called', async () => {
    const client = await modernClient(`${gw.url}/guarded/mcp`);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).to.include('echo');
      expect(names).to.not.include('get-env');
      expect(names.some((n) => n.startsWith('trigger-'))).to.equal(false);
      const refused = await client.callTool({ name: 'get-env' });
      expect(refused.isError).to.equal(true);
      expect(JSON.stringify(refused)).to.not.match(/PATH|HOME/);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'allowed' } }))).to.equal('Echo: allowed');
    } finally {
      await client.close();
    }
  });

  it('serves a modern client and a 2025-era client at the same time in front of the conformance fixture server: text, progress, sampling, elicitation and roots (as input_required for the modern one), resources', async () => {
    const client = new ModernClient({ name: 'modern-only', version: '1' }, { capabilities: { sampling: {}, elicitation: { form: {} }, roots: {} }, versionNegotiation: { mode: { pin: MODERN } } });
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'from the client' } }));
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { response: 'ada' } }));
    client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
    const [legacy] = await Promise.all([
      connect(`${gw.url}/conformance`, 'streamable-http', { capabilities: { sampling: {} } }),
      client.connect(new ModernTransport(new URL(`${gw.url}/conformance/mcp`))),
    ]);
    legacy.client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'from the 2025 client' } }));
    try {
      expect(legacy.sessionId()).to.be.a('string');
      const exercise = async (call: typeof client.callTool, read: typeof client.readResource, answer: string) => {
        expect(textOf(await call({ name: 'test_simple_text' }))).to.equal('This is a simple text response for testing.');
        const progress: number[] = [];
        await call({ name: 'test_tool_with_progress' }, { onprogress: (p: { progress: number }) => progress.push(p.progress) });
        expect(progress).to.deep.equal([0, 50, 100]);
        expect(textOf(await call({ name: 'test_sampling', arguments: { prompt: 'hello' } }))).to.equal(`LLM response: ${answer}`);
        const contents = (await read({ uri: 'test://static-text' })).contents;
        expect(contents[0]).to.deep.include({ uri: 'test://static-text', text: 'This is the content of the static text resource.' });
      };
      await Promise.all([
        exercise((params, options) => client.callTool(params, options), (params) => client.readResource(params), 'from the client'),
        exercise(
          (params, options) => legacy.client.callTool(params, undefined, options) as ReturnType<typeof client.callTool>,
          (params) => legacy.client.readResource(params) as ReturnType<typeof client.readResource>,
          'from the 2025 client',
        ),
      ]);
      // The other requests a server may send a client, as input_required round trips too.
      expect(textOf(await client.callTool({ name: 'test_elicitation', arguments: { message: 'who?' } }))).to.equal('User response: action=accept, content={"response":"ada"}');
      expect(textOf(await client.callTool({ name: 'test_input_required_result_list_roots' }))).to.equal('Roots: file:///work');
    } finally {
      await legacy.close();
      await client.close();
    }
  });
});
