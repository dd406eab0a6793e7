/**
 * Children and clients that misbehave on the wire (faults checklist B-29, B-30, B-31, B-33, B-36):
 * a server that never answers or reports progress forever, floods stdout, writes a line too long
 * or garbage; clients that stop reading or leave mid-request.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import {
  FAULT_SERVER,
  bridgeRoute,
  connect,
  descendants,
  endRawSession,
  post,
  rawSession,
  readEvents,
  recordedStdin,
  responseOf,
  startBridgeGateway,
  textOf,
  waitFor,
} from './support.js';

const call = (id: number, name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

function postStream(url: string, body: unknown, session: string, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': session },
    body: JSON.stringify(body),
    signal,
  });
}

describe('mcp-bridge stream faults', function () {
  this.timeout(30_000);
  let gateway: TestGateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-stream-faults-'));
    gateway = await startBridgeGateway();
  });

  after(async () => {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('a server that does not answer', () => {
    it('times the request out with a JSON-RPC error and cancels it at the server; the session goes on', async () => {
      const stdin = join(dir, 'hang.log');
      const base = await bridgeRoute(gateway, 'hang', [FAULT_SERVER, `--record-stdin=${stdin}`], { request_timeout: 0.3 });
      for (const transport of ['streamable-http', 'sse'] as const) {
        const session = await connect(base, transport);
        try {
          const error = await session.client.callTool({ name: 'hang', arguments: {} }).then(
            () => undefined,
            (err: Error & { code?: number }) => err,
          );
          expect(error?.code, transport).to.equal(-32001);
          expect(error?.message).to.contain('timed out');
          expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'alive' } }))).to.equal('alive');
        } finally {
          await session.close();
        }
      }
      const cancelled = recordedStdin(stdin).filter((m) => m.method === 'notifications/cancelled');
      expect(cancelled).to.have.length(2);
      expect(cancelled[0].params?.reason).to.contain('timed out');
    });

    it('lets progress extend a request, up to mcp.max_request_duration', async () => {
      const capped = await startBridgeGateway({ mcp: { max_request_duration: 1 } });
      const base = await bridgeRoute(capped, 'progress-forever', [FAULT_SERVER], { request_timeout: 0.3 });
      const session = await connect(base, 'streamable-http');
      try {
        const progress: number[] = [];
        const started = Date.now();
        const error = await session.client
          .callTool({ name: 'progress_forever', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) })
          .then(
            () => undefined,
            (err: Error & { code?: number }) => err,
          );
        const elapsed = Date.now() - started;
        expect(error?.code).to.equal(-32001);
        // Progress every 50 ms kept it alive past request_timeout (0.3 s) until the 1 s hard cap.
        expect(elapsed).to.be.at.least(950);
        expect(progress.length).to.be.greaterThan(6);
      } finally {
        await session.close();
        await capped.stop();
      }
    });
  });

  describe('a slow answer', () => {
    it('switches the reply to SSE after ping_interval, so keep-alives flow while the call runs', async () => {
      const base = await bridgeRoute(gateway, 'slow-reply', [FAULT_SERVER], { ping_interval: 0.1 });
      const session = await rawSession(base);
      try {
        const res = await postStream(`${base}/mcp`, call(1, 'slow', { ms: 800 }), session);
        expect(res.headers.get('content-type')).to.equal('text/event-stream');
        const text = await res.text();
        expect(text).to.contain(': keep-alive');
        const data = text.split('\n').filter((l) => l.startsWith('data: {'));
        expect(textOf(JSON.parse(data.at(-1)!.slice(6)).result)).to.equal('slow done');
      } finally {
        await endRawSession(base, session);
      }
    });
  });

  describe('floods and slow readers', () => {
    it('pauses a flooding server while its client does not read: memory bounded, other sessions unaffected', async () => {
      const base = await bridgeRoute(gateway, 'flood', [FAULT_SERVER], { ping_interval: 60 });
      const [flooder, other] = await Promise.all([rawSession(base), rawSession(base)]);
      const controller = new AbortController();
      try {
        const rssBefore = process.memoryUsage().rss;
        // 100 MB of notifications; the client reads none of it.
        const res = await postStream(`${base}/mcp`, call(1, 'flood', { count: 100_000 }), flooder, controller.signal);
        expect(res.headers.get('content-type')).to.equal('text/event-stream');
        await new Promise((r) => setTimeout(r, 1000));
        const echo = await post(`${base}/mcp`, call(2, 'echo', { text: 'meanwhile' }), { 'mcp-session-id': other });
        expect(textOf(echo.json.result)).to.equal('meanwhile');
        const grown = process.memoryUsage().rss - rssBefore;
        expect(grown, 'RSS growth while the reader stalls').to.be.below(64 * 1024 * 1024);
      } finally {
        controller.abort();
        await Promise.all([endRawSession(base, flooder), endRawSession(base, other)]);
      }
    });

    it('delivers every message of a flood, in order, to a client that reads', async () => {
      const base = await bridgeRoute(gateway, 'flood-all', [FAULT_SERVER]);
      const session = await rawSession(base);
      try {
        const count = 5000;
        const res = await postStream(`${base}/mcp`, call(1, 'flood', { count }), session);
        const events = await readEvents(res, (seen) => seen.some((e) => e.data.includes('"id":1')), 20_000);
        const numbers = events.filter((e) => e.data.includes('notifications/message')).map((e) => Number(JSON.parse(e.data).params.data.split(' ')[0]));
        expect(numbers).to.deep.equal(Array.from({ length: count }, (_, i) => i));
        expect(textOf(JSON.parse(events.at(-1)!.data).result)).to.equal(`flooded ${count}`);
      } finally {
        await endRawSession(base, session);
      }
    });

    it('drops a client that stops reading for twice ping_interval; the session stays usable', async () => {
      const base = await bridgeRoute(gateway, 'stall', [FAULT_SERVER], { ping_interval: 0.2 });
      const session = await rawSession(base);
      try {
        const res = await postStream(`${base}/mcp`, call(1, 'flood', { count: 20_000 }), session);
        const reader = res.body!.getReader();
        await reader.read();
        const dropped = await waitFor(() => gateway.logs.some((l) => l.includes('stopped reading its stream')), 5000);
        expect(dropped).to.equal(true);
        await reader.cancel().catch(() => undefined);
        const echo = await post(`${base}/mcp`, call(2, 'echo', { text: 'after' }), { 'mcp-session-id': session });
        // Behind the flood still queued in the server's output, the answer may come as SSE.
        expect(textOf(responseOf(echo, 2).result)).to.equal('after');
      } finally {
        await endRawSession(base, session);
      }
    });
  });

  describe('oversized and malformed output', () => {
    for (const [tool, what] of [
      ['huge', 'a 2 MiB line'],
      ['unterminated', '2 MiB without a newline'],
    ] as const) {
      it(`ends the session when the server writes ${what} (max_message_bytes 1 MiB)`, async () => {
        const base = await bridgeRoute(gateway, `big-${tool}`, [FAULT_SERVER]);
        const session = await rawSession(base);
        const res = await post(`${base}/mcp`, call(1, tool, { bytes: 2 * 1024 * 1024 }), { 'mcp-session-id': session });
        expect(res.status).to.equal(200);
        expect(res.json.error.message).to.contain('larger than max_message_bytes');
        expect((await post(`${base}/mcp`, call(2, 'echo'), { 'mcp-session-id': session })).status).to.equal(404);
        expect(await waitFor(() => descendants().every((p) => !p.command.includes(`big-${tool}`)), 5000)).to.equal(true);
      });
    }

    it('drops lines that are not JSON-RPC, keeps a raw CR out of SSE framing, and decodes a split character', async () => {
      const base = await bridgeRoute(gateway, 'garbage', [FAULT_SERVER]);
      const session = await connect(base, 'streamable-http');
      try {
        const notes: string[] = [];
        session.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void notes.push(String(n.params.data)));
        const result = await session.client.callTool({ name: 'garbage', arguments: {} });
        expect(textOf(result)).to.equal('emoji 😀 intact');
        await new Promise((r) => setTimeout(r, 50));
        expect(notes).to.deep.equal(['after a raw CR']);
        expect(gateway.logs.some((l) => l.includes('not a JSON-RPC message'))).to.equal(true);
      } finally {
        await session.close();
      }
    });
  });

  describe('clients that leave', () => {
    it('cancels at the server a request whose client left before any reply was sent', async () => {
      const stdin = join(dir, 'abort.log');
      const base = await bridgeRoute(gateway, 'abort', [FAULT_SERVER, `--record-stdin=${stdin}`]);
      const session = await rawSession(base);
      try {
        const controller = new AbortController();
        const pending = postStream(`${base}/mcp`, call(41, 'hang'), session, controller.signal).catch(() => undefined);
        await waitFor(() => readFileSync(stdin, 'utf8').includes('"id":41'), 5000);
        controller.abort();
        await pending;
        const sawCancel = () => readFileSync(stdin, 'utf8').includes('"method":"notifications/cancelled","params":{"requestId":41');
        expect(await waitFor(sawCancel, 5000)).to.equal(true);
        const echo = await post(`${base}/mcp`, call(42, 'echo', { text: 'next' }), { 'mcp-session-id': session });
        expect(textOf(echo.json.result)).to.equal('next');
      } finally {
        await endRawSession(base, session);
      }
    });

    it('resumes a POST stream after the connection dropped, from Last-Event-ID', async () => {
      const base = await bridgeRoute(gateway, 'resume', [FAULT_SERVER]);
      const session = await rawSession(base);
      try {
        const controller = new AbortController();
        const res = await postStream(`${base}/mcp`, call(1, 'slow', { ms: 600, steps: 3 }, { progressToken: 'tok' }), session, controller.signal);
        // The priming event (2025-11-25) and the first progress, then the connection drops.
        const first = await readEvents(res, (seen) => seen.some((e) => e.data.includes('notifications/progress')));
        controller.abort();
        expect(first[0]).to.deep.include({ data: '' });
        const last = first.at(-1)!.id!;
        expect(last).to.match(/^\d+-\d+$/);
        const resumed = await fetch(`${base}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'last-event-id': last } });
        expect(resumed.status).to.equal(200);
        const rest = await readEvents(resumed, (seen) => seen.some((e) => e.data.includes('"id":1')));
        const progress = rest.filter((e) => e.data.includes('progress')).map((e) => JSON.parse(e.data).params.progress);
        expect(progress).to.deep.equal([2, 3]);
        expect(textOf(JSON.parse(rest.at(-1)!.data).result)).to.equal('slow done');
      } finally {
        await endRawSession(base, session);
      }
    });

    it('keeps at most mcp.resume_buffer_bytes of a dropped stream: the newest events and the response', async () => {
      const small = await startBridgeGateway({ mcp: { resume_buffer_bytes: 4096 } });
      try {
        // The reply turns into SSE (priming event) after ping_interval; the flood starts after the client left.
        const base = await bridgeRoute(small, 'small-buffer', [FAULT_SERVER], { ping_interval: 0.1 });
        const session = await rawSession(base);
        const controller = new AbortController();
        const res = await postStream(`${base}/mcp`, call(1, 'flood', { count: 50, delay: 400 }), session, controller.signal);
        const [priming] = await readEvents(res, (seen) => seen.length > 0);
        controller.abort();
        await new Promise((r) => setTimeout(r, 600));
        const resumed = await fetch(`${base}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'last-event-id': priming.id! } });
        const replayed = await readEvents(resumed, (seen) => seen.some((e) => e.data.includes('"id":1')));
        const notes = replayed.filter((e) => e.data.includes('notifications/message')).map((e) => Number(JSON.parse(e.data).params.data.split(' ')[0]));
        // ~1 KiB each: three or so fit next to the response; the oldest 40-odd were dropped.
        expect(notes.length).to.be.within(1, 4);
        expect(notes).to.deep.equal(Array.from({ length: notes.length }, (_, i) => 50 - notes.length + i));
        expect(textOf(JSON.parse(replayed.at(-1)!.data).result)).to.equal('flooded 50');
        await endRawSession(base, session);
      } finally {
        await small.stop();
      }
    });

    it('sends no event ids and no priming event when mcp.resume_buffer_bytes is 0', async () => {
      const none = await startBridgeGateway({ mcp: { resume_buffer_bytes: 0 } });
      try {
        const base = await bridgeRoute(none, 'no-buffer', [FAULT_SERVER]);
        const session = await rawSession(base);
        const res = await postStream(`${base}/mcp`, call(1, 'notify', { text: 'plain' }), session);
        const text = await res.text();
        expect(res.headers.get('content-type')).to.equal('text/event-stream');
        expect(text).to.not.match(/^id:/m);
        expect(text.split('\n\n')[0]).to.contain('notifications/message');
        await endRawSession(base, session);
      } finally {
        await none.stop();
      }
    });

    it('ends a legacy session and its child when the SSE client resets the connection', async () => {
      const base = await bridgeRoute(gateway, 'reset', [FAULT_SERVER]);
      const children = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));
      for (let i = 0; i < 20; i++) {
        const controller = new AbortController();
        const res = await fetch(`${base}/sse`, { signal: controller.signal });
        await readEvents(res, (seen) => seen.some((e) => e.event === 'endpoint'));
        controller.abort();
      }
      expect(await waitFor(() => children().length === 0, 5000)).to.equal(true);
      const session = await connect(base, 'sse');
      expect(textOf(await session.client.callTool({ name: 'echo', arguments: { text: 'fine' } }))).to.equal('fine');
      await session.close();
    });
  });
});
