/**
 * Sessions never see each other's traffic: each has its own child, and every child message goes
 * to exactly one stream of its own session. JSON-RPC ids collide on purpose (SDK clients all
 * count from 0; raw clients below all use id 1), which is what broke bridges that share a child.
 */
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, TRANSPORTS, bridgeRoute, connect, endRawSession, post, rawSession, startBridgeGateway, textOf } from './support.js';

describe('mcp-bridge session isolation', function () {
  this.timeout(30_000);
  let gateway: TestGateway;
  let base: string;

  before(async () => {
    gateway = await startBridgeGateway();
    base = await bridgeRoute(gateway, 'iso', [FAULT_SERVER]);
  });

  after(async () => {
    await gateway.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`keeps concurrent ${transport} sessions apart: own child, own results, own notifications`, async () => {
      const names = ['alpha', 'bravo', 'charlie'];
      const sessions = await Promise.all(names.map((name) => connect(base, transport, { name })));
      try {
        const notes = names.map(() => [] as string[]);
        sessions.forEach((s, i) =>
          s.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void notes[i].push(String(n.params.data))),
        );
        const pids = await Promise.all(sessions.map(async (s) => textOf(await s.client.callTool({ name: 'pid', arguments: {} }))));
        expect(new Set(pids).size, 'one child per session').to.equal(names.length);

        const calls = 15;
        const results = await Promise.all(
          sessions.map((s, i) =>
            Promise.all(
              Array.from({ length: calls }, async (_, n) => {
                const tool = n % 2 === 0 ? 'echo' : 'notify';
                return textOf(await s.client.callTool({ name: tool, arguments: { text: `${names[i]}-${n}` } }));
              }),
            ),
          ),
        );
        results.forEach((texts, i) => {
          texts.forEach((text, n) => expect(text).to.equal(n % 2 === 0 ? `${names[i]}-${n}` : `notified ${names[i]}-${n}`));
        });
        // Logging notifications are handled a microtask late by the SDK client; let them land.
        await new Promise((r) => setTimeout(r, 100));
        notes.forEach((received, i) => {
          expect(received.length, `${names[i]} notifications`).to.be.greaterThan(0);
          for (const note of received) expect(note).to.match(new RegExp(`: ${names[i]}-\\d+$`));
        });
      } finally {
        await Promise.all(sessions.map((s) => s.close()));
      }
    });
  }

  it('answers equal request ids sent at the same moment on two raw sessions each with its own result', async () => {
    const [a, b] = await Promise.all([rawSession(base), rawSession(base)]);
    try {
      for (let round = 0; round < 5; round++) {
        const call = (session: string, text: string) =>
          post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text } } }, { 'mcp-session-id': session });
        const [ra, rb] = await Promise.all([call(a, `a${round}`), call(b, `b${round}`)]);
        expect(ra.json).to.deep.include({ id: 1 });
        expect(rb.json).to.deep.include({ id: 1 });
        expect(textOf(ra.json.result)).to.equal(`a${round}`);
        expect(textOf(rb.json.result)).to.equal(`b${round}`);
      }
    } finally {
      await Promise.all([endRawSession(base, a), endRawSession(base, b)]);
    }
  });

  it('refuses a second request with an id already in flight in the same session', async () => {
    const session = await rawSession(base);
    try {
      const slow = post(`${base}/mcp`, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: { ms: 300 } } }, { 'mcp-session-id': session });
      await new Promise((r) => setTimeout(r, 50));
      const dup = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, { 'mcp-session-id': session });
      expect(dup.status).to.equal(400);
      expect(dup.json.error.code).to.equal(-32600);
      expect(textOf((await slow).json.result)).to.equal('slow done');
    } finally {
      await endRawSession(base, session);
    }
  });
});
