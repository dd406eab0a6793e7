/**
 * `prewarm` (issue 16, slice 3): children started and initialized ahead of demand. Against a
 * server that takes 1.5 s to answer initialize, a session that fits a warm child (the SDK
 * client's default initialize) has its first result at once; the pool refills in the background;
 * a session whose initialize asks for client capabilities starts a child of its own, as before.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { adopt, isAlive } from '../helpers/processes.js';
import { FAULT_SERVER, INIT, bridgeRoute, connect, descendants, post, startBridgeGateway, textOf, waitFor } from './support.js';

const INIT_DELAY_MS = 1500;

/** Pids of the children that have answered initialize, in order (fault-server's --record-starts). */
function readyPids(starts: string): number[] {
  return (existsSync(starts) ? readFileSync(starts, 'utf8') : '')
    .split('\n')
    .filter((line) => line.startsWith('ready '))
    .map((line) => Number(line.split(' ')[1]));
}

describe('mcp-bridge prewarm', function () {
  this.timeout(30_000);
  let gateway: TestGateway;
  let base: string;
  let dir: string;
  let starts: string;
  /** The warm child waiting now. */
  let warmNow: number;

  const ready = () => readyPids(starts);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-prewarm-'));
    starts = join(dir, 'starts.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] } });
    base = await bridgeRoute(gateway, 'warm', [FAULT_SERVER, `--init-delay=${INIT_DELAY_MS}`, `--record-starts=${starts}`], { prewarm: 1 });
    expect(await waitFor(() => ready().length === 1, 10_000), 'the warm child initialized').to.equal(true);
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a new session a warm child: its first result does not wait for the slow start, and the pool refills', async () => {
    const [warmPid] = ready();
    const started = performance.now();
    const session = await connect(base, 'streamable-http');
    try {
      expect(textOf(await session.client.callTool({ name: 'pid' }))).to.equal(String(warmPid));
      const firstResultMs = performance.now() - started;
      expect(firstResultMs).to.be.below(INIT_DELAY_MS / 2);
      // The replacement lives with the route, like the first warm child.
      expect(await waitFor(() => ready().length === 2, 10_000), 'a replacement was prewarmed').to.equal(true);
      warmNow = ready()[1];
      adopt(warmNow);
    } finally {
      await session.close();
    }
  });

  it('starts a child of its own for a session whose initialize the warm children do not fit', async () => {
    const warm = ready().at(-1)!;
    const started = performance.now();
    const session = await connect(base, 'streamable-http', { capabilities: { sampling: {} } });
    try {
      const pid = Number(textOf(await session.client.callTool({ name: 'pid' })));
      expect(pid).to.not.equal(warm);
      expect(performance.now() - started).to.be.at.least(INIT_DELAY_MS);
    } finally {
      await session.close();
    }
  });

  it('gives an MCP 2026-07-28 request declaring no capabilities a warm child for its pooled session', async () => {
    const warm = warmNow;
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
    const started = performance.now();
    const res = await post(
      `${base}/mcp`,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'pid', _meta: meta } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'pid' },
    );
    expect(textOf(res.json.result)).to.equal(String(warm));
    expect(performance.now() - started).to.be.below(INIT_DELAY_MS / 2);
    const count = ready().length;
    expect(await waitFor(() => ready().length === count + 1, 10_000), 'a replacement was prewarmed').to.equal(true);
    adopt(ready().at(-1));
  });
});

describe('mcp-bridge prewarm within mcp.max_children', function () {
  this.timeout(30_000);
  let gateway: TestGateway;
  let base: string;
  let dir: string;
  let starts: string;

  const ready = () => readyPids(starts);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-prewarm-cap-'));
    starts = join(dir, 'starts.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'], max_children: 1 } });
    base = await bridgeRoute(gateway, 'warm', [FAULT_SERVER, `--init-delay=${INIT_DELAY_MS}`, `--record-starts=${starts}`], { prewarm: 1 });
    expect(await waitFor(() => ready().length === 1, 10_000), 'the warm child initialized').to.equal(true);
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts the warm child in the cap, yet it never keeps a session out: it gives way, and the pool refills once the slot is free again', async () => {
    const [warmPid] = ready();
    // The warm child holds the gateway's one slot; a session that needs a child of its own (it
    // asks for sampling, which a warm child was not initialized with) is served all the same.
    const own = await connect(base, 'streamable-http', { capabilities: { sampling: {} } });
    try {
      expect(textOf(await own.client.callTool({ name: 'pid' }))).to.not.equal(String(warmPid));
      expect(isAlive(warmPid), 'the warm child gave its slot away').to.equal(false);
      expect(gateway.logs.some((line) => line.includes('gives its slot of mcp.max_children to a session'))).to.equal(true);
    } finally {
      await own.close();
    }
    // The slot the session freed goes to a new warm child, which the next session that fits takes.
    expect(await waitFor(() => ready().length === 3, 10_000), 'the pool refilled once the slot was free').to.equal(true);
    const refilled = ready()[2];
    const session = await connect(base, 'streamable-http');
    try {
      expect(textOf(await session.client.callTool({ name: 'pid' }))).to.equal(String(refilled));
    } finally {
      await session.close();
    }
    expect(await waitFor(() => ready().length === 4, 10_000), 'and refilled again').to.equal(true);
    adopt(ready()[3]);
    // The refill could start only once the session's child was gone, and the child reaper exits
    // with the last child (mcp.reaper_linger): the new warm child has a new reaper, which lives
    // with the route like it.
    adopt(descendants().find((p) => p.command.includes('tollgate-mcp-reaper'))?.pid);
  });
});

describe('mcp-bridge prewarm of a server that never answers initialize', function () {
  this.timeout(30_000);
  let gateway: TestGateway;
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-prewarm-silent-'));
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops the warm child once init_timeout passes, so its start turn is free for other routes, and does not start it again until a session comes', async () => {
    const starts = join(dir, 'silent-starts.log');
    const startsOf = () => (existsSync(starts) ? readFileSync(starts, 'utf8') : '').split('\n').filter((line) => line.startsWith('start ')).length;
    // One start at a time makes a turn that is never given back visible at once.
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'], start_concurrency: 1 } });
    await bridgeRoute(gateway, 'silent', [FAULT_SERVER, '--no-init', `--record-starts=${starts}`], { prewarm: 1, init_timeout: 1 });
    const other = await bridgeRoute(gateway, 'other', [FAULT_SERVER], {});
    expect(await waitFor(() => startsOf() === 1, 10_000), 'the warm child started').to.equal(true);
    const session = await connect(other, 'streamable-http');
    try {
      expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'served' } }))).to.equal('served');
    } finally {
      await session.close();
    }
    const silentChildren = () => descendants().filter((p) => p.command.includes('--no-init'));
    expect(await waitFor(() => silentChildren().length === 0, 10_000), 'the silent warm child was stopped').to.equal(true);
    expect(startsOf(), 'a failed warm start pauses the pool').to.equal(1);
    expect(gateway.logs.some((line) => line.includes('did not answer initialize within 1 s (init_timeout)'))).to.equal(true);
  });
});
