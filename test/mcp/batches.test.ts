/**
 * JSON-RPC batches (issue 10, item 19a). MCP 2025-03-26 requires servers to accept them; 2025-06-18
 * and later removed them. A 2025-03-26 session gets a batch of responses (JSON array, or one SSE
 * stream when something else comes first) and 202 for a batch of notifications; later sessions
 * get a clear -32600. Every message of a batch passes the access phase on its own, so a tools/call
 * hidden in a batch meets the same per-tool limits and access rules as one sent alone.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT, type TestGateway } from '../helpers/gateway.js';
import { EVERYTHING_SERVER, FAULT_SERVER, INIT, bridgeRoute, endRawSession, post, read, readEvents, startBridgeGateway, textOf } from './support.js';

const ACL_PLUGINS = join(REPO_ROOT, 'examples/plugins');

const init = (protocolVersion: string) => ({ ...INIT, params: { ...INIT.params, protocolVersion } });
const call = (id: number | string, name: string, args: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const notification = (method = 'notifications/roots/list_changed') => ({ jsonrpc: '2.0', method });

/** A raw Streamable HTTP session on `protocolVersion` (2025-03-26 clients send no MCP-Protocol-Version). */
async function sessionOn(base: string, protocolVersion: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await post(`${base}/mcp`, init(protocolVersion), headers);
  expect(res.status, res.text).to.equal(200);
  expect(res.json.result.protocolVersion).to.equal(protocolVersion);
  const id = res.headers.get('mcp-session-id')!;
  expect((await post(`${base}/mcp`, notification('notifications/initialized'), { 'mcp-session-id': id, ...headers })).status).to.equal(202);
  return id;
}

