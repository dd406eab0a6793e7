/**
 * mcp-acl on an mcp-bridge route in front of server-everything, with the real SDK client over both
 * transports: each consumer sees and can use only its tools, prompts and resources; a denied call
 * reads exactly like a call to a name that does not exist; the route's deny beats a consumer's
 * allow; the access log and the metrics record denials; with OAuth, two tokens with different
 * scopes see different tool lists.
 */
import { expect } from 'chai';
import { startAuthorizationServer, type TestAuthorizationServer } from '../helpers/authorization-server.js';
import { http, type TestGateway } from '../helpers/gateway.js';
import {
  EVERYTHING_SERVER,
  TRANSPORTS,
  bridgeRoute,
  connect,
  endRawSession,
  post,
  rawSession,
  responseOf,
  startBridgeGateway,
  type Connected,
} from '../mcp/support.js';

const KEYS = { alice: 'alice-key-0123456789', bob: 'bob-key-0123456789', carol: 'carol-key-0123456789' };
const FEATURES = 'demo://resource/static/document/features.md';
const ARCHITECTURE = 'demo://resource/static/document/architecture.md';

/** The answer a client gets for a name, with the name itself taken out: what it can compare. */
function shapeOf(answer: unknown, name: string): string {
  return JSON.stringify(answer).split(name).join('<name>');
}

/** What a client reads for a request that fails: the result, or the error the SDK throws (code and message). */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return { result: await call() };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return { error: { code: e.code, message: e.message } };
  }
}

