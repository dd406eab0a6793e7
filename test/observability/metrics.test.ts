/**
 * The Prometheus exporter and the metrics behind it, asserted through real scrapes over HTTP after
 * real traffic: HTTP through the prometheus plugin, plugin rejections, limits and Redis, the
 * breaker, the catalog, and MCP through SDK clients over both transports.
 */
import { expect } from 'chai';
import { request } from 'undici';
import { aggregateMetrics, GatewayMetrics } from '../../core/metrics.js';
import { http, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { sharedRedis, startRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { FAULT_SERVER, bridgeRoute, connect, startBridgeGateway, textOf, TRANSPORTS } from '../mcp/support.js';
import { putConsumer, putRoute } from '../plugins/support.js';
import { parseExposition, scrape } from './support.js';

describe('metrics', () => {
  describe('the exporter', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway();
    });
    after(() => gw.stop());

    it('serves the Prometheus text format on its own listener and path, never on the data plane', async () => {
      const page = await scrape(gw);
      expect(page.value('tollgate_node_info')).to.equal(1);
      expect(page.matching('tollgate_node_info')[0].labels.version).to.match(/^\d+\.\d+\.\d+/);
      // Node process metrics under their standard names.
      expect(page.has('process_cpu_user_seconds_total')).to.equal(true);
      expect(page.has('nodejs_eventloop_lag_seconds')).to.equal(true);
      expect(page.value('tollgate_catalog_revision')).to.be.at.least(0);
      const base = gw.metricsUrl.replace('/apisix/prometheus/metrics', '');
      expect((await http('GET', `${base}/metrics`)).status).to.equal(404);
      expect((await http('POST', gw.metricsUrl, 'x')).status).to.equal(405);
      expect((await gw.get('/apisix/prometheus/metrics')).status).to.equal(404);
    });

    it('keeps each gateway to its own registry: two gateways in one process share no counter', async () => {
      const upstream = await startUpstream();
      const other = await startTestGateway();
      try {
        await putRoute(gw, 'iso', '/iso', upstream, { prometheus: {} });
        await putRoute(other, 'iso', '/iso', upstream, { prometheus: {} });
        for (let i = 0; i < 3; i++) expect((await gw.get('/iso')).status).to.equal(200);
        expect((await other.get('/iso')).status).to.equal(200);
        expect((await scrape(gw)).value('tollgate_http_status', { route: 'iso', code: '200' })).to.equal(3);
        expect((await scrape(other)).value('tollgate_http_status', { route: 'iso', code: '200' })).to.equal(1);
      } finally {
        await other.stop();
        await upstream.close();
      }
    });

    it('can be turned off; the gateway still serves', async () => {
      const off = await startTestGateway({ overrides: { metrics: { enabled: false } } });
      try {
        expect(off.metricsUrl).to.equal('');
        expect(off.running.addresses.metrics).to.equal(undefined);
        expect((await off.get('/nothing')).status).to.equal(404);
      } finally {
        await off.stop();
      }
    });

    it('keeps serving traffic when its address is taken', async () => {
      const taken = gw.running.addresses.metrics!;
      const second = await startTestGateway({ overrides: { metrics: { listen: `${taken.host}:${taken.port}` } } });
      try {
        expect(second.metricsUrl).to.equal('');
        expect(second.logs.some((l) => l.includes('metrics exporter not started'))).to.equal(true);
        expect((await second.get('/nothing')).status).to.equal(404);
      } finally {
        await second.stop();
      }
    });
  });

  describe('HTTP (prometheus plugin)', () => {
    let gw: TestGateway;
    let upstream: TestUpstream;
    before(async () => {
      upstream = await startUpstream();
      gw = await startTestGateway();
      await putConsumer(gw, 'alice', { 'key-auth': { key: 'alice-key' } });
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
    });

    it('counts status by route, service and consumer, and observes request, upstream and gateway latency', async () => {
      await gw.admin('PUT', '/services/svc', { upstream: { nodes: { [upstream.address]: 1 } } });
      await gw.admin('PUT', '/routes/orders', { uri: '/orders', service_id: 'svc', plugins: { prometheus: {}, 'key-auth': {} } });
      for (let i = 0; i < 4; i++) expect((await gw.get('/orders', { apikey: 'alice-key' })).status).to.equal(200);
      expect((await gw.get('/orders')).status).to.equal(401);
      const page = await scrape(gw);
      expect(page.value('tollgate_http_status', { code: '200', route: 'orders', service: 'svc', consumer: 'alice' })).to.equal(4);
      expect(page.value('tollgate_http_status', { code: '401', route: 'orders', service: 'svc', consumer: '' })).to.equal(1);
      expect(page.value('tollgate_http_latency_count', { type: 'request', route: 'orders' })).to.equal(5);
      expect(page.value('tollgate_http_latency_count', { type: 'upstream', route: 'orders' })).to.equal(4);
      expect(page.value('tollgate_http_latency_count', { type: 'gateway', route: 'orders' })).to.equal(5);
      // APISIX's buckets, in milliseconds: a loopback request is well under a minute.
      expect(page.value('tollgate_http_latency_bucket', { type: 'request', route: 'orders', le: '60000' })).to.equal(5);
      expect(page.has('tollgate_http_latency_bucket', { le: '1' })).to.equal(true);
      expect(page.value('tollgate_http_latency_sum', { type: 'request', route: 'orders' })).to.be.greaterThan(0);
    });

    it('counts bandwidth in and out, headers and bodies included', async () => {
      await putRoute(gw, 'upload', '/upload', upstream, { prometheus: {} });
      const before = await scrape(gw);
      const body = 'u'.repeat(10_000);
      const res = await gw.request('POST', '/upload', body, { 'content-type': 'text/plain' });
      expect(res.status).to.equal(200);
      const after = await scrape(gw);
      const ingress = after.value('tollgate_bandwidth', { type: 'ingress', route: 'upload' }) - before.value('tollgate_bandwidth', { type: 'ingress', route: 'upload' });
      const egress = after.value('tollgate_bandwidth', { type: 'egress', route: 'upload' }) - before.value('tollgate_bandwidth', { type: 'egress', route: 'upload' });
      expect(ingress).to.be.within(10_000, 11_000);
      // The echo upstream sends the body back inside its JSON.
      expect(egress).to.be.within(Buffer.byteLength(res.text), Buffer.byteLength(res.text) + 1000);
    });

    it('records nothing for a route without the plugin; a global rule records every request, unmatched ones too', async () => {
      await putRoute(gw, 'quiet', '/quiet', upstream, {});
      expect((await gw.get('/quiet')).status).to.equal(200);
      expect((await scrape(gw)).has('tollgate_http_status', { route: 'quiet' })).to.equal(false);
      await gw.admin('PUT', '/global_rules/metrics', { plugins: { prometheus: {} } });
      try {
        expect((await gw.get('/quiet')).status).to.equal(200);
        expect((await gw.get('/no-such-route')).status).to.equal(404);
        const page = await scrape(gw);
        expect(page.value('tollgate_http_status', { route: 'quiet', code: '200' })).to.equal(1);
        expect(page.value('tollgate_http_status', { route: '', code: '404' })).to.equal(1);
      } finally {
        await gw.admin('DELETE', '/global_rules/metrics');
      }
    });

    it('labels by route name with prefer_name, never by path', async () => {
      await putRoute(gw, 'r-by-name', '/items/:id', upstream, { prometheus: { prefer_name: true } }, { name: 'items' });
      for (const id of ['1', '2', '3']) expect((await gw.get(`/items/${id}`)).status).to.equal(200);
      const page = await scrape(gw);
      expect(page.value('tollgate_http_status', { route: 'items' })).to.equal(3);
      expect(page.text).to.not.include('/items/');
    });

    it('reports upstream nodes passively: 0 after a connection failure, 1 once one answers', async () => {
      const node = await startUpstream();
      const address = node.address;
      await gw.admin('PUT', '/upstreams/flaky', { nodes: { [address]: 1 }, retries: 0 });
      await gw.admin('PUT', '/routes/flaky', { uri: '/flaky', upstream_id: 'flaky' });
      expect((await gw.get('/flaky')).status).to.equal(200);
      expect((await scrape(gw)).value('tollgate_upstream_status', { upstream: 'flaky', node: address })).to.equal(1);
      await node.close();
      expect((await gw.get('/flaky')).status).to.equal(502);
      expect((await scrape(gw)).value('tollgate_upstream_status', { upstream: 'flaky', node: address })).to.equal(0);
    });
  });

  describe('rejections, limits, breaker, Redis and catalog', () => {
    let upstream: TestUpstream;
    before(async () => {
      upstream = await startUpstream();
    });
    after(() => upstream.close());

    it('counts requests ended by a plugin, by plugin and status', async () => {
      const gw = await startTestGateway();
      try {
        await putConsumer(gw, 'bob', { 'key-auth': { key: 'bob-key' } });
        await putRoute(gw, 'limited', '/limited', upstream, { 'key-auth': {}, 'limit-count': { count: 2, time_window: 60, key: 'consumer_name' } });
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push((await gw.get('/limited', { apikey: 'bob-key' })).status);
        expect(statuses).to.deep.equal([200, 200, 503, 503]);
        expect((await gw.get('/limited', { apikey: 'wrong' })).status).to.equal(401);
        const page = await scrape(gw);
        expect(page.value('tollgate_rejected_requests_total', { plugin: 'limit-count', code: '503' })).to.equal(2);
        expect(page.value('tollgate_rejected_requests_total', { plugin: 'key-auth', code: '401' })).to.equal(1);
        expect(page.text).to.not.include('bob-key');
      } finally {
        await gw.stop();
      }
    });

    it('shows the breaker opening on its route', async () => {
      const failing = await startUpstream();
      const gw = await startTestGateway();
      try {
        failing.behaviour = 'fail';
        await putRoute(gw, 'fragile', '/fragile', failing, { 'api-breaker': { break_response_code: 503, unhealthy: { failures: 2 } } });
        expect((await scrape(gw)).value('tollgate_breaker_state', { route: 'fragile' })).to.equal(0);
        for (let i = 0; i < 2; i++) expect((await gw.get('/fragile')).status).to.equal(500);
        expect((await gw.get('/fragile')).status).to.equal(503);
        const page = await scrape(gw);
        expect(page.value('tollgate_breaker_state', { route: 'fragile' })).to.equal(1);
        expect(page.value('tollgate_rejected_requests_total', { plugin: 'api-breaker', code: '503' })).to.equal(1);
      } finally {
        await gw.stop();
        await failing.close();
      }
    });

    it('counts rate-limit store failures and shows Redis unreachable while it is down', async () => {
      const redis = await startRedis();
      const gw = await startTestGateway({ overrides: { redis: { url: redis.url } } });
      try {
        await putRoute(gw, 'shared', '/shared', upstream, { 'limit-count': { count: 100, time_window: 60, policy: 'redis' } });
        await putRoute(gw, 'lenient', '/lenient', upstream, { 'limit-count': { count: 100, time_window: 60, policy: 'redis', allow_degradation: true } });
        expect((await gw.get('/shared')).status).to.equal(200);
        expect((await scrape(gw)).value('tollgate_redis_reachable', { connection: 'gateway' })).to.equal(1);
        await redis.kill();
        expect((await gw.get('/shared')).status).to.equal(503);
        expect((await gw.get('/lenient')).status).to.equal(200);
        const page = await scrape(gw);
        expect(page.value('tollgate_redis_reachable', { connection: 'gateway' })).to.equal(0);
        expect(page.value('tollgate_limit_store_unavailable_total', { plugin: 'limit-count', action: 'rejected' })).to.equal(1);
        expect(page.value('tollgate_limit_store_unavailable_total', { plugin: 'limit-count', action: 'allowed' })).to.equal(1);
      } finally {
        await gw.stop();
        await redis.kill();
      }
    });

    it('follows the catalog: revision, reachability and sync errors of a Redis catalog', async () => {
      const redis = await startRedis();
      const gw = await startTestGateway({ redisUrl: redis.url });
      try {
        const first = await scrape(gw);
        expect(first.value('tollgate_catalog_reachable')).to.equal(1);
        expect(first.value('tollgate_redis_reachable', { connection: 'catalog' })).to.equal(1);
        const revision = first.value('tollgate_catalog_revision');
        await putRoute(gw, 'one', '/one', upstream, {});
        await putRoute(gw, 'two', '/two', upstream, {});
        expect((await scrape(gw)).value('tollgate_catalog_revision')).to.equal(revision + 2);
        expect((await scrape(gw)).value('tollgate_catalog_sync_errors_total')).to.equal(0);
        await redis.kill();
        expect(await waitFor(async () => (await scrape(gw)).value('tollgate_catalog_reachable') === 0, 5000)).to.equal(true);
        expect(await waitFor(async () => (await scrape(gw)).value('tollgate_catalog_sync_errors_total') > 0, 5000)).to.equal(true);
        const page = await scrape(gw);
        expect(page.value('tollgate_redis_reachable', { connection: 'catalog' })).to.equal(0);
        // Still serving the last good snapshot.
        expect((await gw.get('/one')).status).to.equal(200);
      } finally {
        await gw.stop();
        await redis.kill();
      }
    });
  });

  describe('MCP', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startBridgeGateway({ overrides: { metrics: { max_tool_names: 8 } } });
    });
    after(() => gw.stop());

    for (const transport of TRANSPORTS) {
      it(`counts sessions, children and tool calls by outcome, with latency (${transport})`, async () => {
        const route = `tools-${transport}`;
        const base = await bridgeRoute(gw, route, [FAULT_SERVER], { request_timeout: 1 });
        const a = await connect(base, transport);
        const b = await connect(base, transport);
        try {
          let page = await scrape(gw);
          expect(page.value('tollgate_mcp_sessions', { route })).to.equal(2);
          expect(page.value('tollgate_mcp_children', { route })).to.equal(2);
          expect(page.value('tollgate_mcp_sessions_created_total', { route, transport })).to.equal(2);

          expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).to.equal('hi');
          expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'again' } }))).to.equal('again');
          expect((await a.client.callTool({ name: 'fail', arguments: { text: 'nope' } })).isError).to.equal(true);
          await a.client.callTool({ name: 'no-such-tool', arguments: {} }).then(
            (r) => expect(r.isError, 'an unknown tool').to.equal(true),
            (err: Error) => expect(err.message).to.match(/Unknown tool/),
          );
          await b.client.callTool({ name: 'hang', arguments: {} }).then(
            () => expect.fail('hang answered'),
            (err: Error) => expect(err.message).to.match(/timed out/i),
          );

          page = await scrape(gw);
          expect(page.value('tollgate_mcp_tool_calls_total', { route, tool: 'echo', outcome: 'ok' })).to.equal(2);
          expect(page.value('tollgate_mcp_tool_calls_total', { route, tool: 'fail', outcome: 'tool_error' })).to.equal(1);
          expect(page.value('tollgate_mcp_tool_calls_total', { route, tool: 'no-such-tool', outcome: 'error' })).to.equal(1);
          expect(page.value('tollgate_mcp_tool_calls_total', { route, tool: 'hang', outcome: 'timeout' })).to.equal(1);
          expect(page.value('tollgate_mcp_tool_call_latency_count', { route, tool: 'echo' })).to.equal(2);
          expect(page.value('tollgate_mcp_tool_call_latency_bucket', { route, tool: 'hang', le: '500' })).to.equal(0);
          expect(page.value('tollgate_mcp_tool_call_latency_bucket', { route, tool: 'hang', le: '2000' })).to.equal(1);
          // Session ids never become labels.
          expect(page.text).to.not.include(a.sessionId()!);

          // A crash ends b's session and counts as a crash.
          await b.client.callTool({ name: 'crash', arguments: {} }).then(
            () => expect.fail('crash answered'),
            () => undefined,
          );
          expect(await waitFor(async () => (await scrape(gw)).value('tollgate_mcp_child_crashes_total', { route, reason: 'exited' }) === 1, 5000)).to.equal(true);
          page = await scrape(gw);
          expect(page.value('tollgate_mcp_tool_calls_total', { route, tool: 'crash', outcome: 'failed' })).to.equal(1);
          expect(page.value('tollgate_mcp_sessions_ended_total', { route, reason: 'server_exited' })).to.equal(1);
        } finally {
          await a.close();
          await b.close().catch(() => undefined);
        }
        const reason = transport === 'sse' ? 'client_disconnected' : 'client_closed';
        expect(await waitFor(async () => (await scrape(gw)).value('tollgate_mcp_sessions_ended_total', { route, reason }) === 1, 5000)).to.equal(true);
        expect(await waitFor(async () => (await scrape(gw)).value('tollgate_mcp_children', { route }) === 0, 5000)).to.equal(true);
        expect((await scrape(gw)).value('tollgate_mcp_sessions', { route })).to.equal(0);
      });
    }

    it('keeps tool labels bounded: names past metrics.max_tool_names count as _other', async () => {
      const route = 'many-tools';
      const base = await bridgeRoute(gw, route, [FAULT_SERVER]);
      const session = await connect(base, 'streamable-http');
      try {
        for (let i = 0; i < 12; i++) await session.client.callTool({ name: `invented-${i}`, arguments: {} }).catch(() => undefined);
        const page = await scrape(gw);
        const tools = new Set(page.matching('tollgate_mcp_tool_calls_total', { route }).map((s) => s.labels.tool));
        expect(tools.size).to.equal(9);
        expect(page.value('tollgate_mcp_tool_calls_total', { route, tool: '_other' })).to.equal(4);
      } finally {
        await session.close();
      }
    });

    it('counts an MCP server that cannot start', async () => {
      const route = 'no-server';
      await gw.admin('PUT', `/routes/${route}`, {
        uri: `/${route}/*`,
        plugins: { 'mcp-bridge': { base_uri: `/${route}`, command: 'node', args: ['/nonexistent/server.mjs'] } },
      });
      const res = await request(`${gw.url}/${route}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      });
      await res.body.dump();
      expect(res.statusCode).to.equal(502);
      expect(await waitFor(async () => (await scrape(gw)).value('tollgate_mcp_child_crashes_total', { route, reason: 'exited' }) === 1, 5000)).to.equal(true);
      expect((await scrape(gw)).value('tollgate_mcp_sessions_ended_total', { route })).to.equal(1);
    });
  });

  describe('aggregation across workers', () => {
    it('sums counters and histograms of several registries and aggregates gauges as declared', async () => {
      const workers = [new GatewayMetrics(), new GatewayMetrics()];
      const sample = { code: '200', route: 'r', matchedUri: '/r', matchedHost: '', service: '', consumer: '', node: '', responseSource: 'upstream' as const, latencyMs: 1 };
      for (let i = 0; i < 3; i++) workers[0].recordHttp(sample);
      for (let i = 0; i < 4; i++) workers[1].recordHttp(sample);
      workers[0].recordToolCall('m', 'echo', 'ok', 3);
      workers[1].recordToolCall('m', 'echo', 'ok', 700);
      workers[0].setSources({ catalog: () => ({ revision: 7, reachable: true, syncErrors: 1 }) });
      workers[1].setSources({ catalog: () => ({ revision: 8, reachable: false, syncErrors: 2 }) });
      workers[0].provideMcp(() => [{ route: 'm', sessions: 2, children: 2 }]);
      workers[1].provideMcp(() => [{ route: 'm', sessions: 1, children: 1 }]);
      const text = await aggregateMetrics(await Promise.all(workers.map((w) => w.snapshot(false))));
      const samples = parseExposition(text);
      const value = (name: string, labels: Record<string, string> = {}) =>
        samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
      expect(value('tollgate_http_status', { code: '200', route: 'r' })).to.equal(7);
      expect(value('tollgate_mcp_tool_calls_total', { route: 'm', tool: 'echo', outcome: 'ok' })).to.equal(2);
      expect(value('tollgate_mcp_tool_call_latency_bucket', { route: 'm', tool: 'echo', le: '5' })).to.equal(1);
      expect(value('tollgate_mcp_tool_call_latency_count', { route: 'm', tool: 'echo' })).to.equal(2);
      expect(value('tollgate_mcp_sessions', { route: 'm' })).to.equal(3);
      expect(value('tollgate_catalog_sync_errors_total')).to.equal(3);
      // A gauge that must not be summed: the catalog is reachable only if every worker reaches it.
      expect(value('tollgate_catalog_reachable')).to.equal(0);
      expect(value('tollgate_catalog_revision')).to.equal(7);
      expect(value('tollgate_node_info')).to.equal(1);
    });
  });
});
