/**
 * Several gateway instances on one Redis, as separate `tollgate start` processes: what is written
 * through any instance's Admin API is served by all of them, and `policy: redis` limits count
 * across them. The same suite runs on one redis-server and on a real three-master Redis Cluster
 * (redis.cluster: true), where the catalog's keys share one slot and limit counters spread.
 */
import { expect } from 'chai';
import { Cluster } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayProcess } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { sharedRedis } from '../helpers/redis.js';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { fresh, route, startScaleGateway } from './support.js';

interface Store {
  name: string;
  url(): Promise<string>;
  cluster: boolean;
  stop(): Promise<void>;
}

let testCluster: TestRedisCluster | undefined;
const STORES: Store[] = [
  { name: 'one Redis', url: async () => (await sharedRedis()).url, cluster: false, stop: async () => undefined },
  {
    name: 'a Redis Cluster (3 masters)',
    url: async () => {
      testCluster = await startRedisCluster();
      return testCluster.nodes.map((n) => `redis://${n}`).join(',');
    },
    cluster: true,
    stop: async () => {
      await testCluster?.stop();
      testCluster = undefined;
    },
  },
];

for (const store of STORES) {
  describe(`three instances on ${store.name}`, function () {
    this.timeout(90_000);
    let upstream: TestUpstream;
    let dirs: string[] = [];
    let gateways: GatewayProcess[] = [];
    const keyPrefix = `inst${Date.now()}`;

    before(async () => {
      upstream = await startUpstream();
      const url = await store.url();
      dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'tollgate-instance-')));
      gateways = await Promise.all(dirs.map((dir) => startScaleGateway({ dir, redisUrl: url, keyPrefix, cluster: store.cluster })));
    });
    after(async () => {
      await Promise.all(gateways.map((gw) => gw.stop()));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await upstream?.close();
      await store.stop();
    });

    const statusOn = async (gw: GatewayProcess, path: string, headers?: Record<string, string>) => (await fresh(`${gw.url}${path}`, { headers })).status;

    it('a route written on A is served by B and C; changed on B, by A and C; deleted on C, by none', async () => {
      const [a, b, c] = gateways;
      const [path, body] = route('shared', '/shared', upstream.address);
      expect((await a.admin('PUT', path, body)).status).to.equal(201);
      expect(await waitFor(async () => (await statusOn(b, '/shared')) === 200 && (await statusOn(c, '/shared')) === 200, 5000)).to.equal(true);

      expect((await b.admin('PATCH', path, { uri: '/moved' })).status).to.equal(200);
      for (const gw of [a, c]) {
        expect(await waitFor(async () => (await statusOn(gw, '/moved')) === 200 && (await statusOn(gw, '/shared')) === 404, 5000)).to.equal(true);
      }
      expect((await a.admin('GET', path)).json.value.uri).to.equal('/moved');

      expect((await c.admin('DELETE', path)).status).to.equal(200);
      for (const gw of [a, b, c]) expect(await waitFor(async () => (await statusOn(gw, '/moved')) === 404, 5000)).to.equal(true);
    });

    it('limit-count and limit-req with policy: redis count across instances', async () => {
      const [a, b, c] = gateways;
      await a.admin('PUT', ...route('count', '/count', upstream.address, { 'limit-count': { count: 6, time_window: 60, key: 'http_x_user', policy: 'redis', rejected_code: 429 } }));
      await a.admin('PUT', ...route('rate', '/rate', upstream.address, { 'limit-req': { rate: 1, burst: 2, key: 'http_x_user', nodelay: true, policy: 'redis', rejected_code: 429 } }));
      let probe = 0;
      const everyoneServes = async (path: string) => {
        const headers = { 'x-user': `probe-${probe++}` };
        for (const gw of gateways) if ((await statusOn(gw, path, headers)) === 404) return false;
        return true;
      };
      expect(await waitFor(() => everyoneServes('/count'), 5000)).to.equal(true);
      expect(await waitFor(() => everyoneServes('/rate'), 5000)).to.equal(true);

      const counted: number[] = [];
      for (let round = 0; round < 3; round++) for (const gw of [a, b, c]) counted.push(await statusOn(gw, '/count', { 'x-user': 'alice' }));
      expect(counted).to.deep.equal([200, 200, 200, 200, 200, 200, 429, 429, 429]);
      // rate 1/s with burst 2: three at once pass (one each), the next three are refused, wherever they land.
      const rated: number[] = [];
      for (let round = 0; round < 2; round++) for (const gw of [a, b, c]) rated.push(await statusOn(gw, '/rate', { 'x-user': 'bob' }));
      expect(rated.slice(0, 3)).to.deep.equal([200, 200, 200]);
      expect(rated.slice(3).filter((s) => s === 429).length).to.be.at.least(2);
    });

    if (store.cluster) {
      it('keeps the catalog in one slot (one hash tag) and spreads limit counters over the masters', async () => {
        const client = new Cluster(testCluster!.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
        client.on('error', () => undefined);
        try {
          for (let i = 0; i < 8; i++) await statusOn(gateways[i % 3], '/count', { 'x-user': `spread-${i}` });
          const holders = async (pattern: string) => {
            const found: string[] = [];
            for (const node of client.nodes('master')) if ((await node.keys(pattern)).length > 0) found.push(String(node.options.port));
            return found;
          };
          expect(await holders(`{${keyPrefix}}:*`)).to.have.length(1);
          expect((await holders(`${keyPrefix}:limit-count:*`)).length).to.be.greaterThan(1);
        } finally {
          client.disconnect();
        }
      });
    }
  });
}
