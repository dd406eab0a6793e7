/**
 * The newcomer's path: `tollgate start --demo` seeds an MCP route bridging the demo stdio server
 * shipped in examples/, and an MCP client can use it at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { TRANSPORTS, connect, textOf } from './support.js';

describe('mcp-bridge demo route', function () {
  this.timeout(30_000);
  let gateway: GatewayProcess;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-demo-'));
    gateway = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: 'demo-admin-key-0123456789' }, ['--demo']);
  });

  after(async () => {
    expect(await gateway.stop()).to.equal(0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const transport of TRANSPORTS) {
    it(`serves the demo MCP server over ${transport} at /mcp/demo`, async () => {
      const session = await connect(`${gateway.url}/mcp/demo`, transport);
      try {
        expect(session.client.getServerVersion()?.name).to.equal('tollgate-demo');
        const { tools } = await session.client.listTools();
        expect(tools.map((t) => t.name)).to.include.members(['echo', 'add', 'now', 'count_words']);
        expect(textOf(await session.client.callTool({ name: 'add', arguments: { a: 20, b: 22 } }))).to.equal('42');
        const progress: number[] = [];
        const counted = await session.client.callTool({ name: 'count_words', arguments: { text: 'one two\nthree' } }, undefined, {
          onprogress: (p) => progress.push(p.progress),
        });
        expect(textOf(counted)).to.equal('3 words');
        const about = await session.client.readResource({ uri: 'demo://about' });
        expect(JSON.stringify(about)).to.contain('Tollgate');
      } finally {
        await session.close();
      }
    });
  }
});
