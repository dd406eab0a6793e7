/**
 * http-logger against a real local collector: batching, the entry and its redaction, retries with
 * backoff, a bounded buffer while the collector is away (drops counted), a collector that hangs
 * or answers garbage (faults-checklist B-23), MCP audit entries over both transports, and the
 * collector going down mid-run without changing a single response.
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { FAULT_SERVER, bridgeRoute, connect, startBridgeGateway, TRANSPORTS } from '../mcp/support.js';
import { putConsumer, putRoute, sleep } from '../plugins/support.js';
import { scrape, startCollector, type Collector } from './support.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

describe('http-logger', () => {
  let upstream: TestUpstream;
  let collector: Collector;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { admin: { keys: [{ name: 'ro', key: VIEWER_KEY, role: 'viewer' }] } } });
    await putConsumer(gw, 'dave', { 'key-auth': { key: 'dave-secret-key' } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  beforeEach(async () => {
    collector = await startCollector();
  });
  afterEach(() => collector.close());

  const logger = (extra: Record<string, unknown> = {}) => ({ uri: collector.url, batch_max_size: 5, inactive_timeout: 1, ...extra });

  describe('schema', () => {
    it('requires an http(s) uri and refuses unknown fields', async () => {
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'http-logger': {} })).status).to.equal(400);
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'http-logger': { uri: 'ftp://x' } })).status).to.equal(400);
      expect((await putRoute(gw, 'bad', '/bad', upstream, { 'http-logger': { uri: 'http://x', include_req_body_expr: [] } })).status).to.equal(400);
    });

    it('hides auth_header from the viewer role', async () => {
      await putRoute(gw, 'masked', '/masked', upstream, { 'http-logger': logger({ auth_header: 'Bearer collector-token' }) });
      expect((await gw.admin('GET', '/routes/masked')).text).to.include('collector-token');
      const viewer = await gw.admin('GET', '/routes/masked', undefined, VIEWER_KEY);
      expect(viewer.status).to.equal(200);
      expect(viewer.text).to.not.include('collector-token');
    });
  });

  describe('happy path', () => {
    it('sends full batches at once and the rest after inactive_timeout, as JSON arrays with the auth header', async () => {
      await putRoute(gw, 'batched', '/batched', upstream, { 'http-logger': logger({ auth_header: 'Bearer collector-token' }) });
      for (let i = 0; i < 12; i++) expect((await gw.get(`/batched?i=${i}`)).status).to.equal(200);
      expect(await waitFor(() => collector.batches.length === 2, 3000)).to.equal(true);
      expect(collector.batches.map((b) => b.entries.length)).to.deep.equal([5, 5]);
      expect(await waitFor(() => collector.batches.length === 3, 3000)).to.equal(true);
      expect(collector.batches[2].entries).to.have.length(2);
      expect(collector.batches[0].headers.authorization).to.equal('Bearer collector-token');
      expect(collector.batches[0].headers['content-type']).to.equal('application/json');
      expect(collector.entries().map((e) => e.request.querystring.i)).to.deep.equal([...Array(12).keys()].map(String));
      const page = await scrape(gw);
      expect(page.value('tollgate_log_batches_total', { plugin: 'http-logger', route: 'batched', outcome: 'sent' })).to.equal(3);
    });

    it('sends each full batch at once, not behind the sends before it: up to max_concurrent_batches at a time', async () => {
      // With one batch in flight at a time, batch_max_size 1 and a collector answering in 200 ms
      // delivered one entry per answer (APISIX sends every full batch at once).
      collector.mode = 'slow';
      await putRoute(gw, 'prompt', '/prompt', upstream, { 'http-logger': logger({ batch_max_size: 1, max_concurrent_batches: 3 }) });
      const responses = await Promise.all([...Array(9).keys()].map((i) => gw.get(`/prompt?i=${i}`)));
      expect(responses.map((r) => r.status)).to.deep.equal(Array(9).fill(200));
      expect(await waitFor(() => collector.batches.length === 9, 5000)).to.equal(true);
      expect(collector.maxOpen, 'batches in flight at once').to.equal(3);
      expect(collector.entries().map((e) => Number(e.request.querystring.i)).sort((a, b) => a - b)).to.deep.equal([...Array(9).keys()]);
    });

    it("writes APISIX's entry, consumer and latencies included, with credentials redacted", async () => {
      await putRoute(gw, 'entry', '/entry', upstream, { 'key-auth': {}, 'http-logger': logger({ batch_max_size: 1 }) });
      const res = await gw.get('/entry?apikey=dave-secret-key&page=2', { apikey: 'dave-secret-key', cookie: 'sid=cookie-secret', authorization: 'Basic c2VjcmV0', 'x-trace': 'abc' });
      expect(res.status).to.equal(200);
      expect(await waitFor(() => collector.batches.length === 1, 3000)).to.equal(true);
      // batch_max_size 1: the entry itself, not an array of one (APISIX).
      expect(collector.batches[0].body.trim().startsWith('{')).to.equal(true);
      const [entry] = collector.entries();
      expect(entry.route_id).to.equal('entry');
      expect(entry.consumer).to.deep.equal({ username: 'dave' });
      expect(entry.client_ip).to.equal('127.0.0.1');
      expect(entry.upstream).to.equal(upstream.address);
      expect(entry.request.method).to.equal('GET');
      expect(entry.request.querystring).to.deep.equal({ apikey: '[redacted]', page: '2' });
      expect(entry.request.headers).to.include({ apikey: '[redacted]', cookie: '[redacted]', authorization: '[redacted]', 'x-trace': 'abc' });
      expect(entry.request.size).to.be.greaterThan(50);
      expect(entry.response.status).to.equal(200);
      expect(entry.response.size).to.be.at.least(Buffer.byteLength(res.text));
      expect(entry.latency).to.be.at.least(entry.upstream_latency);
      expect(entry.apisix_latency).to.be.a('number');
      expect(entry.start_time).to.be.within(Date.now() - 10_000, Date.now());
      expect(entry.request_id).to.match(/^[0-9a-f-]{36}$/);
      expect(collector.batches[0].body).to.not.include('dave-secret-key');
      expect(collector.batches[0].body).to.not.include('cookie-secret');
      expect(collector.batches[0].body).to.not.include('c2VjcmV0');
    });

    it('adds bodies up to their caps, new_line batches, and a custom log_format from metadata', async () => {
      await putRoute(gw, 'bodies', '/bodies', upstream, {
        'http-logger': logger({ batch_max_size: 1, include_req_body: true, include_resp_body: true, max_req_body_bytes: 10, max_resp_body_bytes: 20, concat_method: 'new_line' }),
      });
      const res = await gw.request('POST', '/bodies', 'abcdefghijklmnopqrstuvwxyz', { 'content-type': 'text/plain' });
      expect(res.status).to.equal(200);
      // The upstream got the whole body although the logger listened to it.
      expect(JSON.parse(res.text).body).to.equal('abcdefghijklmnopqrstuvwxyz');
      expect(await waitFor(() => collector.batches.length === 1, 3000)).to.equal(true);
      expect(collector.batches[0].headers['content-type']).to.equal('text/plain');
      const [entry] = collector.entries();
      expect(entry.request.body).to.equal('abcdefghij');
      expect(entry.response.body).to.equal(res.text.slice(0, 20));

      await gw.admin('PUT', '/plugin_metadata/http-logger', { log_format: { host: '$host', route: '$route_id', status: '$status', key: '$http_apikey', fixed: 'yes' } });
      try {
        await putRoute(gw, 'formatted', '/formatted', upstream, { 'http-logger': logger({ batch_max_size: 1 }) });
        expect((await gw.get('/formatted', { apikey: 'anything' })).status).to.equal(200);
        expect(await waitFor(() => collector.batches.length === 2, 3000)).to.equal(true);
        // route_id is added to a custom entry, as APISIX's get_custom_format_log does.
        expect(collector.batches[1].entries[0]).to.deep.equal({ host: '127.0.0.1', route: 'formatted', status: 200, key: '[redacted]', fixed: 'yes', route_id: 'formatted' });
      } finally {
        await gw.admin('DELETE', '/plugin_metadata/http-logger');
      }
    });

    it('keeps Content-Length unless it keeps the response body', async () => {
      const sized = await startUpstream((_req, res) => res.writeHead(200, { 'content-length': '5' }).end('sized'));
      try {
        await putRoute(gw, 'length', '/length', sized, { 'http-logger': logger() });
        expect((await gw.get('/length')).headers['content-length']).to.equal('5');
        await putRoute(gw, 'length', '/length', sized, { 'http-logger': logger({ include_resp_body: true }) });
        const kept = await gw.get('/length');
        expect(kept.text).to.equal('sized');
        expect(kept.headers['content-length']).to.equal(undefined);
      } finally {
        await sized.close();
      }
    });

    it('sends what is buffered when the gateway stops', async () => {
      const local = await startTestGateway();
      await putRoute(local, 'late', '/late', upstream, { 'http-logger': logger({ inactive_timeout: 60, batch_max_size: 100 }) });
      for (let i = 0; i < 3; i++) expect((await local.get('/late')).status).to.equal(200);
      await sleep(100);
      expect(collector.batches).to.have.length(0);
      await local.stop();
      expect(collector.entries()).to.have.length(3);
    });
  });

  describe('faults', () => {
    it('retries a failing collector with backoff, then delivers', async () => {
      collector.mode = 'fail';
      await putRoute(gw, 'retry', '/retry', upstream, { 'http-logger': logger({ batch_max_size: 1, max_retry_count: 3, retry_delay: 1 }) });
      const started = Date.now();
      expect((await gw.get('/retry')).status).to.equal(200);
      expect(Date.now() - started).to.be.lessThan(500);
      expect(await waitFor(() => collector.attempts === 2, 3000)).to.equal(true);
      collector.mode = 'ok';
      // Waits 1 s, then 2 s: the third attempt comes about 3 s after the first.
      expect(await waitFor(() => collector.batches.length === 1, 6000)).to.equal(true);
      expect(collector.attempts).to.equal(3);
      const [first, second, third] = collector.attemptTimes;
      expect(second - first).to.be.within(900, 2000);
      expect(third - second).to.be.within(1900, 3500);
      const page = await scrape(gw);
      expect(page.value('tollgate_log_batches_total', { route: 'retry', outcome: 'failed' })).to.equal(2);
      expect(page.value('tollgate_log_batches_total', { route: 'retry', outcome: 'sent' })).to.equal(1);
    });

    it('drops a batch after max_retry_count failures, counts it, and logs the failure without flooding', async () => {
      collector.mode = 'fail';
      await putRoute(gw, 'give-up', '/give-up', upstream, { 'http-logger': logger({ batch_max_size: 2, max_retry_count: 1, retry_delay: 0 }) });
      for (let i = 0; i < 6; i++) expect((await gw.get('/give-up')).status).to.equal(200);
      expect(await waitFor(async () => (await scrape(gw)).value('tollgate_log_entries_dropped_total', { route: 'give-up', reason: 'send_failed' }) === 6, 5000)).to.equal(true);
      expect(collector.attempts).to.equal(6);
      const warnings = gw.logs.filter((l) => l.includes('log collector failed') && l.includes('give-up'));
      expect(warnings.length).to.be.within(1, 3);
    });

    it('keeps at most max_pending_entries while the collector is away; requests never notice (B-23)', async () => {
      collector.mode = 'hang';
      await gw.admin('PUT', '/plugin_metadata/http-logger', { max_pending_entries: 10 });
      try {
        await putRoute(gw, 'stuck', '/stuck', upstream, { 'http-logger': logger({ batch_max_size: 2, timeout: 30 }) });
        const latencies: number[] = [];
        for (let i = 0; i < 40; i++) {
          const started = performance.now();
          expect((await gw.get('/stuck')).status).to.equal(200);
          latencies.push(performance.now() - started);
        }
        latencies.sort((a, b) => a - b);
        expect(latencies[Math.floor(latencies.length * 0.95)], 'p95 ms while the collector hangs').to.be.lessThan(150);
        const page = await scrape(gw);
        expect(page.value('tollgate_batch_process_entries', { plugin: 'http-logger', route: 'stuck' })).to.equal(10);
        expect(page.value('tollgate_log_entries_dropped_total', { route: 'stuck', reason: 'buffer_full' })).to.equal(30);
        // At most max_concurrent_batches (4) at a time: a hanging collector holds four connections, not one per request.
        expect(collector.attempts).to.equal(4);
      } finally {
        await gw.admin('DELETE', '/plugin_metadata/http-logger');
      }
    });

    it('gives up on a collector that never answers after timeout', async () => {
      collector.mode = 'hang';
      await putRoute(gw, 'timeout', '/timeout', upstream, { 'http-logger': logger({ batch_max_size: 1, timeout: 1 }) });
      expect((await gw.get('/timeout')).status).to.equal(200);
      expect(await waitFor(async () => (await scrape(gw)).value('tollgate_log_entries_dropped_total', { route: 'timeout', reason: 'send_failed' }) === 1, 4000)).to.equal(true);
    });

    it('reads a little of a garbage or endless answer and carries on', async () => {
      collector.mode = 'huge';
      await putRoute(gw, 'huge', '/huge', upstream, { 'http-logger': logger({ batch_max_size: 1 }) });
      for (let i = 0; i < 3; i++) expect((await gw.get('/huge')).status).to.equal(200);
      expect(await waitFor(async () => (await scrape(gw)).value('tollgate_log_batches_total', { route: 'huge', outcome: 'sent' }) === 3, 5000)).to.equal(true);
      collector.mode = 'garbage';
      expect((await gw.get('/huge')).status).to.equal(200);
      expect(await waitFor(async () => (await scrape(gw)).value('tollgate_log_batches_total', { route: 'huge', outcome: 'sent' }) === 4, 5000)).to.equal(true);
    });

    it('the collector going down mid-run does not change a single response', async () => {
      await putRoute(gw, 'steady', '/steady', upstream, { 'http-logger': logger({ batch_max_size: 10, inactive_timeout: 1, max_retry_count: 2, retry_delay: 0 }) });
      const reference = await gw.get('/steady?n=ref');
      const body = (text: string) => {
        const parsed = JSON.parse(text) as { headers: Record<string, unknown>; url: string };
        return { ...parsed, headers: { ...parsed.headers, 'x-real-ip': undefined }, url: parsed.url.replace(/n=\w+/, '') };
      };
      const expected = body(reference.text);
      const results: Array<{ status: number; same: boolean }> = [];
      const run = async (from: number, to: number) => {
        const tasks = [];
        for (let i = from; i < to; i++) {
          tasks.push(
            gw.get(`/steady?n=${i}`).then((res) => {
              const got = body(res.text);
              const a = JSON.stringify({ ...got, headers: { ...got.headers, 'x-request-id': undefined } });
              const b = JSON.stringify({ ...expected, headers: { ...expected.headers, 'x-request-id': undefined } });
              results.push({ status: res.status, same: a === b, ...(a === b ? {} : { a, b }) });
            }),
          );
          if (tasks.length % 8 === 0) await Promise.all(tasks.splice(0));
        }
        await Promise.all(tasks);
      };
      await run(0, 60);
      await collector.down();
      await run(60, 160);
      await collector.up();
      await run(160, 200);
      expect(results).to.have.length(200);
      expect(results.filter((r) => r.status !== 200)).to.deep.equal([]);
      expect(results.filter((r) => !r.same).slice(0, 1)).to.deep.equal([]);
      // Entries from before and after the outage arrived; some from during it were dropped and counted.
      expect(await waitFor(() => collector.entries().some((e) => e.request.querystring.n === '199'), 5000)).to.equal(true);
      expect(collector.entries().some((e) => e.request.querystring.n === '0')).to.equal(true);
      const page = await scrape(gw);
      expect(page.value('tollgate_log_entries_dropped_total', { route: 'steady', reason: 'send_failed' })).to.be.greaterThan(0);
    });
  });

  describe('MCP audit entries', () => {
    let bridge: TestGateway;
    before(async () => {
      bridge = await startBridgeGateway();
      await putConsumer(bridge, 'erin', { 'key-auth': { key: 'erin-key' } });
    });
    after(() => bridge.stop());

    for (const transport of TRANSPORTS) {
      it(`sends one audit entry per tools/call with consumer, tool, argument size and outcome (${transport})`, async () => {
        const route = `audit-${transport}`;
        const base = await bridgeRoute(bridge, route, [FAULT_SERVER], {}, {
          plugins: { 'key-auth': {}, 'http-logger': { uri: collector.url, batch_max_size: 1, inactive_timeout: 1, mcp_tool_audit: true } },
        });
        const session = await connect(base, transport, { headers: { apikey: 'erin-key' } });
        const sessionId = session.sessionId();
        try {
          await session.client.callTool({ name: 'echo', arguments: { text: 'private words' } });
          await session.client.callTool({ name: 'fail', arguments: {} });
        } finally {
          await session.close();
        }
        const audits = () => collector.entries().filter((e) => e.type === 'mcp_tool_call');
        expect(await waitFor(() => audits().length === 2, 5000)).to.equal(true);
        const [echo, fail] = audits();
        expect(echo).to.include({ route_id: route, consumer: 'erin', session_id: sessionId, transport, tool: 'echo', outcome: 'ok', arguments_bytes: Buffer.byteLength('{"text":"private words"}') });
        expect(echo.latency).to.be.a('number');
        expect(echo.request_id).to.match(/^[0-9a-f-]{36}$/);
        expect(echo).to.not.have.property('arguments');
        expect(fail).to.include({ tool: 'fail', outcome: 'tool_error' });
        expect(JSON.stringify(audits())).to.not.include('private words');
        // The request entries carry the MCP fields too.
        const call = collector.entries().find((e) => e.mcp?.method === 'tools/call' && e.mcp?.name === 'echo');
        expect(call, 'the request entry of the call').to.not.equal(undefined);
        expect(call!.mcp.session_id).to.equal(sessionId);
      });
    }

    it('includes the arguments only when the route opts in, within max_req_body_bytes', async () => {
      const base = await bridgeRoute(bridge, 'audit-args', [FAULT_SERVER], {}, {
        plugins: { 'http-logger': { uri: collector.url, batch_max_size: 1, inactive_timeout: 1, mcp_tool_audit: true, include_tool_arguments: true, max_req_body_bytes: 40 } },
      });
      const session = await connect(base, 'streamable-http');
      try {
        await session.client.callTool({ name: 'echo', arguments: { text: 'short' } });
        await session.client.callTool({ name: 'echo', arguments: { text: 'x'.repeat(100) } });
      } finally {
        await session.close();
      }
      const audits = () => collector.entries().filter((e) => e.type === 'mcp_tool_call');
      expect(await waitFor(() => audits().length === 2, 5000)).to.equal(true);
      expect(audits()[0].arguments).to.deep.equal({ text: 'short' });
      expect(audits()[1]).to.include({ arguments_truncated: true });
      expect(audits()[1]).to.not.have.property('arguments');
    });
  });
});
