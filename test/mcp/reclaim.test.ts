/**
 * Caps and clients that leave without DELETE (issue 10, item 15). The SDK client's close() and
 * MCP Inspector's CLI never end their sessions, so a cap used to fill with abandoned sessions and
 * refuse everyone for session_idle_timeout. At a cap the least recently active session that is
 * not busy (no request in flight, no open stream) and idle for session_reclaim_idle is ended
 * instead; a busy one never is.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, INIT, bridgeRoute, connect, descendants, endRawSession, post, rawSession, startBridgeGateway, textOf, waitFor, type Connected } from './support.js';

const fixtureChildren = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));
const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
/** The route default of session_reclaim_idle, in ms. */
const RECLAIM_IDLE_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a session last active at `since` (performance.now()) has been idle long enough to be reclaimed. */
async function untilReclaimable(since: number): Promise<void> {
  await sleep(Math.max(0, since + RECLAIM_IDLE_MS + 100 - performance.now()));
}

describe('mcp-bridge: reclaiming idle sessions at a cap', function () {
  this.timeout(60_000);
  let gateway: TestGateway;

  before(async () => {
    gateway = await startBridgeGateway();
    for (const name of ['alice', 'bob']) {
      const res = await gateway.admin('PUT', `/consumers/${name}`, { username: name, plugins: { 'key-auth': { key: `${name}-key-0123456789` } } });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    }
  });

  after(async () => {
    await gateway.stop();
  });

  it('admits new SDK clients on a default route after 16 others left without DELETE; the abandoned ones answer 404', async () => {
    const base = await bridgeRoute(gateway, 'abandoned', [FAULT_SERVER]);
    const abandoned: string[] = [];
    const staying: Connected[] = [];
    let fourthLeft = 0;
    try {
      for (let i = 0; i < 16; i++) {
        const client = await connect(base, 'streamable-http');
        expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: `client ${i}` } }))).to.equal(`client ${i}`);
        abandoned.push(client.sessionId()!);
        // What the SDK client and MCP Inspector's CLI do: close the transport, no DELETE.
        await client.client.close();
        if (i === 3) fourthLeft = performance.now();
      }
      // Each newcomer takes the place of one of the four oldest: all four must be idle long enough
      // (on a loaded machine one of them may have left long after the first).
      await untilReclaimable(fourthLeft);
      for (let i = 0; i < 4; i++) {
        const client = await connect(base, 'streamable-http');
        staying.push(client);
        expect(textOf(await client.client.callTool({ name: 'echo', arguments: { text: `newcomer ${i}` } }))).to.equal(`newcomer ${i}`);
      }
      // A reclaimed session's child stops while its successor's starts (max_sessions caps
      // sessions; mcp.max_children is the cap on children): 16 once the last stop is over.
      let running = 0;
      expect(await waitFor(() => (running = fixtureChildren().length) <= 16, 10_000), `${running} children`).to.equal(true);
      // The oldest left first and was reclaimed first: its id is gone, the client would start over.
      const gone = await post(`${base}/mcp`, call(1, 'echo', { text: 'anyone?' }), { 'mcp-session-id': abandoned[0] });
      expect(gone.status).to.equal(404);
      expect(gone.json.error.data.code).to.equal('GW_MCP_SESSION_NOT_FOUND');
      expect(gateway.logs.filter((l) => l.includes('mcp session reclaimed for a new one'))).to.have.length(4);
    } finally {
      for (const client of staying) await client.close();
      await Promise.all(abandoned.map((id) => endRawSession(base, id)));
    }
  });

  it('never reclaims a session with a request in flight or an open GET stream, however long idle', async () => {
    const base = await bridgeRoute(gateway, 'busy', [FAULT_SERVER], { max_sessions: 3 });
    // Holds its GET stream open: the SDK opens it after initialize, in the background.
    let streamOpened!: () => void;
    const streamOpen = new Promise<void>((resolve) => (streamOpened = resolve));
    const listening = await connect(base, 'streamable-http', {
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (init?.method === 'GET' && res.ok) streamOpened();
        return res;
      },
    });
    await streamOpen;
    const working = await rawSession(base);
    const idle = await rawSession(base);
    const idleSince = performance.now();
    const slowCall = post(`${base}/mcp`, call(7, 'slow', { ms: 4000, steps: 1 }), { 'mcp-session-id': working });
    try {
      await untilReclaimable(idleSince);
      // The idle raw session makes room for the first newcomer…
      const first = await post(`${base}/mcp`, INIT);
      expect(first.status, first.text).to.equal(200);
      expect((await post(`${base}/mcp`, call(1, 'echo'), { 'mcp-session-id': idle })).status).to.equal(404);
      // …and nothing else may go: the rest are busy, or too recent.
      const second = await post(`${base}/mcp`, INIT);
      expect(second.status).to.equal(503);
      expect(second.json.error.data.code).to.equal('GW_MCP_TOO_MANY_SESSIONS');
      expect(second.headers.get('retry-after')).to.match(/^\d+$/);
      expect(textOf(await listening.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).to.equal('still here');
      const answered = await slowCall;
      expect(answered.status).to.equal(200);
      expect(answered.text).to.contain('"id":7');
      await endRawSession(base, first.headers.get('mcp-session-id')!);
    } finally {
      await slowCall.catch(() => undefined);
      await listening.close();
      await endRawSession(base, working);
      await endRawSession(base, idle);
    }
  });

  it('at max_sessions_per_consumer, reclaims only that consumer’s own idle session', async () => {
    const base = await bridgeRoute(gateway, 'per-consumer', [FAULT_SERVER], { max_sessions_per_consumer: 1 }, { plugins: { 'key-auth': {} } });
    const alice = { apikey: 'alice-key-0123456789' };
    const bob = { apikey: 'bob-key-0123456789' };
    const bobs = await rawSession(base, bob);
    const alices = await rawSession(base, alice);
    const since = performance.now();
    let again: string | undefined;
    try {
      await untilReclaimable(since);
      again = await rawSession(base, alice);
      expect((await post(`${base}/mcp`, call(1, 'echo'), { ...alice, 'mcp-session-id': alices })).status).to.equal(404);
      const bobsCall = await post(`${base}/mcp`, call(2, 'echo', { text: 'bob' }), { ...bob, 'mcp-session-id': bobs });
      expect(textOf(bobsCall.json.result)).to.equal('bob');
    } finally {
      if (again) await endRawSession(base, again, alice);
      await endRawSession(base, alices, alice);
      await endRawSession(base, bobs, bob);
    }
  });

  it('at mcp.max_children, reclaims the least recently active session of any route and starts the new child once the old one is gone', async () => {
    const small = await startBridgeGateway({ mcp: { max_children: 2 } });
    let watch: NodeJS.Timeout | undefined;
    try {
      // A server that ignores end-of-input and SIGTERM: its stop takes the whole grace period.
      const a = await bridgeRoute(small, 'a', [FAULT_SERVER, '--ignore-sigterm']);
      const b = await bridgeRoute(small, 'b', [FAULT_SERVER]);
      const onA = await rawSession(a);
      const since = performance.now();
      const onB = await rawSession(b);
      await untilReclaimable(since);
      // b's session is the more recently active one.
      expect((await post(`${b}/mcp`, call(1, 'echo', { text: 'b' }), { 'mcp-session-id': onB })).status).to.equal(200);
      let peak = 0;
      watch = setInterval(() => (peak = Math.max(peak, fixtureChildren().length)), 10);
      const third = await post(`${b}/mcp`, INIT);
      expect(third.status, third.text).to.equal(200);
      expect(peak, 'children at once').to.be.at.most(2);
      expect((await post(`${a}/mcp`, call(2, 'echo'), { 'mcp-session-id': onA })).status).to.equal(404);
      expect((await post(`${b}/mcp`, call(3, 'echo', { text: 'b again' }), { 'mcp-session-id': onB })).status).to.equal(200);
      await endRawSession(b, onB);
      await endRawSession(b, third.headers.get('mcp-session-id')!);
    } finally {
      clearInterval(watch);
      await small.stop();
    }
    expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
  });
});
