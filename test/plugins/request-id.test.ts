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

  it('makes time-ordered UUID v7 ids that sort in the order they were made (APISIX request-id.t TEST 17-25)', async () => {
    await route('v7', { algorithm: 'uuidv7', header_name: 'X-Trace-Id' });
    const before = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await gw.get('/v7')).headers['x-trace-id'] as string);
    for (const id of ids) expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).to.deep.equal(ids);
    expect(new Set(ids).size).to.equal(ids.length);
    // The first 48 bits are the time it was made, in milliseconds.
    const ms = parseInt(ids[0].replaceAll('-', '').slice(0, 12), 16);
    expect(ms).to.be.within(before - 1000, Date.now() + 1000);
  });

  it('makes KSUIDs: 27 base62 characters that start with the time', async () => {
    await route('ksuid', { algorithm: 'ksuid' });
    const id = (await gw.get('/ksuid')).headers['x-request-id'] as string;
    expect(id).to.match(/^[0-9A-Za-z]{27}$/);
    let value = 0n;
    for (const c of id) value = value * 62n + BigInt('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.indexOf(c));
    const seconds = Number(value >> 128n) + 1_400_000_000;
    expect(seconds).to.be.within(Math.floor(Date.now() / 1000) - 60, Math.floor(Date.now() / 1000) + 1);
  });

  describe('on a global rule and a route', () => {
    afterEach(async () => {
      await gw.admin('DELETE', '/global_rules/rid');
    });

    it('gives two different ids under two header names, both sent upstream and answered (APISIX request-id.t TEST 10, 11)', async () => {
      expect((await gw.admin('PUT', '/global_rules/rid', { plugins: { 'request-id': { header_name: 'Custom-Header-Name' } } })).status).to.equal(201);
      await route('both', {});
      const res = await gw.get('/both');
      const global = res.headers['custom-header-name'];
      const own = res.headers['x-request-id'];
      expect(global).to.match(/^[0-9a-f-]{36}$/);
      expect(own).to.match(/^[0-9a-f-]{36}$/);
      expect(global).to.not.equal(own);
      expect(res.json.headers['custom-header-name']).to.equal(global);
      expect(res.json.headers['x-request-id']).to.equal(own);
    });

    it('keeps one id under one header name: the route reuses the global rule\'s', async () => {
      expect((await gw.admin('PUT', '/global_rules/rid', { plugins: { 'request-id': { algorithm: 'nanoid' } } })).status).to.equal(201);
      await route('same', { algorithm: 'uuid' });
      const res = await gw.get('/same');
      expect(res.headers['x-request-id']).to.match(/^[A-Za-z0-9_-]{21}$/);
      expect(res.json.headers['x-request-id']).to.equal(res.headers['x-request-id']);
    });
  });
});
