/**
 * Every line the gateway logs during MCP sessions is JSON that a strict ingester accepts: no key
 * twice in one object (issue 10, item 19d: the child's pid once sat next to pino's own `pid`).
 * The sessions below go through what makes the bridge log: starts and stops, stderr, a crash,
 * a child that ignores SIGTERM, an overlong line, a spawn failure, on both transports.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { strictJsonProblems } from '../helpers/strict-json.js';
import { FAULT_SERVER, TRANSPORTS, bridgeRoute, connect, post, INIT, startBridgeGateway, textOf, waitFor } from './support.js';

describe('mcp-bridge logs', function () {
  this.timeout(30_000);
  let gateway: TestGateway;

  before(async () => {
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node', 'tollgate-no-such-command'] } });
  });

  after(async () => {
    await gateway?.stop();
  });

  it('strict parsers accept every log and access-log line written during MCP sessions', async () => {
    const spam = await bridgeRoute(gateway, 'log-spam', [FAULT_SERVER, '--stderr-spam=2000', '--ignore-sigterm'], { max_message_bytes: 4096 });
    for (const transport of TRANSPORTS) {
      const session = await connect(spam, transport);
      expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).to.equal('hi');
      await session.client.callTool({ name: 'notify', arguments: { text: 'n' } });
      // A line over max_message_bytes ends the session.
      await session.client.callTool({ name: 'huge', arguments: { bytes: 8192 } }).catch(() => undefined);
      await session.close();
      const crashing = await connect(spam, transport);
      await crashing.client.callTool({ name: 'crash', arguments: {} }).catch(() => undefined);
      await crashing.close();
    }
    const created = await gateway.admin('PUT', '/routes/log-missing', {
      uri: '/log-missing/*',
      plugins: { 'mcp-bridge': { base_uri: '/log-missing', command: 'tollgate-no-such-command' } },
    });
    expect(created.status).to.equal(201);
    expect((await post(`${gateway.url}/log-missing/mcp`, INIT)).status).to.equal(502);
    // The SIGTERM-ignoring children have been killed and said so.
    expect(await waitFor(() => gateway.logs.some((l) => l.includes('ignored SIGTERM')), 10_000)).to.equal(true);

    const lines = [...gateway.logs, ...gateway.accessLogs];
    expect(lines.filter((l) => l.includes('mcp server started')).length).to.be.greaterThan(3);
    const problems = lines.flatMap((line) => strictJsonProblems(line).map((p) => `${p}: ${line.slice(0, 300)}`));
    expect(problems).to.deep.equal([]);
    // The child's pid is still there, under its own name.
    const started = JSON.parse(lines.find((l) => l.includes('mcp server started'))!) as Record<string, unknown>;
    expect(started.child_pid).to.be.a('number');
    expect(started.pid).to.equal(process.pid);
  });
});
