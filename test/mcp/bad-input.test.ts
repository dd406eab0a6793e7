/**
 * Bad input on the MCP endpoints (faults checklist B-24, B-25, B-26, B-28): every malformed,
 * oversized, misdirected or foreign request gets its status and a JSON-RPC error body, and none
 * of it reaches the child (a fixture records every line it reads).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { FAULT_SERVER, INIT, bridgeRoute, endRawSession, post, rawSession, read, startBridgeGateway, textOf } from './support.js';

describe('mcp-bridge bad input', function () {
  this.timeout(20_000);
  let gateway: TestGateway;
  let base: string;
  let dir: string;
  let stdinFile: string;
  let session: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-bad-input-'));
    stdinFile = join(dir, 'stdin.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] } });
    base = await bridgeRoute(gateway, 'bad', [FAULT_SERVER, `--record-stdin=${stdinFile}`], { max_message_bytes: 65536 });
    session = await rawSession(base);
  });

  after(async () => {
    await endRawSession(base, session);
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const recorded = () => readFileSync(stdinFile, 'utf8').split('\n').filter(Boolean);
  const onSession = (headers: Record<string, string> = {}) => ({ 'mcp-session-id': session, ...headers });

  describe('JSON-RPC', () => {
    it('answers a body that is not JSON with 400 and -32700, id null', async () => {
      const res = await post(`${base}/mcp`, '{"jsonrpc": "2.0", "id": 1, "method": ', onSession());
      expect(res.status).to.equal(400);
      expect(res.json).to.deep.include({ jsonrpc: '2.0', id: null });
      expect(res.json.error.code).to.equal(-32700);
    });

    const invalid: Array<[string, unknown]> = [
      ['no "jsonrpc": "2.0"', { id: 1, method: 'ping' }],
      ['a null id', { jsonrpc: '2.0', id: null, method: 'ping' }],
      ['an object id', { jsonrpc: '2.0', id: {}, method: 'ping' }],
      ['a method that is not a string', { jsonrpc: '2.0', id: 1, method: 42 }],
      ['a batch', [{ jsonrpc: '2.0', id: 1, method: 'ping' }]],
      ['neither request, notification nor response', { jsonrpc: '2.0', id: 1 }],
    ];
    for (const [what, body] of invalid) {
      it(`answers ${what} with 400 and -32600`, async () => {
        const res = await post(`${base}/mcp`, body, onSession());
        expect(res.status).to.equal(400);
        expect(res.json.id).to.equal(null);
        expect(res.json.error.code).to.equal(-32600);
      });
    }

    describe('a body over max_message_bytes', () => {
      const big = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(70_000) } } };
      const expectJsonRpc413 = (res: { status: number; json: any; text: string }) => {
        expect(res.status, res.text).to.equal(413);
        expect(res.json, res.text).to.deep.include({ jsonrpc: '2.0', id: null });
        expect(res.json.error.code).to.equal(-32600);
        expect(res.json.error.message).to.equal('request body is larger than max_message_bytes (65536 bytes)');
        expect(res.json.error.data).to.include({ code: 'GW_BODY_TOO_LARGE', limit: 65536 });
      };

      it('gets 413 with a JSON-RPC error naming the limit, on both transports', async () => {
        expectJsonRpc413(await post(`${base}/mcp`, big, onSession()));
        expectJsonRpc413(await post(`${base}/message?sessionId=whatever`, big));
      });

      it('gets the same when it is sent chunked, without a Content-Length', async () => {
        const bytes = new TextEncoder().encode(JSON.stringify(big));
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.subarray(i, i + 8192));
            controller.close();
          },
        });
        const res = await fetch(`${base}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...onSession() },
          body,
          duplex: 'half',
        } as RequestInit);
        expectJsonRpc413(await read(res));
      });

      it('closes the connection after answering, as for any refused upload', async () => {
        const res = await post(`${base}/mcp`, { ...big, params: { name: 'echo', arguments: { text: 'y'.repeat(4 << 20) } } }, onSession());
        expectJsonRpc413(res);
        expect(res.headers.get('connection')).to.equal('close');
      });
    });

    it('passes a tool argument holding newlines and a forged message as one line of data', async () => {
      const forged = `a\n{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"crash"}}\r\n; rm -rf ~/x $(id)`;
      const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: forged } } }, onSession());
      expect(res.status).to.equal(200);
      expect(textOf(res.json.result)).to.equal(forged);
      const lines = recorded().filter((l) => l.includes('rm -rf'));
      expect(lines).to.have.length(1);
      expect(JSON.parse(lines[0]).params.arguments.text).to.equal(forged);
    });

    it('re-serializes a pretty-printed body into one line for the child', async () => {
      const pretty = JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'echo', arguments: { text: 'pretty' } } }, null, 2);
      const res = await post(`${base}/mcp`, pretty, onSession());
      expect(textOf(res.json.result)).to.equal('pretty');
      expect(recorded().filter((l) => l.includes('"pretty"'))).to.have.length(1);
    });
  });

  describe('HTTP', () => {
    it('answers a Content-Type other than application/json with 415', async () => {
      const res = await post(`${base}/mcp`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }), onSession({ 'content-type': 'text/plain' }));
      expect(res.status).to.equal(415);
      expect(res.json.error).to.be.an('object');
    });

    it('answers an Accept without text/event-stream with 406', async () => {
      const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, onSession({ accept: 'application/json' }));
      expect(res.status).to.equal(406);
    });

    it('answers an unsupported MCP-Protocol-Version with 400', async () => {
      const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, onSession({ 'mcp-protocol-version': '1999-01-01' }));
      expect(res.status).to.equal(400);
      expect(res.json.id).to.equal(1);
      expect(res.json.error).to.deep.include({ code: -32022, message: 'Unsupported protocol version' });
      expect(res.json.error.data.requested).to.equal('1999-01-01');
    });

    it('answers other methods on the MCP endpoint with 405 and Allow', async () => {
      const res = await read(await fetch(`${base}/mcp`, { method: 'PUT', headers: onSession() }));
      expect(res.status).to.equal(405);
      expect(res.headers.get('allow')).to.equal('GET, POST, DELETE');
      expect((await read(await fetch(`${base}/sse`, { method: 'POST' }))).status).to.equal(405);
      expect((await read(await fetch(`${base}/message?sessionId=${session}`))).status).to.equal(405);
    });

    it('answers a path under base_uri that is no MCP endpoint with 404', async () => {
      expect((await read(await fetch(`${base}/elsewhere`))).status).to.equal(404);
    });
  });

  describe('sessions', () => {
    it('answers a request without Mcp-Session-Id with 400', async () => {
      const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
      expect(res.status).to.equal(400);
      expect(res.json.error.message).to.contain('Mcp-Session-Id');
    });

    it('answers an unknown session id with 404, on POST, GET and DELETE', async () => {
      const headers = { 'mcp-session-id': 'no-such-session' };
      expect((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, headers)).status).to.equal(404);
      expect((await read(await fetch(`${base}/mcp`, { headers: { ...headers, accept: 'text/event-stream' } }))).status).to.equal(404);
      expect((await read(await fetch(`${base}/mcp`, { method: 'DELETE', headers }))).status).to.equal(404);
    });

    it('answers initialize on an existing session with 400 and an unknown one with 404', async () => {
      expect((await post(`${base}/mcp`, INIT, onSession())).status).to.equal(400);
      expect((await post(`${base}/mcp`, INIT, { 'mcp-session-id': 'gone' })).status).to.equal(404);
    });

    it('legacy: 400 without sessionId, 404 for an unknown one', async () => {
      expect((await post(`${base}/message`, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).to.equal(400);
      expect((await post(`${base}/message?sessionId=nope`, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).to.equal(404);
    });
  });

  describe('Origin and Host (DNS rebinding)', () => {
    const evil = { origin: 'https://evil.example' };

    it('answers a foreign Origin with 403 on POST, GET and DELETE, and on the SSE endpoint', async () => {
      expect((await post(`${base}/mcp`, INIT, evil)).status).to.equal(403);
      expect((await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }, onSession(evil))).status).to.equal(403);
      expect((await read(await fetch(`${base}/mcp`, { headers: onSession({ ...evil, accept: 'text/event-stream' }) }))).status).to.equal(403);
      expect((await read(await fetch(`${base}/mcp`, { method: 'DELETE', headers: onSession(evil) }))).status).to.equal(403);
      const sse = await read(await fetch(`${base}/sse`, { headers: evil }));
      expect(sse.status).to.equal(403);
      expect(sse.json.error.message).to.equal('Origin not allowed');
    });

    it('answers a rebound Host name on a loopback connection with 403', async () => {
      const { request } = await import('undici');
      const res = await request(`${base}/mcp`, {
        method: 'POST',
        headers: { host: 'evil.example.com', origin: 'http://evil.example.com', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(INIT),
      });
      expect(res.statusCode).to.equal(403);
      await res.body.text();
    });

    it('judges an absolute-form request by the authority it names, not by its Host header', async () => {
      const { pathname, host } = new URL(`${base}/mcp`);
      const body = JSON.stringify({ jsonrpc: '2.0', id: 12, method: 'ping' });
      const raw = await rawRequest(
        base,
        `POST http://evil.example.com${pathname} HTTP/1.1\r\nHost: ${host}\r\ncontent-type: application/json\r\n` +
          `accept: application/json, text/event-stream\r\nmcp-session-id: ${session}\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      const res = parseRawResponse(raw);
      expect(res.status, raw).to.equal(403);
      expect(JSON.parse(res.body).error.message).to.equal('Host not allowed');
    });

    it('accepts the same origin and loopback origins', async () => {
      const port = new URL(base).port;
      for (const origin of [`http://127.0.0.1:${port}`, 'http://localhost:6274']) {
        const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 11, method: 'ping' }, onSession({ origin }));
        expect(res.status, origin).to.equal(200);
      }
    });

    it('accepts origins and hosts listed in allowed_origins and allowed_hosts only', async () => {
      const other = await bridgeRoute(gateway, 'listed', [FAULT_SERVER], { allowed_origins: ['https://app.example'], allowed_hosts: ['gw.example'] });
      const { request } = await import('undici');
      const send = async (host: string, origin?: string) => {
        const res = await request(`${other}/mcp`, {
          method: 'POST',
          headers: { host, ...(origin ? { origin } : {}), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify(INIT),
        });
        const text = await res.body.text();
        const sessionId = res.headers['mcp-session-id'] as string | undefined;
        if (sessionId) await request(`${other}/mcp`, { method: 'DELETE', headers: { host, 'mcp-session-id': sessionId } }).then((r) => r.body.text());
        return { status: res.statusCode, text };
      };
      expect((await send('gw.example:443', 'https://app.example')).status).to.equal(200);
      expect((await send('gw.example', 'https://other.example')).status).to.equal(403);
      expect((await send('localhost')).status).to.equal(403);
    });
  });

  // Runs after the groups above (mocha runs nested groups in order, after the parent's own tests).
  describe('the child', () => {
    it('never received any of the rejected requests', () => {
      const methods = recorded().map((l) => (JSON.parse(l) as { method?: string }).method ?? 'response');
      expect(methods).to.deep.equal(['initialize', 'notifications/initialized', 'tools/call', 'tools/call', 'ping', 'ping']);
    });
  });

  describe('Admin API', () => {
    it('refuses a command that is not on mcp.allowed_commands with 400', async () => {
      for (const command of ['bash', 'npx', '/tmp/node']) {
        const res = await gateway.admin('PUT', '/routes/not-allowed', {
          uri: '/na/*',
          plugins: { 'mcp-bridge': { base_uri: '/na', command, args: ['-c', 'id'] } },
        });
        expect(res.status, command).to.equal(400);
        expect(res.json.error_msg).to.contain('mcp.allowed_commands');
      }
    });

    it('refuses unknown fields and bad values with 400', async () => {
      for (const conf of [{ command: 'node', shell: true }, { command: 'node', base_uri: 'no-slash' }, { command: 'node', env: { 'BAD NAME': 'x' } }, {}]) {
        const res = await gateway.admin('PUT', '/routes/bad-conf', { uri: '/bc/*', plugins: { 'mcp-bridge': conf } });
        expect(res.status, JSON.stringify(conf)).to.equal(400);
      }
    });
  });
});
