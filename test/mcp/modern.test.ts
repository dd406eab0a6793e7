/**
 * MCP 2026-07-28 (stateless) clients in front of 2025-era stdio servers, on the same
 * `{base_uri}/mcp` that serves 2025-era sessions (issue 16, slice 1): the real v2 SDK client pinned
 * to the modern revision and the v1 SDK client side by side through to server-everything; the
 * header checks, unknown methods, colliding ids, progress and a closed stream as cancellation
 * checked with raw requests against a fixture server that records what it receives.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { EVERYTHING_SERVER, FAULT_SERVER, bridgeRoute, connect, descendants, post, readEvents, recordedStdin, responseOf, startBridgeGateway, textOf, waitFor } from './support.js';

const MODERN = '2026-07-28';
const VERSION_META = 'io.modelcontextprotocol/protocolVersion';

/** A raw 2026-07-28 request: the `_meta` envelope and the headers a modern client sends. */
function modern(id: number | string, method: string, params: Record<string, unknown> = {}, capabilities: Record<string, unknown> = {}) {
  const meta = { [VERSION_META]: MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': capabilities };
  const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...meta, ...((params._meta as object) ?? {}) } } };
  const headers: Record<string, string> = { 'mcp-protocol-version': MODERN, 'mcp-method': method };
  const name = (params.name ?? params.uri) as string | undefined;
  if (name !== undefined) headers['mcp-name'] = name;
  return { body, headers };
}

