/**
 * The plugin and schema endpoints as APISIX answers them: t/admin/plugins.t (list, all=true,
 * subsystem) and t/admin/schema.t (resource and plugin schemas).
 */
import { expect } from 'chai';
import { http, startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../helpers/gateway.js';

describe('Admin API: plugin and schema endpoints', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.stop());

  describe('t/admin/plugins.t', () => {
    it('TEST 9: ?all=true answers every plugin by name, auth plugins typed', async () => {
      const res = await gw.admin('GET', '/plugins?all=true');
      expect(res.status).to.equal(200);
      expect(res.json['jwt-auth']).to.include({ type: 'auth', priority: 2510 });
      expect(res.json['key-auth']).to.include({ type: 'auth', priority: 2500 });
      expect(res.json['key-auth'].consumer_schema.required).to.deep.equal(['key']);
      expect(res.json['limit-count']).to.include({ priority: 1002, version: '1.0.0' });
      expect(res.json['limit-count'].schema).to.be.an('object');
      expect(res.json['limit-count'].metadata_schema).to.be.an('object');
      expect(res.json['limit-count']).to.not.have.property('type');
      expect(Object.keys(res.json)).to.deep.equal((await gw.admin('GET', '/plugins/list')).json);
    });

    it('without all=true, /plugins names no plugin: 404', async () => {
      expect((await gw.admin('GET', '/plugins')).json).to.deep.equal({ error_msg: 'plugin not found in subsystem http' });
    });

    it('TEST 13: an unknown subsystem is 400 unsupported subsystem; /plugins/list answers it in plain text', async () => {
      expect((await gw.admin('GET', '/plugins?subsystem=asdf')).json).to.deep.equal({ error_msg: 'unsupported subsystem: asdf' });
      const list = await gw.admin('GET', '/plugins/list?subsystem=asdf');
      expect(list.status).to.equal(400);
      expect(list.text).to.equal('invalid subsystem passed');
    });

    it('TEST 14-15: a plugin is found in the http subsystem, with the injected schema mark; stream has none', async () => {
      const stream = await gw.admin('GET', '/plugins/http-logger?subsystem=stream');
      expect(stream.status).to.equal(404);
      expect(stream.json).to.deep.equal({ error_msg: 'plugin not found in subsystem stream' });
      const res = await gw.admin('GET', '/plugins/http-logger?subsystem=http');
      expect(res.status).to.equal(200);
      expect(res.json.$comment).to.equal('this is a mark for our injected plugin schema');
      expect((await gw.admin('GET', '/plugins/list?subsystem=stream')).json).to.deep.equal([]);
      expect((await gw.admin('GET', '/plugins?all=true&subsystem=stream')).json).to.deep.equal({});
    });

    it('a schema a plugin does not have is 400 not found schema', async () => {
      expect((await gw.admin('GET', '/plugins/proxy-rewrite?schema_type=consumer')).json).to.deep.equal({ error_msg: 'not found schema' });
    });
  });

  describe('t/admin/schema.t', () => {
    it('TEST 1-2: resource schemas by APISIX\'s singular names (a service has no anyOf)', async () => {
      const route = await gw.admin('GET', '/schema/route');
      expect(route.status).to.equal(200);
      expect(route.text).to.include('"plugins":{"type":"object"}');
      const service = await gw.admin('GET', '/schema/service');
      expect(service.json.type).to.equal('object');
      expect(service.json).to.not.have.property('anyOf');
      for (const name of ['upstream', 'consumer', 'credential', 'consumer_group', 'plugin_config', 'global_rule']) {
        expect((await gw.admin('GET', `/schema/${name}`)).json.type, name).to.equal('object');
      }
    });

    it('TEST 3-5: an unknown schema is 400; only GET', async () => {
      expect((await gw.admin('GET', '/schema/noexits')).json).to.deep.equal({ error_msg: 'not found schema: noexits' });
      expect((await gw.admin('PUT', '/schema/service', {})).status).to.equal(404);
      expect((await gw.admin('POST', '/schema/service', {})).status).to.equal(404);
    });

    it('TEST 7-8, 13: plugin schemas under /schema/plugins/{name}, _meta included', async () => {
      const schema = await gw.admin('GET', '/schema/plugins/prometheus');
      expect(schema.status).to.equal(200);
      expect(schema.text).to.include('"disable":{"type":"boolean"}');
      expect((await gw.admin('GET', '/schema/plugins/no-exist')).status).to.equal(404);
    });

    it('TEST 15: resource schemas name create_time and update_time', async () => {
      const res = await gw.admin('GET', '/schema/global_rule');
      expect(res.json.properties).to.deep.include({ create_time: { type: 'integer' }, update_time: { type: 'integer' } });
    });

    it('the schema endpoints are behind the key', async () => {
      for (const path of ['/schema/route', '/schema/plugins/key-auth', '/plugins?all=true']) {
        expect((await http('GET', gw.adminUrl + path)).status, path).to.equal(401);
        expect((await http('GET', gw.adminUrl + path, undefined, { 'x-api-key': TEST_ADMIN_KEY })).status, path).to.equal(200);
      }
    });
  });
});
