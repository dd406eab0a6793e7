/**
 * policy: redis-cluster for the three limit plugins, against a real three-node Redis Cluster:
 * counters land in the cluster (spread over its slots), and a cluster that goes away fails closed.
 */
import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { putRoute, startRedisCluster, statuses, type TestRedisCluster } from './support.js';

describe('limit plugins on a Redis Cluster', function () {
  this.timeout(30_000);
  let cluster: TestRedisCluster;
  let gw: TestGateway;
  let upstream: TestUpstream;
  let client: Cluster;
  const prefix = `cl${Date.now()}`;

  before(async () => {
    cluster = await startRedisCluster();
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { redis: { key_prefix: prefix } } });
    client = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
    client.on('error', () => undefined);
  });
  after(async () => {
    client?.disconnect();
    await gw?.stop();
    await upstream?.close();
    await cluster?.stop();
  });

  const clusterKeys = async (pattern: string) => {
    const keys: string[] = [];
    for (const node of client.nodes('master')) keys.push(...(await node.keys(pattern)));
    return keys;
  };

  it('refuses redis-cluster without nodes', async () => {
    const res = await putRoute(gw, 'bad', '/bad', upstream, { 'limit-count': { count: 1, time_window: 60, policy: 'redis-cluster' } });
    expect(res.status).to.equal(400);
    expect(res.json.error_msg).to.match(/redis_cluster_nodes.*required/);
  });

  it('counts limit-count, limit-req and limit-conn in the cluster', async () => {
    const policy = { policy: 'redis-cluster', redis_cluster_nodes: cluster.nodes, redis_cluster_name: 'test-cluster', redis_timeout: 500 };
    await putRoute(gw, 'count', '/count', upstream, { 'limit-count': { count: 2, time_window: 60, key: 'http_x_user', ...policy } });
    await putRoute(gw, 'req', '/req', upstream, { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr', nodelay: true, ...policy } });
    await putRoute(gw, 'conn', '/conn', upstream, { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', ...policy } });

    // Several keys, so that counters spread over the cluster's slots and nodes.
    for (const user of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']) {
      expect(await statuses(gw, 3, '/count', { 'x-user': user })).to.deep.equal([200, 200, 503]);
    }
    const counters = await clusterKeys(`${prefix}:limit-count:*`);
    expect(counters).to.have.length(6);
    const holders = new Set<string>();
    for (const node of client.nodes('master')) if ((await node.keys(`${prefix}:limit-count:*`)).length > 0) holders.add(`${node.options.port}`);
    expect(holders.size).to.be.greaterThan(1);

    expect(await statuses(gw, 2, '/req')).to.deep.equal([200, 503]);
    expect(await clusterKeys(`${prefix}:limit-req:*`)).to.have.length(1);

    expect(await statuses(gw, 2, '/conn')).to.deep.equal([200, 200]);
    expect(await clusterKeys(`${prefix}:limit-conn:*`)).to.deep.equal([]);
  });

  it('fails closed when the cluster goes away', async () => {
    await cluster.stop();
    const started = performance.now();
    const res = await gw.get('/count', { 'x-user': 'after' });
    expect(res.status).to.equal(503);
    expect(res.json.code).to.equal('GW_RATE_LIMIT_STORE_UNAVAILABLE');
    expect(res.headers['retry-after']).to.equal('1');
    expect(performance.now() - started).to.be.lessThan(2000);
  });
});
