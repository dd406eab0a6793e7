/**
 * Resource subscriptions on MCP 2026-07-28 `subscriptions/listen` streams, in front of 2025-era
 * servers: the gateway subscribes the pooled server (`resources/subscribe`) once per URI, passes
 * its `notifications/resources/updated` to every stream watching the URI with that stream's
 * subscription id, and unsubscribes when the last one goes. Raw listen streams against a fixture
 * server that records what it receives, two consumers (each has pooled servers of its own),
 * mcp-acl rules over resource URIs, and the real v2 SDK client through to server-everything.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestGateway } from '../helpers/gateway.js';
import { EVERYTHING_SERVER, FAULT_SERVER, bridgeRoute, post, readEvents, recordedStdin, startBridgeGateway, textOf, waitFor, type SseEventRead } from './support.js';

const MODERN = '2026-07-28';
const SUBSCRIPTION_META = 'io.modelcontextprotocol/subscriptionId';

function modern(id: number | string, method: string, params: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
  const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } };
  const all: Record<string, string> = { 'mcp-protocol-version': MODERN, 'mcp-method': method, ...headers };
  if (typeof params.name === 'string') all['mcp-name'] = params.name;
  return { body, headers: all };
}

/** An open listen stream: its events as they arrive, until `close`. */
interface Listening {
  readonly status: number;
  messages(): Array<Record<string, any>>;
  updates(): string[];
  close(): void;
}

async function listen(url: string, id: string, notifications: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Listening> {
  const { body, headers: all } = modern(id, 'subscriptions/listen', { notifications }, headers);
  const abort = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...all },
    body: JSON.stringify(body),
    signal: abort.signal,
  });
  let seen: SseEventRead[] = [];
  // Reads until the stream is aborted; `seen` is the reader's own list, filled as events arrive.
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    void readEvents(res, (events) => ((seen = events), false), 60_000).catch(() => undefined);
  }
  const messages = () => seen.map((e) => JSON.parse(e.data) as Record<string, any>);
  const listening: Listening = {
    status: res.status,
    messages,
    updates: () => messages().filter((m) => m.method === 'notifications/resources/updated').map((m) => m.params.uri),
    close: () => abort.abort(),
  };
  expect(await waitFor(() => messages().length > 0, 5000), `listen ${id} acknowledged`).to.equal(true);
  return listening;
}

