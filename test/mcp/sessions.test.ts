/**
 * Session lifecycle and limits (issue 3, "Sessions and child processes"; checklist B-26, B-37):
 * DELETE, idle reaping, caps with 503 + Retry-After, sessions bound to their consumer, route
 * changes, the standalone GET stream, keep-alives, and how other plugins' rejections reach MCP
 * clients.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import {
  FAULT_SERVER,
  INIT,
  bridgeRoute,
  connect,
  descendants,
  endRawSession,
  post,
  rawSession,
  read,
  readEvents,
  startBridgeGateway,
  textOf,
  waitFor,
} from './support.js';

const fixtureChildren = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));
const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

describe('mcp-bridge sessions', function () {
  this.timeout(20_000);
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

  describe('ending', () => {
    it('DELETE ends the session: its child stops and the id answers 404 from then on', async () => {
      const base = await bridgeRoute(gateway, 'delete', [FAULT_SERVER]);
      const session = await rawSession(base);
      expect(fixtureChildren()).to.have.length(1);
      const res = await read(await fetch(`${base}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': session } }));
      expect(res.status).to.equal(200);
      expect(await waitFor(() => fixtureChildren().length === 0, 5000)).to.equal(true);
      expect((await post(`${base}/mcp`, call(1, 'echo'), { 'mcp-session-id': session })).status).to.equal(404);
    });

    it('reaps a session left idle (no request, no stream) after session_idle_timeout', async () => {
      const base = await bridgeRoute(gateway, 'idle', [FAULT_SERVER], { session_idle_timeout: 0.3 });
      const session = await rawSession(base);
      expect(await waitFor(() => fixtureChildren().length === 0, 5000), 'idle child still running').to.equal(true);
      expect((await post(`${base}/mcp`, call(1, 'echo'), { 'mcp-session-id': session })).status).to.equal(404);
      expect(gateway.logs.some((l) => l.includes('"reason":"idle timeout"'))).to.equal(true);
    });

    it('keeps a session whose client holds a stream open, however long', async () => {
      const base = await bridgeRoute(gateway, 'held', [FAULT_SERVER], { session_idle_timeout: 0.3 });
      const session = await connect(base, 'sse');
      try {
        await new Promise((r) => setTimeout(r, 900));
        expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'still open' } }))).to.equal('still open');
      } finally {
        await session.close();
      }
    });
  });

  describe('caps', () => {
    it('answers 503 with Retry-After past max_sessions, on both transports, and admits again once one ends', async () => {
      // Nothing here may be reclaimed (reclaim.test.ts covers that): the refusal is what is tested.
      const base = await bridgeRoute(gateway, 'capped', [FAULT_SERVER], { max_sessions: 2, session_reclaim_idle: 60 });
      const first = await rawSession(base);
      const second = await connect(base, 'sse');
      try {
        const refused = await post(`${base}/mcp`, INIT);
        expect(refused.status).to.equal(503);
        expect(refused.headers.get('retry-after')).to.match(/^\d+$/);
        expect(refused.json.error.data.code).to.equal('GW_MCP_TOO_MANY_SESSIONS');
        expect((await read(await fetch(`${base}/sse`))).status).to.equal(503);
        expect(fixtureChildren()).to.have.length(2);
        await endRawSession(base, first);
        const third = await rawSession(base);
        await endRawSession(base, third);
      } finally {
        await second.close();
      }
    });

    it('caps sessions per consumer with max_sessions_per_consumer', async () => {
      const base = await bridgeRoute(gateway, 'per-consumer', [FAULT_SERVER], { max_sessions_per_consumer: 1, session_reclaim_idle: 60 }, { plugins: { 'key-auth': {} } });
      const alice = { apikey: 'alice-key-0123456789' };
      const bob = { apikey: 'bob-key-0123456789' };
      const aliceSession = await rawSession(base, alice);
      const again = await post(`${base}/mcp`, INIT, alice);
      expect(again.status).to.equal(503);
      expect(again.json.error.data.code).to.equal('GW_MCP_TOO_MANY_SESSIONS');
      const bobSession = await rawSession(base, bob);
      await endRawSession(base, aliceSession, alice);
      await endRawSession(base, bobSession, bob);
    });
  });

  describe('ownership', () => {
    it('answers 404 when another consumer uses a session id, on every method and both transports', async () => {
      const base = await bridgeRoute(gateway, 'owned', [FAULT_SERVER], {}, { plugins: { 'key-auth': {} } });
      const alice = { apikey: 'alice-key-0123456789' };
      const bob = { apikey: 'bob-key-0123456789' };
      const session = await rawSession(base, alice);
      const legacy = await connect(base, 'sse', { headers: alice });
      try {
        const asBob = { ...bob, 'mcp-session-id': session };
        expect((await post(`${base}/mcp`, call(1, 'echo', { text: 'x' }), asBob)).status).to.equal(404);
        expect((await read(await fetch(`${base}/mcp`, { headers: { ...asBob, accept: 'text/event-stream' } }))).status).to.equal(404);
        expect((await read(await fetch(`${base}/mcp`, { method: 'DELETE', headers: asBob }))).status).to.equal(404);
        expect((await post(`${base}/message?sessionId=${legacy.sessionId()}`, call(1, 'echo', { text: 'x' }), bob)).status).to.equal(404);
        // The owner is unaffected.
        const mine = await post(`${base}/mcp`, call(2, 'echo', { text: 'mine' }), { ...alice, 'mcp-session-id': session });
        expect(textOf(mine.json.result)).to.equal('mine');
        expect(textOf(await legacy.client.callTool({ name: 'echo', arguments: { text: 'legacy mine' } }))).to.equal('legacy mine');
      } finally {
        await endRawSession(base, session, alice);
        await legacy.close();
      }
    });

    it('hands out unguessable session ids: visible ASCII, 144 random bits, never repeated', async () => {
      const base = await bridgeRoute(gateway, 'ids', [FAULT_SERVER], { max_sessions: 8 });
      const ids = await Promise.all(Array.from({ length: 6 }, () => rawSession(base)));
      try {
        for (const id of ids) expect(id).to.match(/^[A-Za-z0-9_-]{36}$/);
        expect(new Set(ids).size).to.equal(ids.length);
      } finally {
        await Promise.all(ids.map((id) => endRawSession(base, id)));
      }
    });
  });

  describe('route changes', () => {
    it('keeps running sessions when the route changes but its bridge config does not', async () => {
      const base = await bridgeRoute(gateway, 'stable', [FAULT_SERVER]);
      const session = await connect(base, 'streamable-http');
      try {
        const pid = textOf(await session.client.callTool({ name: 'pid', arguments: {} }));
        await bridgeRoute(gateway, 'stable', [FAULT_SERVER], {}, { name: 'renamed', plugins: { 'request-id': {} } });
        expect(textOf(await session.client.callTool({ name: 'pid', arguments: {} }))).to.equal(pid);
      } finally {
        await session.close();
      }
    });

    it('ends running sessions when the bridge config changes; clients get 404 and start over', async () => {
      const base = await bridgeRoute(gateway, 'changing', [FAULT_SERVER]);
      const session = await rawSession(base);
      const [before] = fixtureChildren();
      await bridgeRoute(gateway, 'changing', [FAULT_SERVER, '--stderr-spam=10']);
      expect(await waitFor(() => !fixtureChildren().some((p) => p.pid === before.pid), 5000)).to.equal(true);
      expect((await post(`${base}/mcp`, call(1, 'echo'), { 'mcp-session-id': session })).status).to.equal(404);
      const fresh = await rawSession(base);
      await endRawSession(base, fresh);
    });
  });

  describe('the standalone GET stream', () => {
    it('carries messages the server sends between requests, and only one GET stream per session', async () => {
      const base = await bridgeRoute(gateway, 'get', [FAULT_SERVER]);
      const session = await rawSession(base);
      const controller = new AbortController();
      try {
        // A notification sent while nothing is in flight and no GET stream is open waits for one.
        await post(`${base}/mcp`, call(1, 'later', { ms: 10, text: 'queued' }), { 'mcp-session-id': session });
        await new Promise((r) => setTimeout(r, 100));
        const headers = { accept: 'text/event-stream', 'mcp-session-id': session };
        const stream = await fetch(`${base}/mcp`, { headers, signal: controller.signal });
        expect(stream.status).to.equal(200);
        expect((await read(await fetch(`${base}/mcp`, { headers }))).status).to.equal(409);
        // Call 3 waits until 'live' arrived: a related notification that arrives while exactly one
        // request is in flight belongs to that request's stream (stdio names no related request).
        let changed: ReturnType<typeof post> | undefined;
        const events = readEvents(stream, (seen) => {
          if (!changed && seen.some((e) => e.data.includes('live'))) changed = post(`${base}/mcp`, call(3, 'list_changed'), { 'mcp-session-id': session });
          return seen.some((e) => e.data.includes('list_changed'));
        });
        await post(`${base}/mcp`, call(2, 'later', { ms: 10, text: 'live' }), { 'mcp-session-id': session });
        const data = (await events).map((e) => e.data);
        // An unrelated notification goes to the GET stream even while its request is in flight.
        expect((await changed!).headers.get('content-type')).to.contain('application/json');
        expect(data.filter((d) => d.includes('queued'))).to.have.length(1);
        expect(data.some((d) => d.includes('notifications/tools/list_changed'))).to.equal(true);
      } finally {
        controller.abort();
        await endRawSession(base, session);
      }
    });

    it('sends keep-alive comments on open streams every ping_interval', async () => {
      const base = await bridgeRoute(gateway, 'ping', [FAULT_SERVER], { ping_interval: 0.1 });
      const session = await rawSession(base);
      const controller = new AbortController();
      try {
        const stream = await fetch(`${base}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': session }, signal: controller.signal });
        const reader = stream.body!.getReader();
        let text = '';
        const seen = await waitFor(async () => {
          const { value } = await reader.read();
          text += new TextDecoder().decode(value);
          return (text.match(/: keep-alive\n\n/g) ?? []).length >= 2;
        }, 5000);
        expect(seen).to.equal(true);
      } finally {
        controller.abort();
        await endRawSession(base, session);
      }
    });
  });

  describe('other plugins on the route', () => {
    it('turns a rate-limit rejection of a request into that request’s JSON-RPC error; notifications get plain HTTP', async () => {
      const base = await bridgeRoute(gateway, 'limited', [FAULT_SERVER], {}, {
        plugins: { 'limit-count': { count: 2, time_window: 60, key_type: 'var', key: 'remote_addr', rejected_code: 429 } },
      });
      const session = await rawSession(base); // one counted request: notifications/initialized never is
      const allowed = await post(`${base}/mcp`, call(1, 'echo', { text: 'ok' }), { 'mcp-session-id': session });
      expect(textOf(allowed.json.result)).to.equal('ok');
      const limited = await post(`${base}/mcp`, call(2, 'echo', { text: 'too many' }), { 'mcp-session-id': session });
      expect(limited.status).to.equal(200);
      expect(limited.json.id).to.equal(2);
      expect(limited.json.error.data).to.deep.include({ status: 429, code: 'GW_RATE_LIMITED' });
      const notification = await post(`${base}/mcp`, { jsonrpc: '2.0', method: 'notifications/progress', params: {} }, { 'mcp-session-id': session });
      expect(notification.status).to.equal(429);
      await gateway.admin('DELETE', '/routes/limited');
    });

    it('legacy SSE: a rejected request’s error arrives on the stream, the POST gets 202', async () => {
      const base = await bridgeRoute(gateway, 'limited-sse', [FAULT_SERVER], {}, {
        plugins: { 'limit-count': { count: 3, time_window: 60, key_type: 'var', key: 'remote_addr', rejected_code: 429, rejected_msg: 'slow down' } },
      });
      const session = await connect(base, 'sse'); // GET and initialize counted, initialized not
      try {
        expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'ok' } }))).to.equal('ok');
        const error = await session.client.callTool({ name: 'echo', arguments: { text: 'no' } }).then(
          () => undefined,
          (err: Error) => err,
        );
        expect(error?.message).to.contain('slow down');
      } finally {
        await session.close();
      }
    });

    it('keeps authentication failures as plain 401, before any child starts', async () => {
      const base = await bridgeRoute(gateway, 'auth', [FAULT_SERVER], {}, { plugins: { 'key-auth': {} } });
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(401);
      expect(res.json.jsonrpc).to.equal(undefined);
      expect(fixtureChildren()).to.have.length(0);
    });

    it('reports a failing child to api-breaker, which then answers for it', async () => {
      const base = await bridgeRoute(gateway, 'breaker', [FAULT_SERVER, '--exit-at-start=1'], {}, {
        plugins: { 'api-breaker': { break_response_code: 503, unhealthy: { http_statuses: [502], failures: 2 } } },
      });
      expect((await post(`${base}/mcp`, INIT)).status).to.equal(502);
      expect((await post(`${base}/mcp`, INIT)).status).to.equal(502);
      const open = await post(`${base}/mcp`, INIT);
      expect(open.json.error.data).to.deep.include({ status: 503, code: 'GW_BREAKER_OPEN' });
      expect(open.headers.get('retry-after')).to.match(/^\d+$/);
    });
  });

  // Last: a second gateway in this process re-initializes plugins that keep module state.
  describe('gateway-wide cap', () => {
    it('answers 503 past the gateway-wide mcp.max_children, across routes', async () => {
      const small = await startBridgeGateway({ mcp: { max_children: 2 } });
      try {
        const a = await bridgeRoute(small, 'a', [FAULT_SERVER], { session_reclaim_idle: 60 });
        const b = await bridgeRoute(small, 'b', [FAULT_SERVER], { session_reclaim_idle: 60 });
        const sessions = [await rawSession(a), await rawSession(b)];
        const refused = await post(`${b}/mcp`, INIT);
        expect(refused.status).to.equal(503);
        expect(refused.headers.get('retry-after')).to.match(/^\d+$/);
        expect(refused.json.error.data.code).to.equal('GW_MCP_TOO_MANY_SESSIONS');
        await endRawSession(a, sessions[0]);
        await endRawSession(b, sessions[1]);
      } finally {
        await small.stop();
      }
    });

    it('holds the cap under a spawn storm: 40 concurrent initializations, 4 children, the rest a fast 503', async () => {
      const small = await startBridgeGateway({ mcp: { max_children: 4 } });
      try {
        const base = await bridgeRoute(small, 'storm', [FAULT_SERVER], { max_sessions: 64, session_reclaim_idle: 60 });
        let peak = 0;
        const watch = setInterval(() => (peak = Math.max(peak, fixtureChildren().length)), 10);
        const results = await Promise.all(Array.from({ length: 40 }, () => post(`${base}/mcp`, INIT)));
        clearInterval(watch);
        const statuses = results.map((r) => r.status);
        expect(statuses.filter((s) => s === 200)).to.have.length(4);
        expect(statuses.filter((s) => s === 503)).to.have.length(36);
        expect(peak).to.be.at.most(4);
        await Promise.all(results.filter((r) => r.status === 200).map((r) => endRawSession(base, r.headers.get('mcp-session-id')!)));
      } finally {
        await small.stop();
      }
    });
  });
});
