/**
 * `process_mode: shared` (issue 16, slice 2): 2025-era sessions multiplexed over a pool of
 * children. Fifty SDK clients over two children, every client's ids starting at 0 so they all
 * collide at the children's door, each with progress and a cancellation: every client sees only
 * its own answers and progress, and the children see unique ids. A child that crashes fails the
 * request in flight on it; the other sessions carry on, and a replacement starts.
 */
import { LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, INIT, bridgeRoute, connect, descendants, endRawSession, post, rawSession, recordedStdin, startBridgeGateway, textOf, waitFor, type Connected } from './support.js';

describe('mcp-bridge process_mode shared', function () {
  this.timeout(60_000);
  let gateway: TestGateway;
  let base: string;
  let dir: string;
  let stdinLog: string;
  const servers = () => descendants().filter((p) => p.command.includes('fault-server.mjs'));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-shared-'));
    stdinLog = join(dir, 'stdin.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'], max_children: 4 } });
    base = await bridgeRoute(gateway, 'shared', [FAULT_SERVER, `--record-stdin=${stdinLog}`], { process_mode: 'shared', shared_children: 2 });
  });

  afterEach(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const received = () => recordedStdin(stdinLog);
  /** Has the session's child crash; the error the client got. */
  const crashChild = (session: Connected) =>
    session.client.callTool({ name: 'crash' }).then(
      () => undefined,
      (err: Error) => err.message,
    );
  /** `back` once the session is served again; undefined while it is not. */
  const echoBack = (session: Connected) => session.client.callTool({ name: 'echo', arguments: { text: 'back' } }).then(textOf, () => undefined);

  it('carries 50 sessions on 2 children: colliding ids, progress and cancellation stay with their own session', async () => {
    const sessions: Connected[] = [];
    try {
      for (let i = 0; i < 50; i += 10) sessions.push(...(await Promise.all(Array.from({ length: 10 }, () => connect(base, 'streamable-http')))));
      expect(servers()).to.have.length(2);
      const results = await Promise.all(
        sessions.map(async (s, i) => {
          const progress: number[] = [];
          const abort = new AbortController();
          const hung = s.client.callTool({ name: 'hang' }, undefined, { signal: abort.signal }).then(
            () => 'answered',
            (err: Error) => `${err.name}: ${err.message}`,
          );
          const [echo, slow] = await Promise.all([
            s.client.callTool({ name: 'echo', arguments: { text: `session ${i}` } }),
            s.client.callTool({ name: 'slow', arguments: { ms: 150, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) }),
          ]);
          abort.abort();
          return { echo: textOf(echo), slow: textOf(slow), progress, hung: await hung };
        }),
      );
      results.forEach((r, i) => {
        expect(r.echo).to.equal(`session ${i}`);
        expect(r.slow).to.equal('slow done');
        expect(r.progress).to.deep.equal([1, 2, 3]);
        expect(r.hung).to.contain('AbortError');
      });
      const messages = received();
      const calls = messages.filter((m) => m.method === 'tools/call');
      expect(calls).to.have.length(150);
      expect(new Set(calls.map((m) => m.id)).size).to.equal(150);
      // Two initializes: one per child; the sessions' were answered from the cached result.
      expect(messages.filter((m) => m.method === 'initialize')).to.have.length(2);
      const hangIds = new Set(calls.filter((m) => m.params.name === 'hang').map((m) => m.id));
      expect(await waitFor(() => received().filter((m) => m.method === 'notifications/cancelled' && hangIds.has(m.params.requestId)).length === 50, 5000)).to.equal(true);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });

  it('sends what a child says outside any answer (logging, list_changed) to the one session whose request it came during, never to every session', async () => {
    const single = await bridgeRoute(gateway, 'single', [FAULT_SERVER], { process_mode: 'shared', shared_children: 1 });
    const [a, b] = await Promise.all([connect(single, 'streamable-http'), connect(single, 'streamable-http')]);
    const heard = { a: [] as string[], b: [] as string[] };
    for (const [name, session] of [['a', a], ['b', b]] as const) {
      session.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void heard[name].push(String(n.params.data)));
      session.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void heard[name].push('tools changed'));
    }
    try {
      expect(servers().filter((p) => !p.command.includes('record-stdin'))).to.have.length(1);
      expect(textOf(await a.client.callTool({ name: 'notify', arguments: { text: 'for a' } }))).to.equal('notified for a');
      expect(await waitFor(() => heard.a.length === 1, 5000)).to.equal(true);
      expect(textOf(await b.client.callTool({ name: 'list_changed' }))).to.equal('changed');
      expect(await waitFor(() => heard.b.length === 1, 5000)).to.equal(true);
      expect(textOf(await b.client.callTool({ name: 'notify', arguments: { text: 'for b' } }))).to.equal('notified for b');
      expect(await waitFor(() => heard.b.length === 2, 5000)).to.equal(true);
      // A round trip on a's side after b's notifications went out: a broadcast would be in by now.
      expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'sync' } }))).to.equal('sync');
      expect(heard.a).to.have.length(1);
      expect(heard.a[0]).to.match(/: for a$/);
      expect(heard.b[0]).to.equal('tools changed');
      expect(heard.b[1]).to.match(/: for b$/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('serves MCP 2026-07-28 requests over the same shared children as the sessions: colliding ids, each its own answer', async () => {
    const legacy = await connect(base, 'streamable-http');
    try {
      const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
      const modern = (text: string) =>
        post(
          `${base}/mcp`,
          { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: meta } },
          { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
        );
      const [answers, own] = await Promise.all([
        Promise.all(Array.from({ length: 10 }, (_, i) => modern(`modern ${i}`))),
        legacy.client.callTool({ name: 'echo', arguments: { text: 'legacy' } }),
      ]);
      answers.forEach((res, i) => {
        expect(res.json?.id, res.text).to.equal(1);
        expect(textOf(res.json.result)).to.equal(`modern ${i}`);
      });
      expect(textOf(own)).to.equal('legacy');
      expect(servers(), 'no child besides the shared ones').to.have.length(2);
      const ids = received().filter((m) => m.method === 'tools/call').map((m) => m.id);
      expect(new Set(ids).size).to.equal(ids.length);
    } finally {
      await legacy.close();
    }
  });

  it('fails only the request on a crashed child, and starts a replacement', async () => {
    const [a, b] = await Promise.all([connect(base, 'streamable-http'), connect(base, 'streamable-http')]);
    try {
      const before = servers().map((p) => p.pid);
      expect(before).to.have.length(2);
      const crashed = await a.client.callTool({ name: 'crash' }).then(
        () => undefined,
        (err: Error) => err.message,
      );
      expect(crashed).to.contain('the MCP server exited');
      expect(await waitFor(() => servers().length === 2 && servers().some((p) => !before.includes(p.pid)), 5000), 'a replacement child').to.equal(true);
      expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).to.equal('still here');
      expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'me too' } }))).to.equal('me too');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('keeps replacing a crashed child, waiting longer while replacements fail to start, until one runs: its sessions carry on', async () => {
    const gate = join(dir, 'broken');
    const flaky = await bridgeRoute(gateway, 'flaky', [FAULT_SERVER, `--exit-at-start-if=${gate}`], { process_mode: 'shared', shared_children: 1 });
    const delays = () =>
      gateway.logs
        .map((line) => JSON.parse(line) as { msg?: string; delay_ms?: number })
        .filter((entry) => entry.msg?.includes('starting a replacement'))
        .map((entry) => entry.delay_ms);
    const session = await connect(flaky, 'streamable-http');
    try {
      writeFileSync(gate, '');
      const crashed = await crashChild(session);
      expect(crashed).to.contain('the MCP server exited');
      expect(await waitFor(() => delays().length >= 3, 10_000), 'replacements were tried again').to.equal(true);
      expect(delays().slice(0, 3)).to.deep.equal([100, 200, 400]);
      rmSync(gate);
      const echo = () => echoBack(session);
      expect(await waitFor(async () => (await echo()) === 'back', 15_000, 200), 'the session is served again without reconnecting').to.equal(true);
    } finally {
      await session.close();
    }
  });

  it('stops a replacement child that refuses to initialize and tries again until one does: no child is left running unready, its sessions carry on', async () => {
    const gate = join(dir, 'refusing');
    const refusing = await bridgeRoute(gateway, 'refusing', [FAULT_SERVER, `--refuse-init-if=${gate}`], { process_mode: 'shared', shared_children: 1 });
    const mine = () => servers().filter((p) => p.command.includes('--refuse-init-if'));
    const replacements = () => gateway.logs.filter((line) => line.includes('starting a replacement')).length;
    const session = await connect(refusing, 'streamable-http');
    try {
      writeFileSync(gate, '');
      const crashed = await crashChild(session);
      expect(crashed).to.contain('the MCP server exited');
      expect(await waitFor(() => replacements() >= 3, 10_000), 'a refused replacement is tried again').to.equal(true);
      expect(mine().length, 'refused children are stopped, not kept').to.be.at.most(1);
      rmSync(gate);
      const echo = () => echoBack(session);
      expect(await waitFor(async () => (await echo()) === 'back', 15_000, 200), 'the session is served again without reconnecting').to.equal(true);
      expect(mine()).to.have.length(1);
    } finally {
      await session.close();
    }
  });

  it('waits longer between replacements of a child that exits right after initialize, instead of restarting it every 0.1 s', async () => {
    const dying = await bridgeRoute(gateway, 'dying', [FAULT_SERVER, '--crash-after=2'], { process_mode: 'shared', shared_children: 1 });
    const delays = () =>
      gateway.logs
        .map((line) => JSON.parse(line) as { msg?: string; delay_ms?: number; route?: string })
        .filter((entry) => entry.msg?.includes('starting a replacement') && entry.route === 'dying')
        .map((entry) => entry.delay_ms);
    const res = await post(`${dying}/mcp`, INIT);
    expect(res.status, res.text).to.equal(200);
    expect(await waitFor(() => delays().length >= 4, 15_000), 'replacements were tried').to.equal(true);
    expect(delays().slice(0, 4)).to.deep.equal([100, 200, 400, 800]);
  });

  it('stops a shared child that never answers initialize once init_timeout passes, and the next session tries again', async () => {
    const silent = await bridgeRoute(gateway, 'silent', [FAULT_SERVER, '--no-init'], { process_mode: 'shared', shared_children: 1, init_timeout: 1 });
    const mine = () => servers().filter((p) => p.command.includes('--no-init'));
    for (const attempt of [1, 2]) {
      const res = await post(`${silent}/mcp`, { ...INIT, id: attempt });
      expect(res.headers.get('mcp-session-id'), `attempt ${attempt}: ${res.text}`).to.equal(null);
      expect(await waitFor(() => mine().length === 0, 10_000), `attempt ${attempt}: the silent child is stopped`).to.equal(true);
    }
  });

  it('answers initialize with the cause when the shared children cannot start, and tries again for the next session', async () => {
    const broken = await bridgeRoute(gateway, 'broken', [FAULT_SERVER, '--exit-at-start=3'], { process_mode: 'shared' });
    for (const attempt of [1, 2]) {
      const res = await post(`${broken}/mcp`, { ...INIT, id: attempt });
      expect(res.text, `attempt ${attempt}`).to.contain('exited');
      expect(res.headers.get('mcp-session-id')).to.equal(null);
    }
    // The gateway serves the healthy route meanwhile.
    const ok = await connect(base, 'streamable-http');
    try {
      expect(textOf(await ok.client.callTool({ name: 'echo', arguments: { text: 'fine' } }))).to.equal('fine');
    } finally {
      await ok.close();
    }
  });
});

