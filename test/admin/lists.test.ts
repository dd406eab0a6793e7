/**
 * Lists as APISIX's v3 adapter answers them: paging, creation order, and the name, label, uri and
 * `filter=` filters. Mirrors t/admin/filter.t.
 */
import { expect } from 'chai';
import { http, startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

describe('Admin API lists (t/admin/filter.t)', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  const ids = (res: { json: { list: Array<{ value: { id: string } }> } }) => res.json.list.map((i) => i.value.id);

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
    await gw.admin('PUT', '/services/1', { upstream: { nodes: { [upstream.address]: 1 } } });
    await gw.admin('PUT', '/upstreams/1', { nodes: { [upstream.address]: 1 } });
    // Created in the order 1..11, so creation order and id order differ ("10" < "2").
    for (let i = 1; i <= 11; i++) {
      const ref = i % 2 === 0 ? { service_id: '1' } : { upstream_id: '1' };
      await gw.admin('PUT', `/routes/${i}`, { uri: `/hello${i}`, name: `route-${i}`, labels: i <= 3 ? { build: '16', env: 'production' } : { env: 'dev' }, ...ref });
    }
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  it('TEST 1: a page_size outside 10-500 is 400, in plain text as APISIX answers it', async () => {
    for (const size of ['9', '501']) {
      const res = await gw.admin('GET', `/routes?page=1&page_size=${size}`);
      expect(res.status).to.equal(400);
      expect(res.text).to.equal('page_size must be between 10 and 500');
    }
  });

  it('TEST 2: a page below 1 is page 1', async () => {
    for (const page of ['-1', '0']) {
      const res = await gw.admin('GET', `/routes?page=${page}&page_size=10`);
      expect(res.status).to.equal(200);
      expect(res.json.list).to.have.length(10);
      expect(res.json.total).to.equal(11);
    }
  });

  it('TEST 3-4: pages follow creation order', async () => {
    expect(ids(await gw.admin('GET', '/routes?page=1&page_size=10'))).to.deep.equal(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(ids(await gw.admin('GET', '/routes?page=2&page_size=10'))).to.deep.equal(['11']);
    expect((await gw.admin('GET', '/routes?page=3&page_size=10')).json.list).to.have.length(0);
  });

  it('paging needs both numbers; without it the whole list comes in id order', async () => {
    for (const query of ['page_size=10', 'page=2', 'page=x&page_size=10', 'page=1&page_size=ten']) {
      const res = await gw.admin('GET', `/routes?${query}`);
      expect(res.status, query).to.equal(200);
      expect(ids(res), query).to.deep.equal(['1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9']);
    }
  });

  it('TEST 6-8, 11: name is a regular expression found anywhere; label names a label (or key:value)', async () => {
    expect(ids(await gw.admin('GET', '/routes?name=route-1'))).to.deep.equal(['1', '10', '11']);
    expect(ids(await gw.admin('GET', '/routes?name=^route-1$'))).to.deep.equal(['1']);
    expect(ids(await gw.admin('GET', '/routes?name=route-[23]$'))).to.deep.equal(['2', '3']);
    expect(ids(await gw.admin('GET', '/routes?label=build'))).to.deep.equal(['1', '2', '3']);
    expect((await gw.admin('GET', '/routes?label=env:dev')).json.total).to.equal(8);
    expect((await gw.admin('GET', '/routes?label=nope')).json.total).to.equal(0);
  });

  it('TEST 10, 12-14: uri is a regular expression over uri and uris; filters combine', async () => {
    expect(ids(await gw.admin('GET', '/routes?uri=hello1'))).to.deep.equal(['1', '10', '11']);
    expect(ids(await gw.admin('GET', '/routes?uri=/hello1$'))).to.deep.equal(['1']);
    expect(ids(await gw.admin('GET', '/routes?uri=hello1&label=build'))).to.deep.equal(['1']);
  });

  it('TEST 15-16: total counts the matches before paging; an empty label matches nothing', async () => {
    expect((await gw.admin('GET', '/routes?label=')).json).to.deep.equal({ total: 0, list: [] });
    const paged = await gw.admin('GET', '/routes?label=env&page=2&page_size=10');
    expect(paged.json.total).to.equal(11);
    expect(paged.json.list).to.have.length(1);
  });

  it('TEST 17, 19: filter=service_id=…&upstream_id=… on routes; other keys and other resources ignore it', async () => {
    const byService = await gw.admin('GET', `/routes?filter=${encodeURIComponent('service_id=1')}`);
    expect(byService.json.list).to.have.length(5);
    for (const item of byService.json.list) expect(item.value.service_id).to.equal('1');
    expect((await gw.admin('GET', '/routes?filter=upstream_id=1')).json.list).to.have.length(6);
    expect((await gw.admin('GET', `/routes?filter=${encodeURIComponent('service_id=1&upstream_id=1')}`)).json.list).to.have.length(0);
    expect((await gw.admin('GET', `/routes?filter=${encodeURIComponent('desc=x')}`)).json.list).to.have.length(11);
    expect((await gw.admin('GET', `/services?filter=${encodeURIComponent('upstream_id=9')}`)).json.list).to.have.length(1);
  });

  it('a pattern RE2 cannot run is 400 naming it; a filter given twice is 400', async () => {
    const res = await gw.admin('GET', `/routes?name=${encodeURIComponent('(a)\\1')}`);
    expect(res.status).to.equal(400);
    expect(res.json.error_msg).to.match(/^invalid name filter: /);
    const twice = await http('GET', `${gw.adminUrl}/routes?name=a&name=b`, undefined, { 'x-api-key': TEST_ADMIN_KEY });
    expect(twice.json).to.deep.equal({ error_msg: 'query parameter name must be given once' });
  });
});
