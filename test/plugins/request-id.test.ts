import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { pluginsInUse } from './support.js';

describe('plugin request-id', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  const route = (id: string, conf: unknown) =>
    gw.admin('PUT', `/routes/${id}`, { uri: `/${id}`, upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'request-id': conf } });

  it('fills its defaults', async () => {
    const res = await route('defaults', {});
    expect(res.status).to.equal(201);
    expect((await pluginsInUse(gw, 'defaults'))['request-id']).to.deep.include({ header_name: 'X-Request-Id', include_in_response: true, algorithm: 'uuid' });
  });

  it('sends the same new id upstream and back to the client, and uses it in error bodies', async () => {
    await route('rid', {});
    const res = await gw.get('/rid');
    const id = res.headers['x-request-id'];
    expect(id).to.match(/^[0-9a-f-]{36}$/);
    expect(res.json.headers['x-request-id']).to.equal(id);
    await gw.admin('PUT', '/routes/rid-dead', { uri: '/rid-dead', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'request-id': {} } });
    const failed = await gw.get('/rid-dead', { 'x-request-id': 'trace-me-42' });
    expect(failed.status).to.equal(502);
    expect(failed.json.request_id).to.equal('trace-me-42');
    expect(failed.headers['x-request-id']).to.equal('trace-me-42');
  });

  it('keeps a well-formed incoming id and replaces a malformed one', async () => {
    await route('keep', {});
    expect((await gw.get('/keep', { 'x-request-id': 'abc-123' })).headers['x-request-id']).to.equal('abc-123');
    const injected = await gw.get('/keep', { 'x-request-id': 'evil\tid {"level":60}' });
    expect(injected.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
  });

  it('supports nanoid and range_id, a custom header, and staying out of the response', async () => {
    await route('nano', { algorithm: 'nanoid', header_name: 'X-Trace' });
    expect((await gw.get('/nano')).headers['x-trace']).to.match(/^[A-Za-z0-9_-]{21}$/);
    await route('range', { algorithm: 'range_id', range_id: { char_set: 'abcdef', length: 10 } });
    expect((await gw.get('/range')).headers['x-request-id']).to.match(/^[a-f]{10}$/);
    await route('hidden', { include_in_response: false });
    const hidden = await gw.get('/hidden');
    expect(hidden.headers).to.not.have.property('x-request-id');
    expect(hidden.json.headers['x-request-id']).to.be.a('string');
  });
});
