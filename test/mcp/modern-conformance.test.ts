/**
 * What the official conformance suite's 2026-07-28 server scenarios (`npm run conformance`,
 * docs/mcp.md "Conformance") found the modern front doing wrong, each checked here on its own
 * with raw HTTP against a fixture server that records what it receives: a request missing the
 * per-request `_meta` envelope must be refused, not served; a stateless request naming a version
 * the gateway does not serve is told the versions it may retry with, which server/discover lists;
 * a call whose server asks the client for something it did not declare fails with -32021; a 2025
 * server's unknown resource (-32002) reads as 2026-07-28's -32602; questions a server sends at
 * once come in one input_required result; answers sent before the question (no requestState)
 * answer it.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { CONFORMANCE_SERVER, FAULT_SERVER, bridgeRoute, post, recordedStdin, startBridgeGateway, textOf, waitFor } from './support.js';

const MODERN = '2026-07-28';
const VERSION_META = 'io.modelcontextprotocol/protocolVersion';
const INFO_META = 'io.modelcontextprotocol/clientInfo';
const CAPABILITIES_META = 'io.modelcontextprotocol/clientCapabilities';

describe('mcp-bridge: MCP 2026-07-28 requests as the conformance suite checks them', function () {
  this.timeout(30_000);
  let gateway: TestGateway;
  let base: string;
  let conformance: string;
  let dir: string;
  let stdinLog: string;
  let asksLog: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-modern-conformance-'));
    stdinLog = join(dir, 'stdin.log');
    asksLog = join(dir, 'asks.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] } });
    base = await bridgeRoute(gateway, 'fixture', [FAULT_SERVER, `--record-stdin=${stdinLog}`, `--record-asks=${asksLog}`], { session_idle_timeout: 0.5 });
    conformance = await bridgeRoute(gateway, 'conformance', [CONFORMANCE_SERVER], { session_idle_timeout: 0.5 });
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (id: number, meta: Record<string, unknown> | undefined) => {
    const params: Record<string, unknown> = { name: 'echo', arguments: { text: `call ${id}` } };
    if (meta) params._meta = meta;
    return post(`${base}/mcp`, { jsonrpc: '2.0', id, method: 'tools/call', params }, { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
  };

  it('refuses a request without _meta, or without its protocol version or client capabilities, with 400 and -32602; the server never sees it', async () => {
    const cases: Array<[number, Record<string, unknown> | undefined, string]> = [
      [101, undefined, 'params._meta'],
      [102, { [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: {} }, VERSION_META],
      [104, { [VERSION_META]: MODERN, [INFO_META]: { name: 'raw', version: '1' } }, CAPABILITIES_META],
    ];
    for (const [id, meta, missing] of cases) {
      const res = await call(id, meta);
      expect(res.status, `${missing}: ${res.text}`).to.equal(400);
      expect(res.json.id).to.equal(id);
      expect(res.json.error.code).to.equal(-32602);
      expect(res.json.error.message).to.contain(missing);
    }
    // No server was even started for them (the log is written by the first one).
    const received = existsSync(stdinLog) ? recordedStdin(stdinLog) : [];
    expect(received.filter((m) => m.method === 'tools/call')).to.deep.equal([]);
  });

  it('serves a request whose _meta has no clientInfo (a SHOULD)', async () => {
    const res = await call(105, { [VERSION_META]: MODERN, [CAPABILITIES_META]: {} });
    expect(res.status, res.text).to.equal(200);
    const answer = res.text.includes('data:') ? JSON.parse(res.text.split('data: ').at(-1)!.trim()) : res.json;
    expect(answer.id).to.equal(105);
    expect(answer.result.content[0].text).to.equal('call 105');
  });

  it('tells a stateless request of an unknown version only versions that server/discover lists', async () => {
    const meta = { [VERSION_META]: 'v999.0.0', [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: {} };
    const refused = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 301, method: 'server/discover', params: { _meta: meta } }, { 'mcp-protocol-version': 'v999.0.0', 'mcp-method': 'server/discover' });
    expect(refused.status).to.equal(400);
    expect(refused.json.error.code).to.equal(-32022);
    expect(refused.json.error.data.requested).to.equal('v999.0.0');
    const discover = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 302, method: 'server/discover', params: { _meta: { ...meta, [VERSION_META]: MODERN } } }, { 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' });
    expect(discover.status, discover.text).to.equal(200);
    expect(refused.json.error.data.supported).to.have.length.greaterThan(0);
    expect(discover.json.result.supportedVersions).to.include.members(refused.json.error.data.supported);
  });

  /** A modern request declaring no client capabilities: its pooled server is shared. */
  const plain = (url: string, id: number | string, method: string, params: Record<string, unknown>) => {
    const meta = { [VERSION_META]: MODERN, [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: {} };
    const headers: Record<string, string> = { 'mcp-protocol-version': MODERN, 'mcp-method': method };
    const name = (params.name ?? params.uri) as string | undefined;
    if (name !== undefined) headers['mcp-name'] = name;
    return post(`${url}/mcp`, { jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }, headers);
  };
  const answerOf = (res: { text: string; json: any }) => (res.text.includes('data:') ? JSON.parse(res.text.split('data: ').at(-1)!.trim()) : res.json);

  it('fails a call whose server asks for a capability the client did not declare with 400 and -32021 naming it, and cancels it at the server', async () => {
    const res = await plain(base, 401, 'tools/call', { name: 'sample', arguments: { prompt: 'undeclared' } });
    expect(res.status, res.text).to.equal(400);
    expect(res.json.id).to.equal(401);
    expect(res.json.error.code).to.equal(-32021);
    expect(res.json.error.data.requiredCapabilities).to.deep.equal({ sampling: {} });
    const call = () => recordedStdin(stdinLog).find((m) => m.method === 'tools/call' && m.params.arguments?.prompt === 'undeclared');
    expect(
      await waitFor(() => recordedStdin(stdinLog).some((m) => m.method === 'notifications/cancelled' && m.params.requestId === call()?.id), 5000),
      'the call was cancelled at the server',
    ).to.equal(true);
    // The server's own question was answered too (a refusal), so it does not wait for it.
    expect(recordedStdin(stdinLog).some((m) => typeof m.id === 'string' && m.id.startsWith('fixture-') && m.error)).to.equal(true);
  });

  it('with another request in flight on the shared server, cannot tell whose the question is: refuses it to the server, and both calls end', async () => {
    const slow = plain(base, 501, 'tools/call', { name: 'slow', arguments: { ms: 1500 } });
    expect(await waitFor(() => recordedStdin(stdinLog).some((m) => m.method === 'tools/call' && m.params.name === 'slow'), 10_000)).to.equal(true);
    const sample = await plain(base, 502, 'tools/call', { name: 'sample', arguments: { prompt: 'whose?' } });
    expect(sample.status, sample.text).to.equal(200);
    expect(textOf(answerOf(sample).result)).to.contain('-32601');
    expect(textOf(answerOf(await slow).result)).to.equal('slow done');
  });

  it("answers a 2025 server's unknown resource (-32002) with -32602 and the uri, as 2026-07-28 says (SEP-2164)", async () => {
    const uri = 'test://nonexistent-resource';
    const res = await plain(conformance, 601, 'resources/read', { uri });
    expect(res.status, res.text).to.equal(200);
    const answer = answerOf(res);
    expect(answer.id).to.equal(601);
    expect(answer.error.code).to.equal(-32602);
    expect(answer.error.data.uri).to.equal(uri);
    const known = answerOf(await plain(conformance, 602, 'resources/read', { uri: 'test://static-text' }));
    expect(known.result.contents[0].text).to.equal('This is the content of the static text resource.');
  });

  it('gathers the questions a server sends at once into one input_required result, and the retry answers them all', async () => {
    const capabilities = { sampling: {}, elicitation: {}, roots: {} };
    const ask = (id: string, extra: Record<string, unknown> = {}) => {
      const meta = { [VERSION_META]: MODERN, [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: capabilities };
      const params = { name: 'test_input_required_result_multiple_inputs', arguments: {}, ...extra, _meta: meta };
      return post(`${conformance}/mcp`, { jsonrpc: '2.0', id, method: 'tools/call', params }, { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': params.name });
    };
    const first = answerOf(await ask('m-1'));
    expect(first.id).to.equal('m-1');
    expect(first.result.resultType).to.equal('input_required');
    const requests = first.result.inputRequests as Record<string, { method: string }>;
    expect(Object.fromEntries(Object.entries(requests).map(([key, request]) => [key, request.method]))).to.deep.equal({
      user_name: 'elicitation/create',
      greeting: 'sampling/createMessage',
      client_roots: 'roots/list',
    });
    const done = answerOf(
      await ask('m-2', {
        requestState: first.result.requestState,
        inputResponses: {
          user_name: { action: 'accept', content: { name: 'Ada' } },
          greeting: { role: 'assistant', model: 'm', content: { type: 'text', text: 'Hello' } },
          client_roots: { roots: [{ uri: 'file:///a', name: 'a' }] },
        },
      }),
    );
    expect(done.id).to.equal('m-2');
    expect(done.result.resultType).to.equal('complete');
    expect(textOf(done.result)).to.equal('Hello Ada (1 roots)');
  });

  it('asks a question the server sends after an answer in a further round, with a new requestState', async () => {
    const capabilities = { elicitation: {} };
    const ask = (id: string, extra: Record<string, unknown> = {}) => {
      const meta = { [VERSION_META]: MODERN, [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: capabilities };
      const params = { name: 'test_input_required_result_multi_round', arguments: {}, ...extra, _meta: meta };
      return post(`${conformance}/mcp`, { jsonrpc: '2.0', id, method: 'tools/call', params }, { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': params.name });
    };
    const first = answerOf(await ask('r-1'));
    expect(Object.keys(first.result.inputRequests)).to.deep.equal(['step1']);
    const second = answerOf(await ask('r-2', { requestState: first.result.requestState, inputResponses: { step1: { action: 'accept', content: { name: 'Ada' } } } }));
    expect(Object.keys(second.result.inputRequests)).to.deep.equal(['step2']);
    expect(second.result.requestState).to.not.equal(first.result.requestState);
    const done = answerOf(await ask('r-3', { requestState: second.result.requestState, inputResponses: { step2: { action: 'accept', content: { color: 'blue' } } } }));
    expect(textOf(done.result)).to.equal('Ada likes blue');
  });

  it('keeps a question the server sends after the response ended with input_required, for the next round', async () => {
    const meta = { [VERSION_META]: MODERN, [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: { sampling: {} } };
    const ask = (id: string, extra: Record<string, unknown> = {}) =>
      post(
        `${base}/mcp`,
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'sample_twice', arguments: { ms: 300 }, ...extra, _meta: meta } },
        { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'sample_twice' },
      );
    const reply = (text: string) => ({ role: 'assistant', model: 'm', content: { type: 'text', text } });
    const first = answerOf(await ask('t-1'));
    const [firstKey] = Object.keys(first.result.inputRequests);
    expect(JSON.stringify(first.result.inputRequests[firstKey].params.messages)).to.contain('first');
    // The second question comes 300 ms after the first, when this response has ended: wait for it.
    expect(await waitFor(() => existsSync(asksLog) && readFileSync(asksLog, 'utf8').trim().split('\n').length === 2, 5000)).to.equal(true);
    const second = answerOf(await ask('t-2', { requestState: first.result.requestState, inputResponses: { [firstKey]: reply('one') } }));
    expect(second.result.resultType, JSON.stringify(second)).to.equal('input_required');
    const [secondKey] = Object.keys(second.result.inputRequests);
    expect(secondKey).to.not.equal(firstKey);
    expect(JSON.stringify(second.result.inputRequests[secondKey].params.messages)).to.contain('second');
    const done = answerOf(await ask('t-3', { requestState: second.result.requestState, inputResponses: { [secondKey]: reply('two') } }));
    expect(textOf(done.result)).to.equal('one + two');
  });

  it('answers the server from inputResponses sent without requestState, ignoring keys it does not ask, and asks what they do not answer', async () => {
    const meta = { [VERSION_META]: MODERN, [INFO_META]: { name: 'raw', version: '1' }, [CAPABILITIES_META]: { elicitation: {} } };
    const call = (id: string, inputResponses: unknown) =>
      post(
        `${conformance}/mcp`,
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'test_input_required_result_elicitation', arguments: {}, inputResponses, _meta: meta } },
        { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'test_input_required_result_elicitation' },
      );
    const answered = answerOf(await call('p-1', { user_name: { action: 'accept', content: { name: 'Alice' } }, unknown_extra_key: { action: 'accept', content: {} } }));
    expect(answered.id).to.equal('p-1');
    expect(answered.result.resultType).to.equal('complete');
    expect(textOf(answered.result)).to.equal('Hello, Alice!');
    for (const [id, inputResponses] of [['p-2', { wrong_key: { action: 'accept', content: {} } }], ['p-3', { user_name: 12345 }], ['p-4', null]] as const) {
      const asked = answerOf(await call(id, inputResponses));
      expect(asked.result.resultType, `${id}: ${JSON.stringify(asked)}`).to.equal('input_required');
      expect(Object.keys(asked.result.inputRequests)).to.deep.equal(['user_name']);
      // Finish the call, so that its server is free again and ends with the test.
      const retry = { user_name: { action: 'accept', content: { name: id } } };
      const done = await post(
        `${conformance}/mcp`,
        { jsonrpc: '2.0', id: `${id}-retry`, method: 'tools/call', params: { name: 'test_input_required_result_elicitation', arguments: {}, requestState: asked.result.requestState, inputResponses: retry, _meta: meta } },
        { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'test_input_required_result_elicitation' },
      );
      expect(textOf(answerOf(done).result)).to.equal(`Hello, ${id}!`);
    }
  });
});