async function accessLine(gw: TestGateway, test: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 50; i++) {
    const found = gw.accessLogs.map((l) => JSON.parse(l) as Record<string, unknown>).find(test);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no such access log line; lines:\n${gw.accessLogs.slice(-10).join('\n')}`);
}

describe('mcp-acl', function () {
  this.timeout(60_000);

  describe('schema', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startBridgeGateway();
    });
    after(() => gw.stop());

    for (const [why, conf] of [
      ['an unknown field', { allow: ['a'], permit: ['b'] }],
      ['an empty pattern', { deny: [''] }],
      ['a pattern that is not a string', { allow: [1] }],
      ['an unknown field in prompts', { prompts: { only: ['x'] } }],
      ['a scope rule with an unknown field', { scopes: { 'tools:write': { grant: ['x'] } } }],
    ] as const) {
      it(`refuses ${why} with a 400 naming it`, async () => {
        const res = await gw.admin('PUT', '/routes/bad', { uri: '/bad/*', plugins: { 'mcp-acl': conf }, upstream: { nodes: { '127.0.0.1:9': 1 } } });
        expect(res.status, res.text).to.equal(400);
        expect(res.json.error_msg).to.match(/mcp-acl/);
      });
    }
  });

  describe('on an mcp-bridge route, per consumer', () => {
    let gw: TestGateway;
    let base: string;

    before(async () => {
      gw = await startBridgeGateway();
      const consumers: Record<string, Record<string, unknown>> = {
        // Alice's allow list names get-env, which the route denies.
        alice: { allow: ['echo', 'get-sum', 'get-env'], prompts: { allow: ['simple-*'] } },
        bob: { allow: ['*'], deny: ['echo'], resources: { allow: [ARCHITECTURE] } },
      };
      for (const [name, key] of Object.entries(KEYS)) {
        const acl = consumers[name];
        const res = await gw.admin('PUT', `/consumers/${name}`, { username: name, plugins: { 'key-auth': { key }, ...(acl ? { 'mcp-acl': acl } : {}) } });
        expect(res.status, res.text).to.be.oneOf([200, 201]);
      }
      base = await bridgeRoute(gw, 'ev', [EVERYTHING_SERVER, 'stdio'], {}, {
        plugins: {
          'key-auth': {},
          'mcp-acl': { deny: ['get-env', 'trigger-*'], resources: { deny: [FEATURES] } },
        },
      });
    });
    after(() => gw.stop());

    for (const transport of TRANSPORTS) {
      describe(`over ${transport}`, () => {
        const sessions: Connected[] = [];
        const as = async (who: keyof typeof KEYS) => {
          const c = await connect(base, transport, { headers: { apikey: KEYS[who] } });
          sessions.push(c);
          return c.client;
        };
        afterEach(async () => {
          for (const c of sessions.splice(0)) await c.close();
        });

        it('each consumer lists only its tools, and the route deny beats a consumer allow', async () => {
          const alice = await as('alice');
          const bob = await as('bob');
          const carol = await as('carol');
          expect((await alice.listTools()).tools.map((t) => t.name).sort()).to.deep.equal(['echo', 'get-sum']);
          const bobs = (await bob.listTools()).tools.map((t) => t.name);
          expect(bobs).to.include.members(['get-sum', 'get-tiny-image']);
          expect(bobs).to.not.include.members(['echo']);
          // The route's denies hold for everyone, whatever their own rules allow.
          for (const tools of [bobs, (await carol.listTools()).tools.map((t) => t.name)]) {
            expect(tools.filter((t) => t === 'get-env' || t.startsWith('trigger-'))).to.deep.equal([]);
          }
          const echo = (await carol.listTools()).tools.find((t) => t.name === 'echo');
          expect(echo?.inputSchema, 'a kept tool keeps its schema').to.have.property('properties');
        });

        it('a denied call reads exactly like a call to a tool that does not exist, and the server never runs it', async () => {
          const alice = await as('alice');
          expect(await alice.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })).to.have.nested.property('content[0].text').that.includes('5');
          const denied = await outcome(() => alice.callTool({ name: 'get-env', arguments: {} }));
          const unknown = await outcome(() => alice.callTool({ name: 'no-such-tool', arguments: {} }));
          expect(shapeOf(denied, 'get-env')).to.equal(shapeOf(unknown, 'no-such-tool'));
          expect(JSON.stringify(denied)).to.include('get-env').and.not.include('PATH');
          // Denied by the route for every consumer, including one that allows it for herself.
          const bob = await as('bob');
          const bobsEcho = await outcome(() => bob.callTool({ name: 'echo', arguments: { message: 'hi' } }));
          expect(shapeOf(bobsEcho, 'echo')).to.equal(shapeOf(unknown, 'no-such-tool'));
        });

        it('prompts and resources are filtered and refused the same way', async () => {
          const alice = await as('alice');
          expect((await alice.listPrompts()).prompts.map((p) => p.name)).to.deep.equal(['simple-prompt']);
          const deniedPrompt = await outcome(() => alice.getPrompt({ name: 'args-prompt', arguments: { city: 'x' } }));
          const unknownPrompt = await outcome(() => alice.getPrompt({ name: 'no-such-prompt' }));
          expect(shapeOf(deniedPrompt, 'args-prompt')).to.equal(shapeOf(unknownPrompt, 'no-such-prompt'));

          // Completing a denied prompt's argument reads as completing one that does not exist.
          const complete = (name: string) => alice.complete({ ref: { type: 'ref/prompt', name }, argument: { name: 'department', value: 'E' } });
          const carolSees = await (await as('carol')).complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } });
          expect(carolSees.completion.values, 'the prompt completes for a consumer allowed it').to.include('Engineering');
          const deniedCompletion = await outcome(() => complete('completable-prompt'));
          const unknownCompletion = await outcome(() => complete('no-such-prompt'));
          expect(shapeOf(deniedCompletion, 'completable-prompt')).to.equal(shapeOf(unknownCompletion, 'no-such-prompt'));

          const bob = await as('bob');
          expect((await bob.listResources()).resources.map((r) => r.uri)).to.deep.equal([ARCHITECTURE]);
          expect(await bob.readResource({ uri: ARCHITECTURE })).to.have.property('contents');
          const carol = await as('carol');
          const listed = (await carol.listResources()).resources.map((r) => r.uri);
          expect(listed).to.include(ARCHITECTURE).and.not.include(FEATURES);
          const deniedRead = await outcome(() => carol.readResource({ uri: FEATURES }));
          const unknownRead = await outcome(() => carol.readResource({ uri: 'demo://resource/static/document/none.md' }));
          expect(shapeOf(deniedRead, FEATURES)).to.equal(shapeOf(unknownRead, 'demo://resource/static/document/none.md'));
          const deniedSubscribe = await outcome(() => carol.subscribeResource({ uri: FEATURES }));
          const unknownSubscribe = await outcome(() => carol.subscribeResource({ uri: 'demo://resource/static/document/none.md' }));
          expect(shapeOf(deniedSubscribe, FEATURES)).to.equal(shapeOf(unknownSubscribe, 'demo://resource/static/document/none.md'));
        });
      });
    }

    it('the access log marks a denied call with its name and the plugin; the metrics count it', async () => {
      const headers = { apikey: KEYS.alice };
      const session = await rawSession(`${base}`, headers);
      try {
        const res = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 'denied-1', method: 'tools/call', params: { name: 'get-env', arguments: {} } }, { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
        expect(res.status).to.equal(200);
        expect(responseOf(res, 'denied-1')).to.have.nested.property('result.isError', true);
        const line = await accessLine(gw, (l) => l.mcp_id === 'denied-1');
        expect(line).to.deep.include({ mcp_method: 'tools/call', mcp_name: 'get-env', mcp_denied: ['get-env'], mcp_denied_by: 'mcp-acl', consumer: 'alice' });
        const allowed = await accessLine(gw, (l) => l.mcp_method === 'initialize');
        expect(allowed).to.not.have.property('mcp_denied');
      } finally {
        await endRawSession(base, session, headers);
      }
      const metrics = (await http('GET', gw.metricsUrl)).text;
      expect(metrics).to.match(/tollgate_mcp_denied_total\{route="ev",plugin="mcp-acl",method="tools\/call",name="get-env"\} [1-9]/);
      expect(metrics).to.match(/tollgate_mcp_tool_calls_total\{route="ev",server="",tool="get-env",outcome="denied"\} [1-9]/);
    });

    it('in a JSON-RPC batch (2025-03-26), each message is decided on its own', async () => {
      const headers = { apikey: KEYS.alice, 'mcp-protocol-version': '2025-03-26' };
      const init = await post(`${base}/mcp`, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }, { apikey: KEYS.alice });
      const session = init.headers.get('mcp-session-id')!;
      try {
        await post(`${base}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, { ...headers, 'mcp-session-id': session });
        const res = await post(
          `${base}/mcp`,
          [
            { jsonrpc: '2.0', id: 'b-denied', method: 'tools/call', params: { name: 'get-env', arguments: {} } },
            { jsonrpc: '2.0', id: 'b-list', method: 'tools/list' },
            { jsonrpc: '2.0', id: 'b-sum', method: 'tools/call', params: { name: 'get-sum', arguments: { a: 20, b: 22 } } },
          ],
          { ...headers, 'mcp-session-id': session },
        );
        expect(res.status, res.text).to.equal(200);
        // One JSON array, or an SSE stream when the server said something first (a list_changed).
        const messages: Array<{ id?: string }> = res.json ?? res.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
        const answers = new Map(messages.map((a) => [a.id, a]));
        expect(JSON.stringify(answers.get('b-denied'))).to.include('get-env').and.include('not found');
        expect((answers.get('b-list') as any).result.tools.map((t: { name: string }) => t.name).sort()).to.deep.equal(['echo', 'get-sum']);
        expect(JSON.stringify(answers.get('b-sum'))).to.include('42');
        const line = await accessLine(gw, (l) => Array.isArray(l.mcp_denied) && l.mcp_session_id === session);
        expect(line.mcp_denied).to.deep.equal(['get-env']);
      } finally {
        await endRawSession(base, session, { apikey: KEYS.alice });
      }
    });

    it("a consumer group's rules follow its consumers, and the route's deny still holds for them", async () => {
      const group = await gw.admin('PUT', '/consumer_groups/sums', { plugins: { 'mcp-acl': { allow: ['get-sum', 'get-env'] } } });
      expect(group.status, group.text).to.be.oneOf([200, 201]);
      const member = await gw.admin('PUT', '/consumers/dora', { username: 'dora', group_id: 'sums', plugins: { 'key-auth': { key: 'dora-key-0123456789' } } });
      expect(member.status, member.text).to.be.oneOf([200, 201]);
      const dora = await connect(base, 'streamable-http', { headers: { apikey: 'dora-key-0123456789' } });
      try {
        expect((await dora.client.listTools()).tools.map((t) => t.name)).to.deep.equal(['get-sum']);
      } finally {
        await dora.close();
      }
    });

    it('a consumer without rules of its own gets the route rules; a change to its rules applies at once', async () => {
      const carol = await connect(base, 'streamable-http', { headers: { apikey: KEYS.carol } });
      try {
        expect((await carol.client.listTools()).tools.map((t) => t.name)).to.include('echo');
        const res = await gw.admin('PUT', '/consumers/carol', { username: 'carol', plugins: { 'key-auth': { key: KEYS.carol }, 'mcp-acl': { allow: ['echo'] } } });
        expect(res.status, res.text).to.equal(200);
        expect((await carol.client.listTools()).tools.map((t) => t.name)).to.deep.equal(['echo']);
      } finally {
        await carol.close();
      }
    });
  });

  describe('scope rules (openid-connect)', () => {
    let as: TestAuthorizationServer;
    let gw: TestGateway;
    let base: string;
    let resource: string;

    before(async () => {
      as = await startAuthorizationServer();
      gw = await startBridgeGateway();
      resource = `${gw.url}/scoped/mcp`;
      as.resources.set(resource, { scope: 'mcp:tools tools:write', format: 'jwt' });
      base = await bridgeRoute(gw, 'scoped', [EVERYTHING_SERVER, 'stdio'], {}, {
        plugins: {
          'openid-connect': { discovery: as.discovery, use_jwks: true, resource, scopes_supported: ['mcp:tools', 'tools:write'], required_scopes: ['mcp:tools'] },
          // get-* tools are for tokens with tools:write; a held scope's deny holds too.
          'mcp-acl': { allow: ['echo'], scopes: { 'tools:write': { allow: ['get-*'], deny: ['get-env'] } } },
        },
      });
    });
    after(async () => {
      await gw.stop();
      await as.close();
    });

    it('two tokens with different scopes see different tool lists, and calls follow the lists', async () => {
      const reader = await as.issueToken({ sub: 'reader', resource, scope: 'mcp:tools' });
      const writer = await as.issueToken({ sub: 'writer', resource, scope: 'mcp:tools tools:write' });
      const r = await connect(base, 'streamable-http', { headers: { authorization: `Bearer ${reader}` } });
      const w = await connect(base, 'streamable-http', { headers: { authorization: `Bearer ${writer}` } });
      try {
        expect((await r.client.listTools()).tools.map((t) => t.name)).to.deep.equal(['echo']);
        const writers = (await w.client.listTools()).tools.map((t) => t.name);
        expect(writers).to.include.members(['echo', 'get-sum', 'get-tiny-image']);
        expect(writers).to.not.include('get-env');
        const unknown = await outcome(() => r.client.callTool({ name: 'no-such-tool', arguments: {} }));
        expect(shapeOf(await outcome(() => r.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })), 'get-sum')).to.equal(shapeOf(unknown, 'no-such-tool'));
        expect(await w.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).to.have.nested.property('content[0].text').that.includes('3');
      } finally {
        await r.close();
        await w.close();
      }
    });
  });
});
