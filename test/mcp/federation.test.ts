/**
 * mcp-federation end to end: `mcp_servers` (server-everything and the conformance fixture over
 * stdio, server-everything as a remote Streamable HTTP server, the fault fixture) behind one route, the real SDK client over both transports. Names are prefixed and
 * routed, lists merged and paged, lists cached until a server says they changed, ids and progress
 * tokens of several servers never collide, server→client requests (sampling, elicitation) reach
 * the client and their answers the server that asked, and a server that is down or crashes takes
 * only its own tools with it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import {
  CONFORMANCE_SERVER,
  EVERYTHING_SERVER,
  FAULT_SERVER,
  TRANSPORTS,
  connect,
  descendants,
  endRawSession,
  post,
  rawSession,
  responseOf,
  startBridgeGateway,
  startRemoteEverything,
  textOf,
  waitFor,
  type Connected,
  type RemoteServer,
} from './support.js';

async function putServer(gw: TestGateway, id: string, body: Record<string, unknown>): Promise<void> {
  const res = await gw.admin('PUT', `/mcp_servers/${id}`, body);
  expect(res.status, res.text).to.be.oneOf([200, 201]);
}

async function putFederation(gw: TestGateway, id: string, federation: Record<string, unknown>, route: Record<string, unknown> = {}): Promise<string> {
  const { plugins, ...rest } = route as { plugins?: Record<string, unknown> };
  const res = await gw.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, ...rest, plugins: { ...(plugins ?? {}), 'mcp-federation': { base_uri: `/${id}`, ...federation } } });
  expect(res.status, res.text).to.be.oneOf([200, 201]);
  return `${gw.url}/${id}`;
}

/** Every tool name, following the gateway's cursors. */
async function allTools(c: Connected): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await c.client.listTools(cursor === undefined ? {} : { cursor });
    names.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return names;
}

/** What the SDK client reads for a request: its result, or its error. */
async function outcome(call: () => Promise<unknown>): Promise<{ result?: any; error?: { code: unknown; message: string } }> {
  try {
    return { result: await call() };
  } catch (err) {
    const e = err as { code?: unknown; message: string };
    return { error: { code: e.code, message: e.message } };
  }
}

