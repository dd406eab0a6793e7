/**
 * Route and upstream edits never fail requests in flight (issue 10, item 4): a replaced upstream
 * drains — requests that matched the old version finish on it, whether they are streaming their
 * response, still in an earlier phase, or about to retry another node.
 */
import { expect } from 'chai';
import { connect } from 'node:net';
import { startTestGateway, type HttpResult, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, unacceptingListener, type TestUpstream } from '../helpers/upstream.js';

describe('route and upstream edits with requests in flight', () => {
  let gw: TestGateway;
  let slow: TestUpstream;
  let arrived = 0;

  before(async () => {
    slow = await startUpstream((_req, res) => {
      arrived += 1;
      setTimeout(() => res.end('slow done'), 600);
    });
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await slow.close();
  });
  beforeEach(() => {
    arrived = 0;
  });

  it('slow responses in flight complete across a PUT of their route that replaces its upstream', async () => {
    await gw.admin('PUT', '/routes/a', { uri: '/a', upstream: { nodes: { [slow.address]: 1 } } });
    const pending = Array.from({ length: 4 }, () => gw.get('/a'));
    expect(await waitFor(() => arrived === 4, 3000)).to.equal(true);
    expect((await gw.admin('PUT', '/routes/a', { uri: '/a', upstream: { nodes: { [slow.address]: 2 } } })).status).to.equal(200);
    expectAll(await Promise.all(pending), 200, 'slow done');
    expect((await gw.get('/a')).status).to.equal(200);
  });

  it('requests still in an earlier phase complete across a PUT of their route', async () => {
    // limit-req delays requests past its rate in the access phase: they have matched the route
    // version being replaced, and reach the proxy after the edit.
    const route = (weight: number) => ({
      uri: '/b',
      upstream: { nodes: { [slow.address]: weight } },
      plugins: { 'limit-req': { rate: 2, burst: 10, key: 'remote_addr', policy: 'local' } },
    });
    await gw.admin('PUT', '/routes/b', route(1));
    const pending = Array.from({ length: 4 }, () => gw.get('/b'));
    expect(await waitFor(() => arrived >= 1, 3000)).to.equal(true);
    expect((await gw.admin('PUT', '/routes/b', route(2))).status).to.equal(200);
    expectAll(await Promise.all(pending), 200, 'slow done');
  });

  it('requests still in an earlier phase complete across a PUT of their upstream', async () => {
    await gw.admin('PUT', '/upstreams/u-delay', { nodes: { [slow.address]: 1 } });
    await gw.admin('PUT', '/routes/c', {
      uri: '/c',
      upstream_id: 'u-delay',
      plugins: { 'limit-req': { rate: 2, burst: 10, key: 'remote_addr', policy: 'local' } },
    });
    const pending = Array.from({ length: 4 }, () => gw.get('/c'));
    expect(await waitFor(() => arrived >= 1, 3000)).to.equal(true);
    expect((await gw.admin('PUT', '/upstreams/u-delay', { nodes: { [slow.address]: 1 }, desc: 'edited' })).status).to.equal(200);
    expectAll(await Promise.all(pending), 200, 'slow done');
  });

  it('a request about to retry another node completes across a PUT of its upstream', async () => {
    // The first node never accepts: the request waits out timeout.connect, then retries the second.
    const { child, port } = await unacceptingListener();
    const filler = connect(port, '127.0.0.1');
    filler.on('error', () => {});
    await new Promise((r) => filler.once('connect', r));
    try {
      const upstream = (desc: string) => ({
        desc,
        nodes: [
          { host: '127.0.0.1', port, weight: 1, priority: 1 },
          { host: '127.0.0.1', port: slow.port, weight: 1, priority: 0 },
        ],
        timeout: { connect: 1, send: 5, read: 5 },
      });
      await gw.admin('PUT', '/upstreams/u-retry', upstream('v1'));
      await gw.admin('PUT', '/routes/d', { uri: '/d', upstream_id: 'u-retry' });
      const pending = gw.get('/d');
      await new Promise((r) => setTimeout(r, 300));
      expect((await gw.admin('PUT', '/upstreams/u-retry', upstream('v2'))).status).to.equal(200);
      expectAll([await pending], 200, 'slow done');
    } finally {
      filler.destroy();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('a deleted route lets its requests in flight finish', async () => {
    await gw.admin('PUT', '/routes/e', { uri: '/e', upstream: { nodes: { [slow.address]: 1 } }, plugins: { 'limit-req': { rate: 2, burst: 10, key: 'remote_addr', policy: 'local' } } });
    const pending = Array.from({ length: 3 }, () => gw.get('/e'));
    expect(await waitFor(() => arrived >= 1, 3000)).to.equal(true);
    expect((await gw.admin('DELETE', '/routes/e')).status).to.equal(200);
    expectAll(await Promise.all(pending), 200, 'slow done');
    expect((await gw.get('/e')).status).to.equal(404);
  });
});

function expectAll(results: HttpResult[], status: number, text: string): void {
  expect(results.map((r) => `${r.status} ${r.status === status ? r.text : r.text.slice(0, 120)}`)).to.deep.equal(results.map(() => `${status} ${text}`));
}