describe('mcp-bridge process_mode shared with prewarm, at mcp.max_children', function () {
  this.timeout(30_000);
  let gateway: TestGateway;

  after(async () => {
    await gateway?.stop();
  });

  it('starts its children into free slots only: an idle session of another route is not ended for them', async () => {
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'], max_children: 1 } });
    // Reclaimable at once (a raw session holds no stream open): a new session of any route would end it to make room.
    const other = await bridgeRoute(gateway, 'other', [FAULT_SERVER], { session_reclaim_idle: 0 });
    const id = await rawSession(other);
    const echo = (text: string) => post(`${other}/mcp`, { jsonrpc: '2.0', id: text, method: 'tools/call', params: { name: 'echo', arguments: { text } } }, { 'mcp-session-id': id });
    try {
      expect((await echo('before')).text).to.contain('before');
      await bridgeRoute(gateway, 'warm-shared', [FAULT_SERVER], { process_mode: 'shared', shared_children: 1, prewarm: 1 });
      expect(await waitFor(() => gateway.logs.some((line) => line.includes('prewarming the shared MCP servers failed')), 5000)).to.equal(true);
      const after = await echo('after');
      expect(after.status, after.text).to.equal(200);
      expect(after.text).to.contain('after');
    } finally {
      await endRawSession(other, id);
    }
  });
});
