/**
 * `metrics.names: apisix`: the prometheus plugin's metrics under APISIX's names, labels (in
 * APISIX's order) and latency types, and APISIX's node and connection gauges — what APISIX's
 * Grafana dashboard 11719 and alert rules query — asserted through real scrapes after real
 * traffic through a real upstream.
 */
import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putConsumer } from '../plugins/support.js';
import { scrape } from './support.js';

const UPSTREAM_DELAY_MS = 300;

describe('metrics under APISIX names (metrics.names: apisix)', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  let slow: TestUpstream;

  before(async () => {
    upstream = await startUpstream();
    slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), UPSTREAM_DELAY_MS));
    gw = await startTestGateway({ overrides: { metrics: { names: 'apisix' } } });
    const put = async (path: string, body: unknown) => {
      const res = await gw.admin('PUT', path, body);
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    };
    await put('/services/shop', { upstream: { nodes: { [upstream.address]: 1 } }, plugins: { prometheus: {} } });
    await put('/routes/orders', { uri: '/orders/*', hosts: ['*.shop.example'], service_id: 'shop' });
    await put('/routes/slow', { uri: '/slow', upstream: { nodes: { [slow.address]: 1 } }, plugins: { prometheus: {} } });
    await put('/routes/dead', { uri: '/dead', upstream: { nodes: { '127.0.0.1:1': 1 }, retries: 0 }, plugins: { prometheus: {} } });
    await put('/routes/locked', { uri: '/locked', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { prometheus: {}, 'key-auth': {} } });
    await putConsumer(gw, 'jack', { 'key-auth': { key: 'jack-key' } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    await slow.close();
  });

  it("counts responses as apisix_http_status with APISIX's labels, in APISIX's order", async () => {
    for (let i = 0; i < 2; i++) expect((await gw.get('/orders/7', { host: 'eu.shop.example' })).status).to.equal(200);
    expect((await gw.get('/locked', { apikey: 'jack-key' })).status).to.equal(200);
    const page = await scrape(gw);
    const line = page.text.split('\n').find((l) => l.startsWith('apisix_http_status{') && l.includes('route="orders"'));
    expect(line).to.equal(
      `apisix_http_status{code="200",route="orders",matched_uri="/orders/*",matched_host="*.shop.example",service="shop",consumer="",node="127.0.0.1",` +
        'request_type="traditional_http",request_llm_model="",llm_model="",response_source="upstream"} 2',
    );
    expect(page.value('apisix_http_status', { route: 'locked', consumer: 'jack', matched_host: '', code: '200' })).to.equal(1);
    // Not twice: the Tollgate names are not recorded alongside.
    expect(page.has('tollgate_http_status')).to.equal(false);
    expect(page.has('tollgate_http_latency_count')).to.equal(false);
  });

  it('says where each response came from: the upstream, the proxy failing to reach it (nginx), or the gateway (apisix)', async () => {
    expect((await gw.get('/dead')).status).to.equal(502);
    expect((await gw.get('/locked')).status).to.equal(401);
    const page = await scrape(gw);
    expect(page.value('apisix_http_status', { route: 'dead', code: '502', response_source: 'nginx', node: '127.0.0.1' })).to.equal(1);
    expect(page.value('apisix_http_status', { route: 'locked', code: '401', response_source: 'apisix', node: '' })).to.equal(1);
  });

  it('observes request, upstream and apisix latency, with the upstream share kept out of the apisix one (APISIX prometheus.t TEST 23-26)', async () => {
    expect((await gw.get('/slow')).text).to.equal('late');
    const page = await scrape(gw);
    const labels = { route: 'slow', service: '', consumer: '', node: '127.0.0.1', request_type: 'traditional_http' };
    for (const type of ['request', 'upstream', 'apisix']) expect(page.value('apisix_http_latency_count', { type, ...labels }), type).to.equal(1);
    // The upstream took 300 ms: the request and upstream latencies are above it, the gateway's own far below.
    expect(page.value('apisix_http_latency_bucket', { type: 'request', ...labels, le: '200' })).to.equal(0);
    expect(page.value('apisix_http_latency_bucket', { type: 'upstream', ...labels, le: '200' })).to.equal(0);
    expect(page.value('apisix_http_latency_bucket', { type: 'apisix', ...labels, le: '200' })).to.equal(1);
    expect(page.value('apisix_http_latency_sum', { type: 'request', ...labels })).to.be.at.least(UPSTREAM_DELAY_MS);
    // APISIX's buckets, in milliseconds.
    const bounds = page.matching('apisix_http_latency_bucket', { type: 'request', route: 'slow' }).map((s) => s.labels.le);
    expect(bounds).to.deep.equal(['1', '2', '5', '10', '20', '50', '100', '200', '500', '1000', '2000', '5000', '10000', '30000', '60000', '+Inf']);
    // A response the gateway made itself has no upstream observation.
    expect(page.value('apisix_http_latency_count', { type: 'upstream', route: 'locked', consumer: '' })).to.equal(0);
    expect(page.value('apisix_http_latency_count', { type: 'apisix', route: 'locked', consumer: '' })).to.equal(1);
  });

  it('adds bytes in and out as apisix_bandwidth (APISIX prometheus.t TEST 5, 6)', async () => {
    const before = await scrape(gw);
    const res = await gw.get('/orders/bytes', { host: 'eu.shop.example' });
    const after = await scrape(gw);
    const labels = { route: 'orders', service: 'shop', consumer: '', node: '127.0.0.1' };
    const egress = after.value('apisix_bandwidth', { type: 'egress', ...labels }) - before.value('apisix_bandwidth', { type: 'egress', ...labels });
    const ingress = after.value('apisix_bandwidth', { type: 'ingress', ...labels }) - before.value('apisix_bandwidth', { type: 'ingress', ...labels });
    expect(egress).to.be.above(res.text.length);
    expect(ingress).to.be.above('GET /orders/bytes HTTP/1.1'.length);
  });

  it('serves apisix_node_info, apisix_http_requests_total and the connection states, and no etcd metrics (APISIX prometheus.t TEST 40, 41)', async () => {
    const before = (await scrape(gw)).value('apisix_http_requests_total');
    // Counted whether or not a route has the plugin, unmatched requests included.
    expect((await gw.get('/nowhere')).status).to.equal(404);
    const page = await scrape(gw);
    expect(page.value('apisix_http_requests_total')).to.equal(before + 1);
    expect(page.matching('apisix_node_info')[0].labels.hostname).to.be.a('string').and.not.equal('');
    expect(page.value('apisix_node_info')).to.equal(1);
    for (const state of ['active', 'accepted', 'handled', 'writing', 'waiting']) expect(page.has('apisix_nginx_http_current_connections', { state }), state).to.equal(true);
    expect(page.value('apisix_nginx_http_current_connections', { state: 'accepted' })).to.be.at.least(1);
    expect(page.has('tollgate_node_info')).to.equal(false);
    expect(page.text).to.not.include('etcd');
  });

  it('keeps the Tollgate names by default', async () => {
    const plain = await startTestGateway();
    try {
      const res = await plain.admin('PUT', '/routes/p', { uri: '/p', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { prometheus: {} } });
      expect(res.status).to.equal(201);
      expect((await plain.get('/p')).status).to.equal(200);
      const page = await scrape(plain);
      expect(page.value('tollgate_http_status', { route: 'p', code: '200' })).to.equal(1);
      expect(page.has('apisix_http_status')).to.equal(false);
    } finally {
      await plain.stop();
    }
  });

  it('refuses an unknown naming at start-up, naming the key', async () => {
    let error: unknown;
    try {
      await (await startTestGateway({ overrides: { metrics: { names: 'kong' } } })).stop();
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/metrics\/names|metrics\.names/);
  });
});
