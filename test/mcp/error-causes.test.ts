/**
 * Failures reach MCP clients with their cause (issue 10, item 19c): the JSON-RPC error's message
 * says what happened (exit code or signal, spawn errno, init timeout, which cap) and `data` says it
 * as fields, on both transports, where clients used to read only "Bad Gateway", "Gateway Timeout"
 * or "Service Unavailable". Never a secret: no env value, no argument.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import {
  FAULT_SERVER,
  INIT,
  TRANSPORTS,
  bridgeRoute,
  connect,
  descendants,
  endRawSession,
  post,
  rawSession,
  read,
  readEvents,
  startBridgeGateway,
  waitFor,
} from './support.js';

const SECRET_ENV = 'sekret-env-value';
const SECRET_ARG = '--token=sekret-arg-value';

describe('mcp-bridge error causes', function () {
  this.timeout(20_000);
  let gateway: TestGateway;

  before(async () => {
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node', 'tollgate-no-such-command'] } });
  });

  after(async () => {
    await gateway?.stop();
  });

  const secretArgs = (...flags: string[]) => [FAULT_SERVER, ...flags, SECRET_ARG];
  const secretEnv = { env: { API_TOKEN: SECRET_ENV } };
  const expectNoSecret = (text: string) => expect(text).to.not.contain('sekret');

  /** What a legacy SSE client reads before its stream ends (or the answer to its GET). */
  async function sseOpening(base: string): Promise<{ status: number; text: string; json: any }> {
    const res = await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' } });
    if (res.status !== 200) return read(res);
    const events = await readEvents(res, () => false, 5000);
    return { status: 200, text: JSON.stringify(events), json: events };
  }

  describe('a child that cannot start', () => {
    it('streamable-http: 502 whose JSON-RPC error names the spawn error', async () => {
      const res = await gateway.admin('PUT', '/routes/cause-enoent', {
        uri: '/cause-enoent/*',
        plugins: { 'mcp-bridge': { base_uri: '/cause-enoent', command: 'tollgate-no-such-command', args: [SECRET_ARG], ...secretEnv } },
      });
      expect(res.status).to.equal(201);
      const init = await post(`${gateway.url}/cause-enoent/mcp`, INIT);
      expect(init.status).to.equal(502);
      expect(init.json.error.message).to.equal('the MCP server could not be started: ENOENT (command not found)');
      expect(init.json.error.data).to.include({ code: 'GW_MCP_CHILD_UNAVAILABLE', status: 502, reason: 'spawn_failed', errno: 'ENOENT' });
      expect(init.json.error.data.request_id).to.be.a('string');
      expectNoSecret(init.text);
    });

    it('sse: the GET gets the same 502', async () => {
      const res = await sseOpening(`${gateway.url}/cause-enoent`);
      expect(res.status).to.equal(502);
      expect(res.json.error.message).to.equal('the MCP server could not be started: ENOENT (command not found)');
      expectNoSecret(res.text);
    });

    it('an SDK client sees the cause in the error it throws', async () => {
      const error = await connect(`${gateway.url}/cause-enoent`, 'streamable-http').then(
        () => undefined,
        (err: Error) => err,
      );
      expect(error?.message).to.contain('could not be started: ENOENT');
    });
  });

  describe('a child that exits', () => {
    it('before initialize is answered: 502 naming the exit code', async () => {
      const base = await bridgeRoute(gateway, 'cause-exit', secretArgs('--exit-at-start=7'), secretEnv);
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(502);
      expect(res.json.error.message).to.equal('the MCP server exited with code 7');
      expect(res.json.error.data).to.include({ code: 'GW_MCP_CHILD_UNAVAILABLE', reason: 'exited', exit_code: 7 });
      expectNoSecret(res.text);
    });

    for (const transport of TRANSPORTS) {
      it(`${transport}: mid-request, the call's error names the exit code`, async () => {
        const base = await bridgeRoute(gateway, `cause-crash-${transport}`, secretArgs(), secretEnv);
        const session = await connect(base, transport);
        try {
          const error = await session.client.callTool({ name: 'crash', arguments: {} }).then(
            () => undefined,
            (err: Error & { data?: unknown }) => err,
          );
          expect(error?.message).to.contain('MCP session ended: the MCP server exited with code 1');
          expect(error?.data).to.deep.include({ reason: 'exited', exit_code: 1, signal: null });
          expectNoSecret(JSON.stringify({ message: error?.message, data: error?.data }));
        } finally {
          await session.close().catch(() => undefined);
        }
      });

      it(`${transport}: killed by a signal, the error names the signal`, async () => {
        const base = await bridgeRoute(gateway, `cause-signal-${transport}`, secretArgs(), secretEnv);
        const session = await connect(base, transport);
        try {
          const call = session.client.callTool({ name: 'hang', arguments: {} }).then(
            () => undefined,
            (err: Error & { data?: unknown }) => err,
          );
          const child = descendants().find((p) => p.command.includes(SECRET_ARG) && p.command.includes('fault-server.mjs'));
          expect(child).to.not.equal(undefined);
          process.kill(child!.pid, 'SIGKILL');
          const error = await call;
          expect(error?.message).to.contain('MCP session ended: the MCP server was killed by SIGKILL');
          expect(error?.data).to.deep.include({ reason: 'exited', exit_code: null, signal: 'SIGKILL' });
        } finally {
          await session.close().catch(() => undefined);
        }
      });
    }
  });

  describe('init timeout', () => {
    it('streamable-http: 504 naming init_timeout', async () => {
      const base = await bridgeRoute(gateway, 'cause-no-init', secretArgs('--no-init'), { init_timeout: 0.3 });
      const res = await post(`${base}/mcp`, INIT);
      expect(res.status).to.equal(504);
      expect(res.json.error.message).to.equal('the MCP server did not answer initialize within init_timeout (0.3 s)');
      expect(res.json.error.data).to.include({ code: 'GW_MCP_INIT_TIMEOUT', status: 504, reason: 'init_timeout', init_timeout: 0.3 });
    });

    it('sse: the initialize error on the stream names the timeout', async () => {
      const base = await bridgeRoute(gateway, 'cause-no-init-sse', secretArgs('--no-init'), { init_timeout: 0.3 });
      const error = await connect(base, 'sse').then(
        (c) => c.close(),
        (err: Error) => err,
      );
      expect(error?.message).to.contain('timed out after 0.3 s');
    });
  });

  describe('a full start queue', () => {
    let queued: TestGateway;

    before(async () => {
      queued = await startBridgeGateway({ mcp: { allowed_commands: ['node'], start_concurrency: 1, start_queue: 0 } });
    });

    after(async () => {
      await queued?.stop();
    });

    it('503 names mcp.start_queue, on both transports', async () => {
      const res = await queued.admin('PUT', '/routes/slow-start', {
        uri: '/slow-start/*',
        plugins: { 'mcp-bridge': { base_uri: '/slow-start', command: 'node', args: [FAULT_SERVER, '--no-init'], init_timeout: 2 } },
      });
      expect(res.status).to.equal(201);
      const base = `${queued.url}/slow-start`;
      // The first start holds the one start slot until it answers initialize (never) or times out.
      const first = post(`${base}/mcp`, INIT);
      expect(await waitFor(() => descendants().some((p) => p.command.includes('--no-init')), 5000)).to.equal(true);
      const second = await post(`${base}/mcp`, INIT);
      expect(second.status).to.equal(503);
      expect(second.json.error.message).to.contain('waiting to start (mcp.start_queue)');
      expect(second.json.error.data).to.include({ code: 'GW_MCP_START_QUEUE_FULL', status: 503 });
      const sse = await sseOpening(base);
      expect(sse.status).to.equal(503);
      expect(sse.json.error.message).to.contain('(mcp.start_queue)');
      expect((await first).status).to.equal(504);
    });
  });

  describe('caps', () => {
    it('503 names the cap that was reached, on both transports', async () => {
      const base = await bridgeRoute(gateway, 'cause-cap', [FAULT_SERVER], { max_sessions: 1 });
      const first = await rawSession(base);
      try {
        const second = await post(`${base}/mcp`, INIT);
        expect(second.status).to.equal(503);
        expect(second.json.error.message).to.equal('this route already has 1 sessions (max_sessions)');
        expect(second.json.error.data).to.include({ code: 'GW_MCP_TOO_MANY_SESSIONS', status: 503 });
        const sse = await sseOpening(base);
        expect(sse.status).to.equal(503);
        expect(sse.json.error.message).to.equal('this route already has 1 sessions (max_sessions)');
      } finally {
        await endRawSession(base, first);
      }
      expect(await waitFor(() => !descendants().some((p) => p.command.includes('fault-server.mjs')), 5000)).to.equal(true);
    });
  });
});
