/**
 * Stopping the gateway stops every MCP child, grandchildren included, and the process exits 0
 * (faults checklist B-38).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { spawnGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, connect, descendants, isAlive, textOf, waitFor } from './support.js';

describe('mcp-bridge gateway shutdown', function () {
  this.timeout(30_000);

  it('stops every child, grandchildren included, when the gateway is told to stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-mcp-shutdown-'));
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `gateway:\n  data_dir: ${JSON.stringify(join(dir, 'data'))}\ntimeouts:\n  shutdown: 10\nmcp:\n  stop_stdin_wait: 0.3\n  stop_term_wait: 0.3\n`);
    const gateway = await spawnGateway({ TOLLGATE_ADMIN_KEY: 'shutdown-admin-key-0123456789' }, ['--config', config]);
    try {
      const res = await gateway.admin('PUT', '/routes/down', {
        uri: '/down/*',
        plugins: { 'mcp-bridge': { base_uri: '/down', command: 'node', args: [FAULT_SERVER, '--grandchild', '--ignore-sigterm'] } },
      });
      expect(res.status).to.equal(201);
      const sessions = await Promise.all([connect(`${gateway.url}/down`, 'streamable-http'), connect(`${gateway.url}/down`, 'sse')]);
      const grandchildren = await Promise.all(
        sessions.map(async (s) => Number(textOf(await s.client.callTool({ name: 'grandchild', arguments: {} })))),
      );
      const children = descendants(gateway.child.pid).filter((p) => p.command.includes('fault-server.mjs'));
      expect(children).to.have.length(2);

      // Open sessions end as the gateway drains: they do not hold it for the whole 10 s grace.
      const stopping = Date.now();
      expect(await gateway.stop()).to.equal(0);
      expect(Date.now() - stopping).to.be.lessThan(5000);
      for (const pid of [...children.map((c) => c.pid), ...grandchildren]) {
        expect(await waitFor(() => !isAlive(pid), 5000), `pid ${pid} survived the gateway`).to.equal(true);
      }
      await Promise.all(sessions.map((s) => s.client.close().catch(() => undefined)));
    } finally {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