describe('mcp-bridge: resource subscriptions of MCP 2026-07-28 listen streams', function () {
  this.timeout(40_000);
  let gateway: TestGateway;
  let watched: string;
  let guarded: string;
  let plain: string;
  let everything: string;
  let dir: string;
  let stdinLog: string;
  let guardedLog: string;
  const streams: Listening[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-subscriptions-'));
    stdinLog = join(dir, 'stdin.log');
    guardedLog = join(dir, 'guarded.log');
    gateway = await startBridgeGateway({ mcp: { allowed_commands: ['node'] } });
    for (const name of ['alice', 'bob']) {
      const res = await gateway.admin('PUT', `/consumers/${name}`, { username: name, plugins: { 'key-auth': { key: `${name}-key-0123456789` } } });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    }
    watched = await bridgeRoute(gateway, 'watched', [FAULT_SERVER, '--subscribable', `--record-stdin=${stdinLog}`], { session_idle_timeout: 0.5 }, { plugins: { 'key-auth': {} } });
    guarded = await bridgeRoute(gateway, 'guarded', [FAULT_SERVER, '--subscribable', `--record-stdin=${guardedLog}`], { session_idle_timeout: 0.5 }, {
      plugins: { 'mcp-acl': { resources: { deny: ['test://secret*'] } } },
    });
    plain = await bridgeRoute(gateway, 'plain', [FAULT_SERVER], { session_idle_timeout: 0.5 });
    everything = await bridgeRoute(gateway, 'everything', [EVERYTHING_SERVER, 'stdio'], { session_idle_timeout: 0.5 });
  });

  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
  });

  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (...args: Parameters<typeof listen>) => {
    const stream = await listen(...args);
    streams.push(stream);
    return stream;
  };
  const asAlice = { apikey: 'alice-key-0123456789' };
  const asBob = { apikey: 'bob-key-0123456789' };
  const received = (log = stdinLog) => recordedStdin(log);
  const asked = (method: string, uri: string, log = stdinLog) => received(log).filter((m) => m.method === method && m.params.uri === uri).length;
  const touch = async (url: string, uris: string[], headers: Record<string, string> = {}) => {
    const call = modern(`touch-${uris.join()}`, 'tools/call', { name: 'touch', arguments: { uris } }, headers);
    const res = await post(url, call.body, call.headers);
    expect(textOf(res.json.result), res.text).to.equal('touched');
  };

  it('subscribes the pooled server once per URI, passes each update to every stream watching it with its own id, unsubscribes when the last goes', async () => {
    const url = `${watched}/mcp`;
    const first = await open(url, 'w-1', { resourceSubscriptions: ['test://a', 'test://b', 'test://refused-1'] }, asAlice);
    expect(first.messages()[0]).to.deep.equal({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: { resourceSubscriptions: ['test://a', 'test://b'] }, _meta: { [SUBSCRIPTION_META]: 'w-1' } },
    });
    const second = await open(url, 'w-2', { resourceSubscriptions: ['test://a'] }, asAlice);
    expect(second.messages()[0].params.notifications).to.deep.equal({ resourceSubscriptions: ['test://a'] });
    expect([asked('resources/subscribe', 'test://a'), asked('resources/subscribe', 'test://b')]).to.deep.equal([1, 1]);

    await touch(url, ['test://a', 'test://c'], asAlice);
    expect(await waitFor(() => first.updates().length === 1 && second.updates().length === 1, 5000), 'both streams heard test://a').to.equal(true);
    const [toFirst, toSecond] = [first, second].map((s) => s.messages().find((m) => m.method === 'notifications/resources/updated'));
    expect(toFirst).to.deep.equal({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'test://a', _meta: { [SUBSCRIPTION_META]: 'w-1' } } });
    expect(toSecond?.params._meta).to.deep.equal({ [SUBSCRIPTION_META]: 'w-2' });
    await touch(url, ['test://b'], asAlice);
    expect(await waitFor(() => first.updates().length === 2, 5000)).to.equal(true);
    expect(first.updates()).to.deep.equal(['test://a', 'test://b']);
    expect(second.updates()).to.deep.equal(['test://a']);

    first.close();
    expect(await waitFor(() => asked('resources/unsubscribe', 'test://b') === 1, 5000), 'test://b unsubscribed with its last stream').to.equal(true);
    expect(asked('resources/unsubscribe', 'test://a'), 'test://a still has a stream').to.equal(0);
    second.close();
    expect(await waitFor(() => asked('resources/unsubscribe', 'test://a') === 1, 5000), 'test://a unsubscribed with its last stream').to.equal(true);
  });

  it("keeps consumers apart: each consumer's pooled server is subscribed, and one's updates never reach the other", async () => {
    const url = `${watched}/mcp`;
    const before = asked('resources/subscribe', 'test://shared');
    const alice = await open(url, 'a-1', { resourceSubscriptions: ['test://shared'] }, asAlice);
    const bob = await open(url, 'b-1', { resourceSubscriptions: ['test://shared'] }, asBob);
    expect(asked('resources/subscribe', 'test://shared') - before, 'one subscription per consumer').to.equal(2);
    await touch(url, ['test://shared'], asAlice);
    expect(await waitFor(() => alice.updates().length === 1, 5000)).to.equal(true);
    await touch(url, ['test://shared'], asBob);
    expect(await waitFor(() => bob.updates().length === 1, 5000)).to.equal(true);
    // Alice's update came first: had it crossed over, Bob would hold two.
    expect(bob.updates()).to.have.length(1);
    expect(alice.updates()).to.have.length(1);
  });

  it('leaves out the URIs the route’s access rules deny: never subscribed, never heard', async () => {
    const url = `${guarded}/mcp`;
    const stream = await open(url, 'g-1', { toolsListChanged: true, resourceSubscriptions: ['test://open', 'test://secret-plans'] });
    expect(stream.messages()[0].params.notifications).to.deep.equal({ toolsListChanged: true, resourceSubscriptions: ['test://open'] });
    await touch(url, ['test://secret-plans', 'test://open']);
    expect(await waitFor(() => stream.updates().length === 1, 5000)).to.equal(true);
    expect(stream.updates()).to.deep.equal(['test://open']);
    expect(asked('resources/subscribe', 'test://secret-plans', guardedLog)).to.equal(0);
  });

  it('grants no resource subscriptions on a server that cannot subscribe, nor list changes it does not declare, and refuses a malformed or oversized list with 400', async () => {
    // Nor list changes it does not declare (it has no prompts, no resources).
    const stream = await open(`${plain}/mcp`, 'p-1', { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ['test://a'] });
    expect(stream.messages()[0].params.notifications).to.deep.equal({ toolsListChanged: true });
    const malformed = modern('p-2', 'subscriptions/listen', { notifications: { resourceSubscriptions: 'test://a' } });
    const bad = await post(`${plain}/mcp`, malformed.body, malformed.headers);
    expect(bad.status).to.equal(400);
    expect(bad.json).to.deep.include({ id: 'p-2' });
    expect(bad.json.error.code).to.equal(-32602);
    const many = modern('p-3', 'subscriptions/listen', { notifications: { resourceSubscriptions: Array.from({ length: 101 }, (_, i) => `test://r/${i}`) } });
    const tooMany = await post(`${watched}/mcp`, many.body, { ...many.headers, ...asAlice });
    expect(tooMany.status).to.equal(400);
    expect(tooMany.json.error.code).to.equal(-32602);
    expect(tooMany.json.error.message).to.contain('max_resource_subscriptions');
    expect(asked('resources/subscribe', 'test://r/0')).to.equal(0);
  });

  it("bounds the URIs a consumer's pooled server watches for all its streams together (max_resource_subscriptions, 100)", async () => {
    const url = `${watched}/mcp`;
    const first = await open(url, 'm-1', { resourceSubscriptions: Array.from({ length: 60 }, (_, i) => `test://many/${i}`) }, asBob);
    expect(first.messages()[0].params.notifications.resourceSubscriptions).to.have.length(60);
    // 40 of these are watched already (they cost nothing more); 50 are new: 110 in all.
    const more = modern('m-2', 'subscriptions/listen', { notifications: { resourceSubscriptions: Array.from({ length: 90 }, (_, i) => `test://many/${i + 20}`) } }, asBob);
    const refused = await post(url, more.body, more.headers);
    expect(refused.status, refused.text).to.equal(400);
    expect(refused.json.error.code).to.equal(-32602);
    expect(refused.json.error.message).to.contain('110').and.to.contain('max_resource_subscriptions');
    expect(asked('resources/subscribe', 'test://many/60')).to.equal(0);
    // Within the bound (40 more), another stream is granted; Alice's streams count apart.
    const fits = await open(url, 'm-3', { resourceSubscriptions: Array.from({ length: 80 }, (_, i) => `test://many/${i + 20}`) }, asBob);
    expect(fits.messages()[0].params.notifications.resourceSubscriptions).to.have.length(80);
    const alice = await open(url, 'm-4', { resourceSubscriptions: Array.from({ length: 100 }, (_, i) => `test://many/${i}`) }, asAlice);
    expect(alice.messages()[0].params.notifications.resourceSubscriptions).to.have.length(100);
  });

  it('the v2 SDK client listens to a server-everything resource and hears its updates', async () => {
    const client = new ModernClient({ name: 'watcher', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } });
    const updates: string[] = [];
    client.setNotificationHandler('notifications/resources/updated', (notification) => void updates.push(notification.params.uri));
    await client.connect(new ModernTransport(new URL(`${everything}/mcp`)));
    try {
      const { resources } = await client.listResources();
      const uri = resources[0].uri;
      const subscription = await client.listen({ resourceSubscriptions: [uri] });
      expect(subscription.honoredFilter.resourceSubscriptions).to.deep.equal([uri]);
      // server-everything sends an update for each subscribed URI when its updates are switched on.
      const toggled = await client.callTool({ name: 'toggle-subscriber-updates' });
      expect(textOf(toggled)).to.contain('Started');
      expect(await waitFor(() => updates.length > 0, 5000), 'an update reached the client').to.equal(true);
      expect(updates[0]).to.equal(uri);
      await subscription.close();
      expect(textOf(await client.callTool({ name: 'toggle-subscriber-updates' }))).to.contain('Stopped');
    } finally {
      await client.close();
    }
  });
});
