/**
 * A burst of connects (issue 10, item 17): children start through a queue, at most
 * mcp.start_concurrency at a time; init_timeout counts from each child's own start; 503 +
 * Retry-After (a JSON-RPC error body) only when mcp.start_queue sessions already wait.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, INIT, bridgeRoute, descendants, endRawSession, post, startBridgeGateway, waitFor, type RawResponse } from './support.js';

const fixtureChildren = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));

/** The most children that were between their start and their answer to initialize at one time. */
function peakStarting(file: string): number {
  const events = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .map(([kind, , ms]) => ({ delta: kind === 'start' ? 1 : -1, ms: Number(ms) }))
    // At equal times a start that ends before another begins is not an overlap.
    .sort((a, b) => a.ms - b.ms || a.delta - b.delta);
  let now = 0;
  let peak = 0;
  for (const event of events) peak = Math.max(peak, (now += event.delta));
  return peak;
}

describe('mcp-bridge: the start queue', function () {
  this.timeout(60_000);
  let work: string;
  let gateway: TestGateway | undefined;

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'tollgate-start-queue-'));
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    rmSync(work, { recursive: true, force: true });
  });

  async function endAll(base: string, responses: RawResponse[]): Promise<void> {
    await Promise.all(responses.filter((r) => r.status === 200).map((r) => endRawSession(base, r.headers.get('mcp-session-id')!)));
  }

  it('serves 32 simultaneous initializes on default caps, starting at most start_concurrency (8) children at a time', async () => {
    gateway = await startBridgeGateway();
    const starts = join(work, 'starts');
    // Two default routes: 16 sessions each, 32 children gateway-wide.
    const args = [FAULT_SERVER, '--init-delay=200', `--record-starts=${starts}`];
    const bases = [await bridgeRoute(gateway, 'one', args), await bridgeRoute(gateway, 'two', args)];
    const burst = bases.flatMap((base) => Array.from({ length: 16 }, () => post(`${base}/mcp`, INIT).then((res) => ({ base, res }))));
    const results = await Promise.all(burst);
    try {
      expect(results.map(({ res }) => res.status)).to.deep.equal(Array(32).fill(200));
      expect(peakStarting(starts)).to.be.within(1, 8);
    } finally {
      for (const base of bases) await endAll(base, results.filter((r) => r.base === base).map((r) => r.res));
    }
  });

  it('counts init_timeout from each child’s own start, not from its wait in the queue', async () => {
    gateway = await startBridgeGateway({ mcp: { start_concurrency: 1 } });
    // Each start takes 0.4 s of the 1 s init_timeout; the fifth waits 1.6 s in the queue first.
    const base = await bridgeRoute(gateway, 'timed', [FAULT_SERVER, '--init-delay=400'], { init_timeout: 1 });
    const results = await Promise.all(Array.from({ length: 5 }, () => post(`${base}/mcp`, INIT)));
    try {
      expect(results.map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200]);
    } finally {
      await endAll(base, results);
    }
  });

  it('answers 503 + Retry-After with a JSON-RPC error only past start_queue; every admitted client is served', async () => {
    gateway = await startBridgeGateway({ mcp: { start_concurrency: 2, start_queue: 3 } });
    const base = await bridgeRoute(gateway, 'queue', [FAULT_SERVER, '--init-delay=300']);
    const results = await Promise.all(Array.from({ length: 10 }, () => post(`${base}/mcp`, INIT)));
    try {
      const refused = results.filter((r) => r.status === 503);
      expect(results.filter((r) => r.status === 200)).to.have.length(5);
      expect(refused).to.have.length(5);
      for (const res of refused) {
        expect(res.headers.get('retry-after')).to.match(/^\d+$/);
        expect(res.json).to.deep.include({ jsonrpc: '2.0', id: null });
        expect(res.json.error.data.code).to.equal('GW_MCP_START_QUEUE_FULL');
      }
    } finally {
      await endAll(base, results);
    }
  });

  it('drops a waiting session whose client leaves: no child is ever started for it', async () => {
    gateway = await startBridgeGateway({ mcp: { start_concurrency: 1 } });
    const base = await bridgeRoute(gateway, 'leaving', [FAULT_SERVER, '--init-delay=800']);
    const first = post(`${base}/mcp`, INIT);
    expect(await waitFor(() => fixtureChildren().length === 1, 5000)).to.equal(true);
    const controller = new AbortController();
    const leaving = fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(INIT),
      signal: controller.signal,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    await leaving;
    const answered = await first;
    expect(answered.status).to.equal(200);
    // The queue moved on without starting the departed client's child.
    const next = await post(`${base}/mcp`, INIT);
    expect(next.status).to.equal(200);
    expect(fixtureChildren()).to.have.length(2);
    await endAll(base, [answered, next]);
  });
});