describe('mcp-bridge JSON-RPC batches', function () {
  this.timeout(20_000);
  let gateway: TestGateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-batches-'));
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] }, overrides: { plugin_dirs: [ACL_PLUGINS] } });
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('on a 2025-03-26 session', () => {
    let base: string;
    let session: string;
    const on = () => ({ 'mcp-session-id': session });

    before(async () => {
      // The fault fixture says nothing unasked, so the form of each reply is deterministic.
      base = await bridgeRoute(gateway, 'batch-fixture', [FAULT_SERVER], { max_batch_messages: 4 });
      session = await sessionOn(base, '2025-03-26');
    });

    after(async () => {
      await endRawSession(base, session);
    });

    it('answers a batch of requests with a JSON array of responses, in order', async () => {
      const res = await post(`${base}/mcp`, [{ jsonrpc: '2.0', id: 'p', method: 'ping' }, call(7, 'echo', { text: 'batched' }), notification()], on());
      expect(res.status, res.text).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/json/);
      expect(res.json).to.be.an('array').with.length(2);
      expect(res.json.map((r: { id: unknown }) => r.id)).to.deep.equal(['p', 7]);
      expect(res.json[0].result).to.deep.equal({});
      expect(textOf(res.json[1].result)).to.equal('batched');
    });

    it('works with an SDK server (server-everything) behind it: every request answered', async () => {
      const everything = await bridgeRoute(gateway, 'batch-everything', [EVERYTHING_SERVER, 'stdio']);
      const id = await sessionOn(everything, '2025-03-26');
      try {
        const res = await fetch(`${everything}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': id },
          body: JSON.stringify([{ jsonrpc: '2.0', id: 'p', method: 'ping' }, call(7, 'echo', { message: 'batched' }), { jsonrpc: '2.0', id: 'l', method: 'tools/list' }]),
        });
        // JSON, or SSE when the server's own list_changed notification happens to come first.
        const answers = res.headers.get('content-type')!.startsWith('application/json')
          ? ((await res.json()) as Array<{ id: unknown; result?: unknown }>)
          : (await readEvents(res, () => false)).filter((e) => e.data).map((e) => JSON.parse(e.data) as { id: unknown; result?: unknown });
        const byId = new Map(answers.filter((a) => a.id !== undefined).map((a) => [a.id, a.result]));
        expect([...byId.keys()].sort()).to.deep.equal([7, 'l', 'p'].sort());
        expect(textOf(byId.get(7))).to.contain('batched');
        expect((byId.get('l') as { tools: unknown[] }).tools.length).to.be.greaterThan(3);
      } finally {
        await endRawSession(everything, id);
      }
    });

    it('answers a batch of notifications only with 202 and no body', async () => {
      const res = await post(`${base}/mcp`, [notification(), notification()], on());
      expect(res.status).to.equal(202);
      expect(res.text).to.equal('');
    });

    it('turns the reply into one SSE stream when progress comes first, and ends it after the last response', async () => {
      const slow = { ...call(9, 'slow'), params: { name: 'slow', arguments: { ms: 300, steps: 3 }, _meta: { progressToken: 'tok' } } };
      const res = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...on() },
        body: JSON.stringify([call(8, 'echo', { text: 'first' }), slow]),
      });
      expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
      const events = await readEvents(res, () => false, 10_000);
      const messages = events.filter((e) => e.data).map((e) => JSON.parse(e.data) as { id?: unknown; method?: string });
      expect(messages.filter((m) => m.method === 'notifications/progress').length).to.be.greaterThan(0);
      expect(messages.filter((m) => m.id !== undefined).map((m) => m.id).sort()).to.deep.equal([8, 9]);
    });

    const refused: Array<[string, unknown, string]> = [
      ['an empty batch', [], 'an empty batch'],
      ['a batch with an invalid message', [{ jsonrpc: '2.0', id: 1, method: 'ping' }, { id: 2 }], 'batch message 1: jsonrpc must be "2.0"'],
      ['a nested batch', [[{ jsonrpc: '2.0', id: 1, method: 'ping' }]], 'batch message 0: a batch cannot nest'],
      ['a batch with initialize', [init('2025-03-26')], 'initialize must not be part of a JSON-RPC batch'],
      ['a batch with a repeated id', [{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 1, method: 'ping' }], 'request id 1 is already in flight'],
      ['a batch over max_batch_messages', Array.from({ length: 5 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })), 'at most 4 (max_batch_messages)'],
    ];
    for (const [what, body, message] of refused) {
      it(`refuses ${what} with 400 and -32600`, async () => {
        const res = await post(`${base}/mcp`, body, on());
        expect(res.status, res.text).to.equal(400);
        expect(res.json.id).to.equal(null);
        expect(res.json.error.code).to.equal(-32600);
        expect(res.json.error.message).to.contain(message);
      });
    }
  });

  describe('on later protocol versions', () => {
    for (const version of ['2025-06-18', '2025-11-25']) {
      it(`${version}: 400, -32600, saying that only 2025-03-26 has batches`, async () => {
        const base = await bridgeRoute(gateway, `batch-${version}`, [FAULT_SERVER]);
        const session = await sessionOn(base, version, { 'mcp-protocol-version': version });
        try {
          const res = await post(`${base}/mcp`, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': session, 'mcp-protocol-version': version });
          expect(res.status).to.equal(400);
          expect(res.json.error.code).to.equal(-32600);
          expect(res.json.error.message).to.equal(
            `Invalid Request: JSON-RPC batches are not part of protocol version ${version} (only 2025-03-26 has them); send one message per request`,
          );
        } finally {
          await endRawSession(base, session);
        }
      });
    }
  });

  describe('legacy SSE', () => {
    /** A raw legacy session: the stream, the POST URL, and a reader of its next messages. */
    async function legacy(base: string, protocolVersion: string) {
      const controller = new AbortController();
      const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' }, signal: controller.signal });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      const next = async (): Promise<{ event: string; data: string }> => {
        for (;;) {
          const end = buffer.indexOf('\n\n');
          if (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (data !== undefined) return { event, data };
            continue;
          }
          const chunk = await reader.read();
          if (chunk.done) throw new Error('stream ended');
          buffer += decoder.decode(chunk.value, { stream: true });
        }
      };
      const endpoint = await next();
      expect(endpoint.event).to.equal('endpoint');
      const url = new URL(endpoint.data, base).href;
      expect((await post(url, init(protocolVersion))).status).to.equal(202);
      expect(JSON.parse((await next()).data).result.protocolVersion).to.equal(protocolVersion);
      return { url, next, close: () => controller.abort() };
    }

    it('2025-03-26: 202, and each response on the stream', async () => {
      const base = await bridgeRoute(gateway, 'batch-sse', [FAULT_SERVER]);
      const stream = await legacy(base, '2025-03-26');
      try {
        const res = await post(stream.url, [call(1, 'echo', { text: 'a' }), notification(), call(2, 'echo', { text: 'b' })]);
        expect(res.status).to.equal(202);
        const answers = [JSON.parse((await stream.next()).data), JSON.parse((await stream.next()).data)];
        expect(answers.map((a) => textOf(a.result)).sort()).to.deep.equal(['a', 'b']);
      } finally {
        stream.close();
      }
    });

    it('2024-11-05: 400, -32600 (that revision had no batches)', async () => {
      const base = await bridgeRoute(gateway, 'batch-sse-old', [FAULT_SERVER]);
      const stream = await legacy(base, '2024-11-05');
      try {
        const res = await post(stream.url, [call(1, 'echo', { text: 'a' })]);
        expect(res.status).to.equal(400);
        expect(res.json.error.message).to.contain('not part of protocol version 2024-11-05');
      } finally {
        stream.close();
      }
    });
  });

  describe('limits and access rules see every call in a batch', () => {
    it('a per-tool limit counts each tools/call of a batch; a batch over it is refused whole and reaches no server', async () => {
      const stdin = join(dir, 'limit.log');
      const base = await bridgeRoute(gateway, 'batch-limit', [FAULT_SERVER, `--record-stdin=${stdin}`], {}, {
        plugins: { 'limit-count': { count: 3, time_window: 60, key_type: 'var', key: 'mcp_tool', rejected_code: 429 } },
      });
      // initialize, initialized: under the tool key they fall back to the client address, another counter.
      const session = await sessionOn(base, '2025-03-26');
      const on = { 'mcp-session-id': session };
      try {
        const three = await post(`${base}/mcp`, [call(1, 'echo', { text: 'one' }), call(2, 'echo', { text: 'two' }), call(3, 'echo', { text: 'three' })], on);
        expect(three.json.map((r: { result: unknown }) => textOf(r.result))).to.deep.equal(['one', 'two', 'three']);
        // The batch spent the three calls of "echo" this window allows.
        const fourth = await post(`${base}/mcp`, call(4, 'echo', { text: 'four' }), on);
        expect(fourth.json.error?.data).to.include({ status: 429, code: 'GW_RATE_LIMITED' });
        const over = await post(`${base}/mcp`, [call(5, 'fail', { text: 'other tool' }), call(6, 'echo', { text: 'hidden' })], on);
        expect(over.status).to.equal(200);
        expect(over.json.map((r: { id: unknown }) => r.id)).to.deep.equal([5, 6]);
        for (const answer of over.json) expect(answer.error.data).to.include({ status: 429, code: 'GW_RATE_LIMITED' });
        // Another tool has its own counter.
        expect(textOf((await post(`${base}/mcp`, call(7, 'fail', { text: 'alone' }), on)).json.result)).to.equal('alone');
        const calls = readFileSync(stdin, 'utf8').split('\n').filter((l) => l.includes('tools/call'));
        expect(calls).to.have.length(4);
        expect(calls.join('\n')).to.not.contain('hidden').and.not.contain('other tool').and.not.contain('four');
      } finally {
        await endRawSession(base, session);
      }
    });

    it('an access list (examples/plugins/mcp-tool-acl) refuses a batch that hides a forbidden tool', async () => {
      const stdin = join(dir, 'acl.log');
      const base = await bridgeRoute(gateway, 'batch-acl', [FAULT_SERVER, `--record-stdin=${stdin}`], {}, { plugins: { 'mcp-tool-acl': { allow: ['echo'] } } });
      const session = await sessionOn(base, '2025-03-26');
      const on = { 'mcp-session-id': session };
      try {
        const allowed = await post(`${base}/mcp`, [call(1, 'echo', { text: 'fine' })], on);
        expect(textOf(allowed.json[0].result)).to.equal('fine');
        const hidden = await post(`${base}/mcp`, [call(2, 'echo', { text: 'cover' }), call(3, 'env')], on);
        expect(hidden.status).to.equal(403);
        expect(hidden.text).to.contain('tool \\"env\\" is not allowed');
        const lines = readFileSync(stdin, 'utf8');
        expect(lines).to.not.contain('"env"').and.not.contain('cover');
      } finally {
        await endRawSession(base, session);
      }
    });

    it('limit-conn holds a slot per call of a batch and releases them all', async () => {
      const base = await bridgeRoute(gateway, 'batch-conn', [FAULT_SERVER], {}, {
        plugins: { 'limit-conn': { conn: 2, burst: 0, default_conn_delay: 0.1, key_type: 'var', key: 'route_id', rejected_code: 429 } },
      });
      const session = await sessionOn(base, '2025-03-26');
      const on = { 'mcp-session-id': session };
      try {
        for (let round = 0; round < 3; round++) {
          const res = await post(`${base}/mcp`, [call(`a${round}`, 'echo', { text: 'x' }), call(`b${round}`, 'echo', { text: 'y' })], on);
          expect(res.json.map((r: { result?: unknown }) => textOf(r.result)), `round ${round}`).to.deep.equal(['x', 'y']);
        }
        const three = await read(
          await fetch(`${base}/mcp`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...on },
            body: JSON.stringify([call('c1', 'echo'), call('c2', 'echo'), call('c3', 'echo')]),
          }),
        );
        expect(three.json.map((r: { error?: { data?: { status?: number } } }) => r.error?.data?.status)).to.deep.equal([429, 429, 429]);
      } finally {
        await endRawSession(base, session);
      }
    });
  });
});