describe('mcp-bridge: MCP 2026-07-28 requests in front of a 2025-era server', function () {
  this.timeout(40_000);
  let gateway: TestGateway;
  let everything: string;
  let fixture: string;
  let fresh: string;
  let dir: string;
  let stdinLog: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-modern-'));
    stdinLog = join(dir, 'stdin.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] } });
    // Pooled servers end like any idle session; short here so that each test's children end with it.
    everything = await bridgeRoute(gateway, 'everything', [EVERYTHING_SERVER, 'stdio'], { session_idle_timeout: 0.5 });
    fixture = await bridgeRoute(gateway, 'fixture', [FAULT_SERVER, `--record-stdin=${stdinLog}`], { session_idle_timeout: 0.5 });
    fresh = await bridgeRoute(gateway, 'fresh', [FAULT_SERVER, '--per-request-route'], { process_mode: 'per-request' });
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const received = () => recordedStdin(stdinLog);

  it('serves a v2 client pinned to 2026-07-28 and a v1 client on 2025-11-25 at the same time, through to server-everything', async () => {
    const modernClient = new ModernClient({ name: 'modern-only', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
    const modernTransport = new ModernTransport(new URL(`${everything}/mcp`));
    const [legacy] = await Promise.all([connect(everything, 'streamable-http'), modernClient.connect(modernTransport)]);
    try {
      expect(modernClient.getServerVersion()?.name).to.equal('mcp-servers/everything');
      expect(legacy.sessionId()).to.be.a('string');
      const progress: number[] = [];
      const [modernTools, legacyTools, modernEcho, legacyEcho, modernLong] = await Promise.all([
        modernClient.listTools(),
        legacy.client.listTools(),
        modernClient.callTool({ name: 'echo', arguments: { message: 'from 2026' } }),
        legacy.client.callTool({ name: 'echo', arguments: { message: 'from 2025' } }),
        modernClient.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
          { onprogress: (p: { progress: number }) => progress.push(p.progress) },
        ),
      ]);
      expect(modernTools.tools.map((t) => t.name)).to.include.members(['echo', 'get-sum']);
      expect(modernTools.tools.map((t) => t.name)).to.deep.equal(legacyTools.tools.map((t) => t.name));
      expect(textOf(modernEcho)).to.equal('Echo: from 2026');
      expect(textOf(legacyEcho)).to.equal('Echo: from 2025');
      expect(textOf(modernLong)).to.contain('completed');
      expect(progress).to.deep.equal([1, 2, 3]);
      const { resources } = await modernClient.listResources();
      const read = await modernClient.readResource({ uri: resources[0].uri });
      expect(read.contents[0].uri).to.equal(resources[0].uri);
      const prompt = await modernClient.getPrompt({ name: 'args-prompt', arguments: { city: 'Lisbon' } });
      expect(JSON.stringify(prompt.messages)).to.contain('Lisbon');
    } finally {
      await legacy.close();
      await modernClient.close();
    }
  });

  it('answers server/discover from the server it initialized, with the client capabilities of the request', async () => {
    const { body, headers } = modern('d-1', 'server/discover', {}, { roots: { listChanged: true } });
    const res = await post(`${fixture}/mcp`, body, headers);
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get('mcp-session-id')).to.equal(null);
    expect(res.json.id).to.equal('d-1');
    expect(res.json.result).to.include({ resultType: 'complete', cacheScope: 'private', ttlMs: 0 });
    expect(res.json.result.supportedVersions).to.deep.equal([MODERN]);
    expect(res.json.result.capabilities.tools).to.be.an('object');
    const init = received().find((m) => m.method === 'initialize' && m.params.capabilities.roots);
    expect(init?.params.capabilities).to.deep.equal({ roots: { listChanged: true } });
    // Sent to the server after its initialize result, so it may be read after the answer left.
    expect(await waitFor(() => received().some((m) => m.method === 'notifications/initialized'), 5000)).to.equal(true);
  });

  it('tells a 2026-07-28 request by its _meta when it carries no MCP-Protocol-Version header', async () => {
    const { body, headers } = modern('by-meta', 'tools/call', { name: 'echo', arguments: { text: 'meta only' } });
    const { 'mcp-protocol-version': _dropped, ...withoutVersion } = headers;
    const res = await post(`${fixture}/mcp`, body, withoutVersion);
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get('mcp-session-id')).to.equal(null);
    expect(res.json.id).to.equal('by-meta');
    expect(res.json.result.resultType).to.equal('complete');
    expect(textOf(res.json.result)).to.equal('meta only');
  });

  it('gives each of two requests with the same id its own answer, and the server never sees the clients ids', async () => {
    const ask = (text: string) => {
      const { body, headers } = modern(1, 'tools/call', { name: 'slow', arguments: { ms: 150, steps: 0 } });
      const echo = modern(1, 'tools/call', { name: 'echo', arguments: { text } });
      return text === 'slow' ? post(`${fixture}/mcp`, body, headers) : post(`${fixture}/mcp`, echo.body, echo.headers);
    };
    const [slow, a, b] = await Promise.all([ask('slow'), ask('first'), ask('second')]);
    expect([slow.json.id, a.json.id, b.json.id]).to.deep.equal([1, 1, 1]);
    expect(textOf(slow.json.result)).to.equal('slow done');
    expect(textOf(a.json.result)).to.equal('first');
    expect(textOf(b.json.result)).to.equal('second');
    expect(a.json.result.resultType).to.equal('complete');
    const calls = received().filter((m) => m.method === 'tools/call');
    expect(calls.map((m) => m.id)).to.not.include(1);
    expect(new Set(calls.map((m) => m.id)).size).to.equal(calls.length);
    expect(calls.every((m) => m.params._meta === undefined || m.params._meta[VERSION_META] === undefined)).to.equal(true);
  });

  it('delivers progress with the client token on the response stream of the request that asked', async () => {
    const { body, headers } = modern(5, 'tools/call', { name: 'slow', arguments: { ms: 150, steps: 3 }, _meta: { progressToken: 'mine' } });
    const res = await fetch(`${fixture}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
    });
    expect(res.headers.get('content-type')).to.contain('text/event-stream');
    const events = await readEvents(res, (list) => list.some((e) => JSON.parse(e.data).id === 5));
    const messages = events.map((e) => JSON.parse(e.data) as Record<string, any>);
    const progress = messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params);
    expect(progress.map((p) => p.progressToken)).to.deep.equal(['mine', 'mine', 'mine']);
    expect(events.every((e) => e.id === undefined)).to.equal(true);
    expect(textOf(messages.at(-1)!.result)).to.equal('slow done');
  });

  it('cancels the call at the server when the client closes the response stream', async () => {
    const { body, headers } = modern('forever', 'tools/call', { name: 'progress_forever', _meta: { progressToken: 7 } });
    const abort = new AbortController();
    const res = await fetch(`${fixture}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    await readEvents(res, (list) => list.length >= 2).catch(() => undefined);
    abort.abort();
    const call = () => received().find((m) => m.method === 'tools/call' && m.params.name === 'progress_forever');
    expect(
      await waitFor(() => received().some((m) => m.method === 'notifications/cancelled' && m.params.requestId === call()?.id), 5000),
      'notifications/cancelled for the call reached the server',
    ).to.equal(true);
  });

  it('cancels at the server a stream the client closes while the server is not reading its input, and keeps serving', async () => {
    const open = (id: string, method: string, params: Record<string, unknown>, signal?: AbortSignal) => {
      const { body, headers } = modern(id, method, params);
      return fetch(`${fixture}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body), signal });
    };
    const watched = new AbortController();
    const long = await open('watched', 'tools/call', { name: 'progress_forever', _meta: { progressToken: 'w' } }, watched.signal);
    // Read the first progress, and keep the stream open (readEvents would close it).
    const watching = long.body!.getReader();
    expect(new TextDecoder().decode((await watching.read()).value)).to.contain('notifications/progress');
    // The server stops reading stdin; calls of about max_message_bytes each fill what the gateway
    // holds for it past its backlog bound, where a client's message is refused (503).
    expect((await post(`${fixture}/mcp`, modern('deaf', 'tools/call', { name: 'deaf', arguments: { ms: 5000 } }).body, modern('deaf', 'tools/call', { name: 'deaf' }).headers)).status).to.equal(200);
    const filling = new AbortController();
    const big = 'x'.repeat(1_000_000);
    // The accepted calls answer only once the server reads again; the refused one at once.
    const refused = await new Promise<Response | undefined>((resolve) => {
      for (let i = 0; i < 6; i++) {
        void open(`fill-${i}`, 'tools/call', { name: 'echo', arguments: { text: big } }, filling.signal).then((r) => r.status === 503 && resolve(r), () => undefined);
      }
      setTimeout(() => resolve(undefined), 4000).unref();
    });
    expect(refused?.status, 'the backlog bound was reached').to.equal(503);
    expect(await refused!.text()).to.contain('the MCP server is not reading its input');
    // The gateway's own cancellation is not a client's message: it is never refused, and never throws out of the close handler.
    watched.abort();
    // This test's call is the last progress_forever the server read (an earlier test's came before).
    const call = () => received().filter((m) => m.method === 'tools/call' && m.params.name === 'progress_forever').at(-1);
    expect(
      await waitFor(() => received().some((m) => m.method === 'notifications/cancelled' && m.params.requestId === call()?.id), 8000),
      'notifications/cancelled for the call reached the server once it read again',
    ).to.equal(true);
    filling.abort();
    await watching.cancel().catch(() => undefined);
    const after = await post(`${fixture}/mcp`, modern('after', 'tools/call', { name: 'echo', arguments: { text: 'still here' } }).body, modern('after', 'tools/call', { name: 'echo' }).headers);
    expect(after.status).to.equal(200);
    expect(after.text).to.contain('still here');
  });

  it('refuses a request whose Mcp-Method or Mcp-Name does not match the body with 400 and -32020', async () => {
    const call = modern(9, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
    const wrongMethod = await post(`${fixture}/mcp`, call.body, { ...call.headers, 'mcp-method': 'tools/list' });
    expect(wrongMethod.status).to.equal(400);
    expect(wrongMethod.json.id).to.equal(9);
    expect(wrongMethod.json.error.code).to.equal(-32020);
    expect(wrongMethod.json.error.message).to.contain('Mcp-Method');
    const wrongName = await post(`${fixture}/mcp`, call.body, { ...call.headers, 'mcp-name': 'env' });
    expect(wrongName.status).to.equal(400);
    expect(wrongName.json.error.code).to.equal(-32020);
    const { 'mcp-name': _omitted, ...withoutName } = call.headers;
    const missing = await post(`${fixture}/mcp`, call.body, withoutName);
    expect(missing.status).to.equal(400);
    expect(missing.json.error.message).to.contain('Mcp-Name header is required');
    expect(received().some((m) => m.id === 9)).to.equal(false);
  });

  it('answers an unknown method, and one the server does not implement, with 404 and -32601, and GET with 405', async () => {
    const { body, headers } = modern(3, 'tasks/list');
    const res = await post(`${fixture}/mcp`, body, headers);
    expect(res.status).to.equal(404);
    expect(res.json).to.deep.include({ id: 3 });
    expect(res.json.error.code).to.equal(-32601);
    // A method the gateway forwards but the server does not implement: the same 404 (2026-07-28,
    // streamable-http: "MUST respond with 404 Not Found and ... -32601"), not a 200 carrying it.
    const unserved = modern(4, 'prompts/list');
    const notServed = await post(`${fixture}/mcp`, unserved.body, unserved.headers);
    expect(notServed.status, notServed.text).to.equal(404);
    expect(notServed.json).to.deep.include({ id: 4 });
    expect(notServed.json.error.code).to.equal(-32601);
    const get = await fetch(`${fixture}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-protocol-version': MODERN } });
    expect(get.status).to.equal(405);
    expect(get.headers.get('allow')).to.equal('POST');
  });

  it('turns a sampling request of the server into input_required, and the v2 client completes the call', async () => {
    const client = new ModernClient({ name: 'sampler', version: '1' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: MODERN } } });
    const prompts: string[] = [];
    client.setRequestHandler('sampling/createMessage', async (request) => {
      prompts.push(JSON.stringify(request.params.messages));
      return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled by the v2 client' } };
    });
    await client.connect(new ModernTransport(new URL(`${fixture}/mcp`)));
    try {
      const [first, second] = await Promise.all([
        client.callTool({ name: 'sample', arguments: { prompt: 'first question' } }),
        client.callTool({ name: 'sample', arguments: { prompt: 'second question' } }),
      ]);
      expect(textOf(first)).to.equal('sampled: sampled by the v2 client');
      expect(textOf(second)).to.equal('sampled: sampled by the v2 client');
      expect(prompts.join()).to.contain('first question').and.to.contain('second question');
    } finally {
      await client.close();
    }
  });

  it('answers a raw input_required round trip, and refuses an unknown requestState', async () => {
    const call = modern('q', 'tools/call', { name: 'sample', arguments: { prompt: 'raw' } }, { sampling: {} });
    const first = await post(`${fixture}/mcp`, call.body, call.headers);
    const round = JSON.parse(first.text.split('data: ').at(-1)!.trim());
    expect(round.id).to.equal('q');
    expect(round.result.resultType).to.equal('input_required');
    const [[key, request]] = Object.entries(round.result.inputRequests) as [[string, any]];
    expect(request.method).to.equal('sampling/createMessage');
    expect(JSON.stringify(request.params.messages)).to.contain('raw');
    const retry = modern('q2', 'tools/call', {
      name: 'sample',
      arguments: { prompt: 'raw' },
      requestState: round.result.requestState,
      inputResponses: { [key]: { role: 'assistant', model: 'm', content: { type: 'text', text: 'raw answer' } } },
    }, { sampling: {} });
    const second = await post(`${fixture}/mcp`, retry.body, retry.headers);
    const done = second.text.includes('data:') ? JSON.parse(second.text.split('data: ').at(-1)!.trim()) : second.json;
    expect(done.id).to.equal('q2');
    expect(textOf(done.result)).to.equal('sampled: raw answer');
    const again = await post(`${fixture}/mcp`, retry.body, retry.headers);
    expect(again.status).to.equal(400);
    expect(again.json.error.code).to.equal(-32602);
    expect(again.json.error.message).to.contain('requestState');
  });

  it('keeps serving when a call waiting for its input_required answer outlives its server: the wait expires without touching the dead server', async () => {
    const parkedRoute = await bridgeRoute(gateway, 'parked', [FAULT_SERVER, '--parked-route'], { request_timeout: 1, session_idle_timeout: 0.5 });
    const children = () => descendants().filter((p) => p.command.includes('--parked-route'));
    const call = modern('p', 'tools/call', { name: 'sample', arguments: { prompt: 'wait' } }, { sampling: {} });
    const first = await post(`${parkedRoute}/mcp`, call.body, call.headers);
    const round = JSON.parse(first.text.split('data: ').at(-1)!.trim());
    expect(round.result.resultType, first.text).to.equal('input_required');
    const [child] = children();
    process.kill(child.pid, 'SIGKILL');
    expect(await waitFor(() => gateway.logs.some((line) => line.includes('did not answer an input_required result in time')), 10_000), 'the wait expired').to.equal(true);
    const list = modern('after', 'tools/list');
    const after = await post(`${fixture}/mcp`, list.body, list.headers);
    expect(after.status, after.text).to.equal(200);
    expect(after.json.result.tools.length).to.be.above(0);
  });

  it('ends a call at once whose server asks a client that declared no way to answer (-32021, modern-conformance.test.ts)', async () => {
    const { body, headers } = modern('s', 'tools/call', { name: 'sample', arguments: { prompt: 'hi' } });
    const res = await post(`${fixture}/mcp`, body, headers);
    expect(res.status).to.equal(400);
    expect(res.json.id).to.equal('s');
    expect(res.json.error.code).to.equal(-32021);
  });

  it('serves ten concurrent clients with one capability set from one server, and another set from a second', async () => {
    const servers = () => descendants().filter((p) => p.command.includes('fault-server.mjs')).length;
    const lists = await Promise.all(Array.from({ length: 10 }, (_, i) => post(`${fixture}/mcp`, modern(i, 'tools/list').body, modern(i, 'tools/list').headers)));
    expect(lists.map((r) => r.json.id)).to.deep.equal([...Array(10).keys()]);
    expect(lists.every((r) => r.json.result.tools.length > 0)).to.equal(true);
    expect(servers()).to.equal(1);
    const other = modern('e', 'tools/list', {}, { elicitation: {} });
    expect((await post(`${fixture}/mcp`, other.body, other.headers)).status).to.equal(200);
    expect(servers()).to.equal(2);
  });

  it('a pooled server that crashes fails the requests in flight on it; other pooled servers carry on, and the next request gets a new server', async () => {
    const ask = (id: string, name: string, args: Record<string, unknown> = {}, capabilities: Record<string, unknown> = {}) => {
      const { body, headers } = modern(id, 'tools/call', { name, arguments: args }, capabilities);
      return post(`${fixture}/mcp`, body, headers);
    };
    const before = textOf((await ask('pid-1', 'pid')).json.result);
    // Another capability set: another pooled server, with a call in flight through the crash.
    const other = ask('other', 'slow', { ms: 1000, steps: 0 }, { elicitation: {} });
    const hung = ask('hung', 'hang');
    expect(await waitFor(() => received().some((m) => m.method === 'tools/call' && m.params.name === 'hang'), 5000)).to.equal(true);
    const [crashed, inFlight] = await Promise.all([ask('crash', 'crash'), hung]);
    for (const [res, id] of [[crashed, 'crash'], [inFlight, 'hung']] as const) {
      const answer = responseOf(res, id);
      expect(answer?.error?.message, res.text).to.contain('MCP session ended');
    }
    expect(textOf(responseOf(await other, 'other').result)).to.equal('slow done');
    const after = await ask('pid-2', 'pid');
    expect(after.status, after.text).to.equal(200);
    expect(textOf(after.json.result)).to.match(/^\d+$/).and.to.not.equal(before);
  });

  it('process_mode per-request: every modern request has a fresh child, which ends with it', async () => {
    const children = () => descendants().filter((p) => p.command.includes('--per-request-route'));
    const pidOf = async (id: number) => {
      const { body, headers } = modern(id, 'tools/call', { name: 'pid' });
      const res = await post(`${fresh}/mcp`, body, headers);
      expect(res.status, res.text).to.equal(200);
      return textOf(res.json.result);
    };
    const first = await pidOf(1);
    const second = await pidOf(2);
    expect(first).to.not.equal(second);
    expect(await waitFor(() => children().length === 0, 5000), 'the children ended with their requests').to.equal(true);
  });

  it('subscriptions/listen: the stream is acknowledged and carries the list changes asked for, with the subscription id', async () => {
    const listen = modern('sub-1', 'subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: ['test://x'] } });
    const abort = new AbortController();
    const res = await fetch(`${fixture}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...listen.headers },
      body: JSON.stringify(listen.body),
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).to.contain('text/event-stream');
    const reading = readEvents(res, (list) => list.length >= 2, 5000);
    // The listener is registered in the same tick as the response head went out, so before this
    // call from another client of the same capabilities (the same pooled server) changes the list.
    const change = modern(1, 'tools/call', { name: 'list_changed' });
    const changed = await post(`${fixture}/mcp`, change.body, change.headers);
    expect(textOf(changed.json.result)).to.equal('changed');
    const events = (await reading).map((e) => JSON.parse(e.data) as Record<string, any>);
    abort.abort();
    expect(events[0]).to.deep.equal({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: { toolsListChanged: true }, _meta: { 'io.modelcontextprotocol/subscriptionId': 'sub-1' } },
    });
    expect(events[1]).to.deep.equal({ jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'sub-1' } } });
  });
});