describe('mcp-federation', function () {
  this.timeout(90_000);
  let gw: TestGateway;
  let dir: string;
  let all: string;
  let remote: RemoteServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-federation-'));
    gw = await startBridgeGateway();
    await putServer(gw, 'ev', { command: 'node', args: [EVERYTHING_SERVER, 'stdio'] });
    await putServer(gw, 'cf', { command: 'node', args: [CONFORMANCE_SERVER] });
    remote = await startRemoteEverything('streamableHttp');
    await putServer(gw, 'rv', { url: remote.url, health_check: { interval: 0 } });
    await putServer(gw, 'fa', { command: 'node', args: [FAULT_SERVER] });
    writeFileSync(join(dir, 'fb-stdin.log'), '');
    await putServer(gw, 'fb', { command: 'node', args: [FAULT_SERVER, `--record-stdin=${join(dir, 'fb-stdin.log')}`] });
    all = await putFederation(gw, 'all', {
      servers: [
        { server_id: 'ev', prefix: 'ev' },
        { server_id: 'cf', prefix: 'cf' },
        { server_id: 'rv', prefix: 'rv' },
      ],
      server_info: { name: 'team-gateway', version: '2.0.0' },
    });
  });

  after(async () => {
    await gw.stop();
    await remote.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('Admin API', () => {
    for (const [why, federation, expected] of [
      ['an unknown server_id', { servers: [{ server_id: 'nope', prefix: 'x' }] }, /nope/],
      ['duplicate prefixes', { servers: [{ server_id: 'ev', prefix: 'x' }, { server_id: 'cf', prefix: 'x' }] }, /prefix "x" is already used/],
      ['a prefix containing the separator', { servers: [{ server_id: 'ev', prefix: 'e_v' }] }, /contains the separator/],
      ['an empty server list', { servers: [] }, /servers/],
      ['prefixes that would claim the same names', { separator: '__', servers: [{ server_id: 'ev', prefix: 'a' }, { server_id: 'cf', prefix: 'a_' }] }, /would both claim/],
      ['one server twice', { servers: [{ server_id: 'ev', prefix: 'a' }, { server_id: 'ev', prefix: 'b' }] }, /already federated/],
    ] as const) {
      it(`refuses ${why} with a 400 naming it`, async () => {
        const res = await gw.admin('PUT', '/routes/bad-federation', { uri: '/bad/*', plugins: { 'mcp-federation': { base_uri: '/bad', ...federation } } });
        expect(res.status, res.text).to.equal(400);
        expect(res.json.error_msg).to.match(expected);
      });
    }

    it('a federated server cannot be deleted while the route names it', async () => {
      const res = await gw.admin('DELETE', '/mcp_servers/cf');
      expect(res.status, res.text).to.equal(400);
    });
  });

  for (const transport of TRANSPORTS) {
    describe(`over ${transport}`, () => {
      const open: Connected[] = [];
      const client = async (options: Parameters<typeof connect>[2] = {}) => {
        const c = await connect(all, transport, options);
        open.push(c);
        return c;
      };
      afterEach(async () => {
        for (const c of open.splice(0)) await c.close();
      });

      it("one server to the client: the gateway's serverInfo, the union of capabilities", async () => {
        const c = await client();
        expect(c.client.getServerVersion()).to.deep.include({ name: 'team-gateway', version: '2.0.0' });
        const caps = c.client.getServerCapabilities()!;
        expect(caps).to.include.keys('tools', 'prompts', 'resources', 'logging', 'completions');
        expect(caps.tools).to.deep.equal({ listChanged: true });
        expect(caps.resources).to.deep.include({ subscribe: true });
      });

      it('tools of both servers, prefixed, with their schemas and annotations; calls reach the owner', async () => {
        const c = await client();
        const { tools } = await c.client.listTools();
        const names = tools.map((t) => t.name);
        expect(names).to.include.members(['ev_echo', 'ev_get-sum', 'cf_test_simple_text', 'cf_test_error_handling', 'rv_echo', 'rv_get-sum']);
        expect(names.every((n) => /^(ev|cf|rv)_/.test(n))).to.equal(true);
        const echo = tools.find((t) => t.name === 'ev_echo')!;
        expect(echo.description).to.equal('Echoes back the input string');
        expect(echo.inputSchema.properties).to.have.property('message');
        expect(echo.annotations).to.deep.include({ readOnlyHint: true });
        expect(textOf(await c.client.callTool({ name: 'ev_echo', arguments: { message: 'through the federation' } }))).to.include('through the federation');
        expect(textOf(await c.client.callTool({ name: 'cf_test_simple_text', arguments: {} }))).to.equal('This is a simple text response for testing.');
        expect(textOf(await c.client.callTool({ name: 'rv_get-sum', arguments: { a: 40, b: 2 } }))).to.include('42');
      });

      it('a name no server has is answered by the gateway, the same way whatever the prefix', async () => {
        const c = await client();
        const unknown = await outcome(() => c.client.callTool({ name: 'ev_no_such_tool', arguments: {} }));
        const stranger = await outcome(() => c.client.callTool({ name: 'zz_echo', arguments: {} }));
        expect(unknown.error?.code).to.equal(-32602);
        expect(unknown.error?.message).to.include('Unknown tool: ev_no_such_tool');
        expect(JSON.stringify(stranger).replace('zz_echo', 'X')).to.equal(JSON.stringify(unknown).replace('ev_no_such_tool', 'X'));
      });

      it('prompts are federated the same way', async () => {
        const c = await client();
        const names = (await c.client.listPrompts()).prompts.map((p) => p.name);
        expect(names).to.include.members(['ev_simple-prompt', 'ev_args-prompt', 'cf_test_simple_prompt', 'rv_simple-prompt']);
        const got = await c.client.getPrompt({ name: 'ev_args-prompt', arguments: { city: 'Lyon' } });
        expect(JSON.stringify(got.messages)).to.include('Lyon');
        const unknown = await outcome(() => c.client.getPrompt({ name: 'cf_nope' }));
        expect(unknown.error?.message).to.include('Unknown prompt: cf_nope');
      });

      it('resources keep their URIs and are read from the server that listed them, templates too', async () => {
        const c = await client();
        const uris = (await c.client.listResources()).resources.map((r) => r.uri);
        expect(uris).to.include.members(['demo://resource/static/document/architecture.md', 'test://static-text']);
        // ev and rv (both server-everything) list the same URIs: each is listed once, as the first's.
        expect(uris).to.deep.equal([...new Set(uris)]);
        const templates = (await c.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
        expect(templates).to.include.members(['demo://resource/dynamic/text/{resourceId}', 'test://template/{id}/data']);
        const fromCf = await c.client.readResource({ uri: 'test://static-text' });
        expect(fromCf.contents[0]).to.deep.include({ text: 'This is the content of the static text resource.' });
        const templated = await c.client.readResource({ uri: 'test://template/42/data' });
        expect(JSON.parse(String((templated.contents[0] as { text?: string }).text))).to.deep.include({ id: '42', templateTest: true });
        const fromEv = await c.client.readResource({ uri: 'demo://resource/dynamic/text/1' });
        expect(fromEv.contents[0].uri).to.equal('demo://resource/dynamic/text/1');
        const missing = await outcome(() => c.client.readResource({ uri: 'nobody://here' }));
        expect(missing.error?.code).to.equal(-32002);
      });

      it('progress of a call reaches the client that asked, with its own token', async () => {
        const c = await client();
        const seen: number[] = [];
        const result = await c.client.callTool({ name: 'cf_test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => seen.push(p.progress) });
        expect(seen.length).to.be.greaterThan(0);
        expect(textOf(result)).to.be.a('string');
        const remoteSeen: number[] = [];
        const remoteResult = await c.client.callTool({ name: 'rv_trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } }, undefined, {
          onprogress: (p) => remoteSeen.push(p.progress),
        });
        expect(textOf(remoteResult)).to.contain('Long running operation completed');
        expect(remoteSeen.length).to.be.at.least(2);
      });

      it('sampling and elicitation requests from a server reach the client, and the answers go back', async () => {
        const c = await client({ capabilities: { sampling: {}, elicitation: {} } });
        c.client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'sampled by the client' }, model: 'test' }));
        c.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { username: 'ada', email: 'ada@example.com' } }));
        expect(JSON.stringify(await c.client.callTool({ name: 'cf_test_sampling', arguments: { prompt: 'hello' } }))).to.include('sampled by the client');
        expect(JSON.stringify(await c.client.callTool({ name: 'cf_test_elicitation', arguments: { message: 'who?' } }))).to.include('ada');
        expect(JSON.stringify(await c.client.callTool({ name: 'rv_trigger-elicitation-request', arguments: {} }))).to.include('ada');
      });

      it('sampling requests of a stdio and a remote server-everything (both number them from 0) at once: each answer reaches its own server', async () => {
        const c = await client({ capabilities: { sampling: {} } });
        c.client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
          const asked = (request.params.messages[0].content as { text: string }).text;
          await new Promise((r) => setTimeout(r, 50));
          return { role: 'assistant', content: { type: 'text', text: `answer to ${asked}` }, model: 'test' };
        });
        const [local, far] = await Promise.all([
          c.client.callTool({ name: 'ev_trigger-sampling-request', arguments: { prompt: 'from stdio', maxTokens: 10 } }),
          c.client.callTool({ name: 'rv_trigger-sampling-request', arguments: { prompt: 'from remote', maxTokens: 10 } }),
        ]);
        // server-everything puts the prompt in its request as "Resource … context: <prompt>".
        expect(JSON.stringify(local)).to.include('context: from stdio').and.not.include('from remote');
        expect(JSON.stringify(far)).to.include('context: from remote').and.not.include('from stdio');
      });

      it('resources/subscribe reaches the owner, and its updates reach the client', async () => {
        const c = await client();
        const updates: string[] = [];
        c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
          updates.push(n.params.uri);
        });
        await c.client.subscribeResource({ uri: 'demo://resource/static/document/architecture.md' });
        await c.client.callTool({ name: 'ev_toggle-subscriber-updates', arguments: {} });
        expect(await waitFor(() => updates.length > 0, 15_000), 'an update within 15 s').to.equal(true);
        expect(updates[0]).to.equal('demo://resource/static/document/architecture.md');
        await c.client.callTool({ name: 'ev_toggle-subscriber-updates', arguments: {} });
      });
    });
  }

  describe('two servers that use the same ids and tokens (fault fixtures)', () => {
    let base: string;
    let stdinOfB: string;

    before(async () => {
      stdinOfB = join(dir, 'fb-stdin.log');
      base = await putFederation(gw, 'pair', { servers: [{ server_id: 'fa', prefix: 'fa' }, { server_id: 'fb', prefix: 'fb' }], retry_interval: 0.5 });
    });

    const listsAtB = () => readFileSync(stdinOfB, 'utf8').split('\n').filter((l) => l.includes('"tools/list"')).length;

    for (const transport of TRANSPORTS) {
      it(`sampling requests with the same id from two servers reach the client apart, and each answer its own server (${transport})`, async () => {
        const c = await connect(base, transport, { capabilities: { sampling: {} } });
        try {
          // Both fixtures number their requests fixture-1, fixture-2…: only the gateway's ids tell them apart.
          c.client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
            const asked = (request.params.messages[0].content as { text: string }).text;
            await new Promise((r) => setTimeout(r, 50));
            return { role: 'assistant', content: { type: 'text', text: `answer to ${asked}` }, model: 'test' };
          });
          const [a, b] = await Promise.all([
            c.client.callTool({ name: 'fa_sample', arguments: { prompt: 'from A' } }),
            c.client.callTool({ name: 'fb_sample', arguments: { prompt: 'from B' } }),
          ]);
          expect(textOf(a)).to.equal('sampled: answer to from A');
          expect(textOf(b)).to.equal('sampled: answer to from B');
        } finally {
          await c.close();
        }
      });

      it(`progress of concurrent calls on two servers reaches each call alone (${transport})`, async () => {
        const c = await connect(base, transport);
        try {
          const seenA: Array<number | undefined> = [];
          const seenB: Array<number | undefined> = [];
          await Promise.all([
            c.client.callTool({ name: 'fa_slow', arguments: { ms: 400, steps: 4 } }, undefined, { onprogress: (p) => seenA.push(p.total) }),
            c.client.callTool({ name: 'fb_slow', arguments: { ms: 400, steps: 5 } }, undefined, { onprogress: (p) => seenB.push(p.total) }),
          ]);
          // The SDK client may drop the last one (its handler goes with the response), never another call's.
          expect(seenA.length).to.be.within(3, 4);
          expect(seenB.length).to.be.within(4, 5);
          expect(seenA.every((total) => total === 4)).to.equal(true);
          expect(seenB.every((total) => total === 5)).to.equal(true);
        } finally {
          await c.close();
        }
      });
    }

    it("a client's cancellation reaches the server under the id that server knows; its log messages reach the client, its log level the server", async () => {
      const c = await connect(base, 'streamable-http');
      try {
        const logged: string[] = [];
        c.client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
          logged.push(String(n.params.data));
        });
        expect(textOf(await c.client.callTool({ name: 'fb_notify', arguments: { text: 'hello' } }))).to.equal('notified hello');
        await c.client.setLoggingLevel('warning');
        const levelAtServer = () => readFileSync(stdinOfB, 'utf8').split('\n').some((l) => l.includes('"logging/setLevel"') && l.includes('"warning"'));
        expect(await waitFor(levelAtServer, 5000), 'logging/setLevel reached the server').to.equal(true);
        expect(await waitFor(() => logged.some((l) => l.includes('hello')), 5000)).to.equal(true);
        const aborted = new AbortController();
        const hanging = c.client.callTool({ name: 'fb_hang', arguments: {} }, undefined, { signal: aborted.signal }).catch((err: Error) => err);
        const callLine = () => readFileSync(stdinOfB, 'utf8').split('\n').find((l) => l.includes('"hang"'));
        expect(await waitFor(() => callLine() !== undefined, 5000), 'fb got the call').to.equal(true);
        const idAtServer = (JSON.parse(callLine()!) as { id: unknown }).id;
        aborted.abort();
        expect(await hanging).to.be.instanceOf(Error);
        const cancelledAtServer = () =>
          readFileSync(stdinOfB, 'utf8')
            .split('\n')
            .filter((l) => l.includes('notifications/cancelled'))
            .map((l) => (JSON.parse(l) as { params: { requestId: unknown } }).params.requestId);
        expect(await waitFor(() => cancelledAtServer().includes(idAtServer), 5000), 'fb got notifications/cancelled for its own id').to.equal(true);
      } finally {
        await c.close();
      }
    });

    it("caches each server's list until it says the list changed; the client hears one list_changed", async () => {
      const c = await connect(base, 'streamable-http');
      try {
        const changes: number[] = [];
        c.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
          changes.push(Date.now());
        });
        const before = listsAtB();
        expect(await allTools(c)).to.include.members(['fa_echo', 'fb_echo']);
        await allTools(c);
        await c.client.callTool({ name: 'fb_echo', arguments: { text: 'x' } });
        expect(listsAtB() - before, 'one tools/list reached fb for two lists and a call').to.equal(1);
        // Both servers say their tools changed at once: the client hears it once.
        await Promise.all([c.client.callTool({ name: 'fa_list_changed', arguments: {} }), c.client.callTool({ name: 'fb_list_changed', arguments: {} })]);
        expect(await waitFor(() => changes.length > 0, 5000)).to.equal(true);
        await new Promise((r) => setTimeout(r, 300));
        expect(changes).to.have.length(1);
        await allTools(c);
        expect(listsAtB() - before, 'the list is fetched again after the change').to.equal(2);
      } finally {
        await c.close();
      }
    });

    it('a server that crashes: its calls get an error naming it, the other keeps serving, the session carries on and gets it back', async () => {
      const c = await connect(base, 'streamable-http');
      try {
        const pidBefore = textOf(await c.client.callTool({ name: 'fa_pid', arguments: {} }));
        const crashed = await outcome(() => c.client.callTool({ name: 'fa_crash', arguments: {} }));
        expect(crashed.error?.message).to.match(/MCP server fa ended/);
        expect(textOf(await c.client.callTool({ name: 'fb_echo', arguments: { text: 'still here' } }))).to.equal('still here');
        const meanwhile = await outcome(() => c.client.callTool({ name: 'fa_echo', arguments: { text: 'x' } }));
        expect(meanwhile.error?.message).to.match(/MCP server fa is not available/);
        expect((await c.client.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('fa_'))).to.deep.equal([]);
        const status = await gw.admin('GET', '/mcp_servers/fa/status');
        expect(status.json.crashes).to.be.greaterThan(0);
        await new Promise((r) => setTimeout(r, 600));
        const pidAfter = textOf(await c.client.callTool({ name: 'fa_pid', arguments: {} }));
        expect(pidAfter).to.not.equal(pidBefore);
      } finally {
        await c.close();
      }
    });

    it("the federation's sessions show on each server's Admin API, and ending one there ends the client's session and its children", async () => {
      const sessionId = await rawSession(base);
      try {
        const call = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'fa_pid', arguments: {} } }, { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });
        const pid = Number(responseOf(call, 1).result.content[0].text);
        const listed = await gw.admin('GET', '/mcp_servers/fa/sessions');
        const mine = listed.json.list.find((s: { id: string }) => s.id === sessionId);
        expect(mine, listed.text).to.deep.include({ route: 'pair', child_pid: pid });
        // What the federation listed is what the Admin API shows of the server, in its own names.
        const offered = await gw.admin('GET', '/mcp_servers/fa/tools');
        expect(offered.json.source).to.equal('session');
        expect(offered.json.tools.map((t: { name: string }) => t.name)).to.include('echo');
        const ended = await gw.admin('DELETE', `/mcp_servers/fa/sessions/${sessionId}`);
        expect(ended.status, ended.text).to.equal(200);
        expect(await waitFor(() => !descendants().some((p) => p.pid === pid), 5000), 'the child stopped').to.equal(true);
        const after = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });
        expect(after.status).to.equal(404);
      } finally {
        await endRawSession(base, sessionId);
      }
    });
  });

  describe('a remote server killed mid-session', () => {
    it('its calls get an error naming it and saying it cannot be reached, the stdio server keeps serving, the session carries on', async () => {
      const doomed = await startRemoteEverything('streamableHttp');
      try {
        await putServer(gw, 'doomed', { url: doomed.url, health_check: { interval: 0.5, timeout: 1 }, timeout: 2 });
        const base = await putFederation(gw, 'mixed', { servers: [{ server_id: 'fa', prefix: 'fa' }, { server_id: 'doomed', prefix: 'rd' }] });
        const c = await connect(base, 'streamable-http');
        try {
          expect(textOf(await c.client.callTool({ name: 'rd_echo', arguments: { message: 'before' } }))).to.include('before');
          await doomed.stop();
          const after = await outcome(() => c.client.callTool({ name: 'rd_echo', arguments: { message: 'after' } }));
          expect(after.error?.message).to.match(/MCP server doomed: the remote MCP server could not be reached: ECONNREFUSED/);
          expect(textOf(await c.client.callTool({ name: 'fa_echo', arguments: { text: 'still here' } }))).to.equal('still here');
          // Once its health check fails, it leaves the lists and its calls say why at once.
          expect(await waitFor(async () => !(await allTools(c)).some((n) => n.startsWith('rd_')), 10_000, 200), 'rd_ tools leave the list').to.equal(true);
          expect(await allTools(c)).to.include('fa_echo');
          const failing = await outcome(() => c.client.callTool({ name: 'rd_echo', arguments: { message: 'later' } }));
          expect(failing.error?.message).to.match(/MCP server doomed is not available: it fails its health checks/);
          expect((await gw.admin('GET', '/mcp_servers/doomed/status')).json.state).to.equal('failing');
        } finally {
          await c.close();
        }
      } finally {
        await doomed.stop();
      }
    });
  });

  describe('servers that are down or slow', () => {
    it('a server that cannot start is left out: the others are served, its calls get an error naming it, its status says why', async () => {
      await putServer(gw, 'broken', { command: 'node', args: [FAULT_SERVER, '--exit-at-start=1'] });
      const base = await putFederation(gw, 'partly', { servers: [{ server_id: 'broken', prefix: 'br' }, { server_id: 'fa', prefix: 'fa' }] });
      const c = await connect(base, 'streamable-http');
      try {
        const names = (await c.client.listTools()).tools.map((t) => t.name);
        expect(names).to.include('fa_echo');
        expect(names.filter((n) => n.startsWith('br_'))).to.deep.equal([]);
        const call = await outcome(() => c.client.callTool({ name: 'br_echo', arguments: {} }));
        expect(call.error?.message).to.match(/MCP server broken is not available/);
        const status = await gw.admin('GET', '/mcp_servers/broken/status');
        expect(status.json.state).to.equal('failing');
        expect(status.json.last_error.message).to.match(/exited with code 1/);
      } finally {
        await c.close();
      }
    });

    it('a slow server is left out of a list after list_timeout, and joins once it answers', async () => {
      await putServer(gw, 'sluggish', { command: 'node', args: [FAULT_SERVER, '--init-delay=2500'] });
      const base = await putFederation(gw, 'slowly', { servers: [{ server_id: 'fa', prefix: 'fa' }, { server_id: 'sluggish', prefix: 'sl' }], list_timeout: 0.5 });
      const c = await connect(base, 'streamable-http');
      try {
        const started = Date.now();
        const first = (await c.client.listTools()).tools.map((t) => t.name);
        expect(Date.now() - started).to.be.below(2000);
        expect(first).to.include('fa_echo').and.not.include('sl_echo');
        expect(await waitFor(async () => (await c.client.listTools()).tools.some((t) => t.name === 'sl_echo'), 10_000, 300)).to.equal(true);
      } finally {
        await c.close();
      }
    });
  });

  describe('with traffic control and access rules', () => {
    let base: string;
    const KEYS = { web: 'web-team-key-0123456789', data: 'data-team-key-0123456789' };

    before(async () => {
      await gw.admin('PUT', '/consumers/web', { username: 'web', plugins: { 'key-auth': { key: KEYS.web }, 'mcp-acl': { allow: ['ev_*', 'fa_echo', 'fa_env'] } } });
      await gw.admin('PUT', '/consumers/data', { username: 'data', plugins: { 'key-auth': { key: KEYS.data }, 'mcp-acl': { allow: ['fa_*'] } } });
      base = await putFederation(gw, 'teams', { servers: [{ server_id: 'ev', prefix: 'ev' }, { server_id: 'fa', prefix: 'fa' }] }, {
        plugins: {
          'key-auth': {},
          'mcp-acl': { deny: ['*_env', 'ev_get-env'] },
          'limit-count': { rules: [{ count: 2, time_window: 60, key: '$mcp_tool' }], rejected_code: 429 },
        },
      });
    });

    for (const transport of TRANSPORTS) {
      it(`each consumer sees and calls only its tools; a denied call reads like an unknown one; the route deny wins (${transport})`, async () => {
        const web = await connect(base, transport, { headers: { apikey: KEYS.web } });
        const data = await connect(base, transport, { headers: { apikey: KEYS.data } });
        try {
          const webTools = (await web.client.listTools()).tools.map((t) => t.name);
          expect(webTools).to.include.members(['ev_echo', 'fa_echo']).and.not.include.members(['fa_env', 'ev_get-env', 'fa_pid']);
          const dataTools = (await data.client.listTools()).tools.map((t) => t.name);
          expect(dataTools.every((n) => n.startsWith('fa_'))).to.equal(true);
          expect(dataTools).to.include('fa_pid').and.not.include('fa_env');
          const denied = await outcome(() => web.client.callTool({ name: 'fa_env', arguments: {} }));
          const unknown = await outcome(() => web.client.callTool({ name: 'fa_no_such_tool', arguments: {} }));
          expect(JSON.stringify(denied).replace('fa_env', 'X')).to.equal(JSON.stringify(unknown).replace('fa_no_such_tool', 'X'));
          const deniedToData = await outcome(() => data.client.callTool({ name: 'ev_echo', arguments: { message: 'x' } }));
          expect(deniedToData.error?.message).to.include('Unknown tool: ev_echo');
          expect(textOf(await data.client.callTool({ name: 'fa_echo', arguments: { text: 'data team' } }))).to.equal('data team');
        } finally {
          await web.close();
          await data.close();
        }
      });
    }

    it('limits keyed on the tool see the prefixed name', async () => {
      const c = await connect(base, 'streamable-http', { headers: { apikey: KEYS.data } });
      try {
        for (let i = 0; i < 2; i++) await c.client.callTool({ name: 'fa_pid', arguments: {} });
        const third = await outcome(() => c.client.callTool({ name: 'fa_pid', arguments: {} }));
        expect(third.error?.message).to.match(/rate limit exceeded/);
        const line = gw.accessLogs.map((l) => JSON.parse(l)).reverse().find((l) => l.mcp_name === 'fa_pid');
        expect(line).to.deep.include({ status: 200, answered_by: 'limit-count' });
      } finally {
        await c.close();
      }
    });
  });

  describe('lists', () => {
    it('pages a merged list with a cursor of its own, and refuses a cursor it did not make', async () => {
      const servers = [{ server_id: 'ev', prefix: 'ev' }, { server_id: 'cf', prefix: 'cf' }, { server_id: 'rv', prefix: 'rv' }];
      const paged = await putFederation(gw, 'paged', { servers, page_size: 5 });
      const whole = await connect(all, 'streamable-http');
      const c = await connect(paged, 'streamable-http');
      try {
        const expected = (await whole.client.listTools()).tools.map((t) => t.name);
        const first = await c.client.listTools();
        expect(first.tools).to.have.length(5);
        expect(first.nextCursor).to.be.a('string');
        expect(await allTools(c)).to.deep.equal(expected);
        const bad = await outcome(() => c.client.listTools({ cursor: 'not-a-cursor' }));
        expect(bad.error?.code).to.equal(-32602);
      } finally {
        await c.close();
        await whole.close();
      }
    });
  });
});
