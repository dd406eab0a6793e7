/**
 * mcp-tool-acl with the official MCP SDK client, through a real gateway (key-auth + the ACL +
 * mcp-bridge) to the demo stdio MCP server.
 */
import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestGateway, type TestGateway } from 'tollgate/testing';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEMO_SERVER = join(HERE, '../../mcp-servers/demo-server.mjs');

describe('example plugin mcp-tool-acl', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await startTestGateway({ overrides: { plugin_dirs: [join(HERE, '..')] } });
    await gw.admin('PUT', '/consumers', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key' }, 'mcp-tool-acl': { allow: ['echo', 'add'] } } });
    await gw.admin('PUT', '/consumers', { username: 'bob', plugins: { 'key-auth': { key: 'bob-key' } } });
    const res = await gw.admin('PUT', '/routes/tools', {
      uri: '/tools/*',
      plugins: {
        'key-auth': {},
        'mcp-tool-acl': { allow: [] },
        'mcp-bridge': { base_uri: '/tools', command: 'node', args: [DEMO_SERVER] },
      },
    });
    expect(res.status, res.text).to.equal(201);
  });
  after(() => gw.stop());

  async function connect(key: string): Promise<{ client: Client; close(): Promise<void> }> {
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/tools/mcp`), { requestInit: { headers: { apikey: key } } });
    const client = new Client({ name: 'acl-test', version: '1.0.0' });
    await client.connect(transport);
    return {
      client,
      close: async () => {
        await transport.terminateSession();
        await client.close();
      },
    };
  }

  it('lets a consumer call the tools on its own list', async () => {
    const alice = await connect('alice-key');
    try {
      const result = await alice.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'hi' }]);
      expect((await alice.client.listTools()).tools.map((t) => t.name)).to.include('now');
    } finally {
      await alice.close();
    }
  });

  it('refuses a tool that is not on the list, and the session keeps working', async () => {
    const alice = await connect('alice-key');
    try {
      const denied = await alice.client.callTool({ name: 'now', arguments: {} }).then(() => undefined, (err: Error) => err);
      expect(denied, 'the call must fail').to.be.instanceOf(Error);
      expect(String(denied)).to.match(/403|not allowed/);
      const result = await alice.client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
      expect(result.content).to.deep.equal([{ type: 'text', text: '5' }]);
    } finally {
      await alice.close();
    }
  });

  it('gives a consumer without a list the route default: nothing', async () => {
    const bob = await connect('bob-key');
    try {
      const denied = await bob.client.callTool({ name: 'echo', arguments: { text: 'hi' } }).then(() => undefined, (err: Error) => err);
      expect(String(denied)).to.match(/403|not allowed/);
    } finally {
      await bob.close();
    }
  });
});
