/**
 * `__proto__`, `constructor` and `prototype` wherever a request or a config names a key: Admin
 * sub-paths, body keys, ids, plugin names, list filters, data-plane credentials and config
 * overrides (issue 10 item 7). One PATCH through `/routes/r1/__proto__/anonymous_consumer` used to
 * write into Object.prototype: every key-auth route then let anonymous requests in as that
 * consumer, every Admin write failed, metrics answered 500 and the next new upstream node crashed
 * the process. The gateway runs as its own process here, so a pollution can never reach the test
 * runner; after every case it must still refuse anonymous requests, take Admin writes, serve a
 * new upstream node and answer metrics.
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../core/config.js';
import { http, spawnGateway, type GatewayProcess, type HttpResult } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';

const ADMIN_KEY = 'prototype-keys-admin-key-0123456789';
const JWT_SECRET = 'bob-hmac-secret-0123456789';
const RESERVED = ['__proto__', 'constructor', 'prototype'];

/** An HS256 token with the given payload (signed by hand: the claims may be anything). */
function hs256(payload: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}`;
  return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`;
}

describe('faults: prototype keys in requests and config (issue 10 item 7)', function () {
  this.timeout(60_000);
  let gw: GatewayProcess;
  let upstream: TestUpstream;
  let dataDir: string;

  /** A raw JSON text to the Admin API (JSON.stringify cannot write a `__proto__` key). */
  const adminRaw = (method: string, path: string, text: string): Promise<HttpResult> =>
    http(method, gw.adminUrl + path, text, { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' });

  before(async () => {
    upstream = await startUpstream();
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-proto-'));
    gw = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: ADMIN_KEY });
    const nodes = { [upstream.address]: 1 };
    const setup = [
      await gw.admin('PUT', '/consumers', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key' } } }),
      await gw.admin('PUT', '/consumers', { username: 'bob', plugins: { 'jwt-auth': { key: 'bob-key', secret: JWT_SECRET } } }),
      await gw.admin('PUT', '/routes/key', { uri: '/key', plugins: { 'key-auth': {} }, upstream: { nodes } }),
      await gw.admin('PUT', '/routes/jwt', { uri: '/jwt', plugins: { 'jwt-auth': {} }, upstream: { nodes } }),
      await gw.admin('PUT', '/routes/labelled', { uri: '/labelled', labels: { env: 'prod', constructor: 'x' }, upstream: { nodes } }),
      await gw.admin('PUT', '/routes/plain', { uri: '/plain', upstream: { nodes } }),
    ];
    expect(setup.map((r) => r.status)).to.deep.equal([201, 201, 201, 201, 201, 201]);
  });
  after(async () => {
    await gw?.stop();
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') return;
    expect(gw.child.exitCode, gw.output()).to.equal(null);
    // Authentication still refuses anonymous requests and still knows its consumers.
    expect((await http('GET', `${gw.url}/key`)).status).to.equal(401);
    expect((await http('GET', `${gw.url}/jwt`)).status).to.equal(401);
    const alice = await http('GET', `${gw.url}/key`, undefined, { apikey: 'alice-key' });
    expect(alice.status).to.equal(200);
    expect(alice.json.headers['x-consumer-username']).to.equal('alice');
    // Admin writes validate and store; a node the gateway has never seen is served and measured.
    const fresh = await startUpstream();
    try {
      const put = await gw.admin('PUT', '/routes/probe', { uri: '/probe', upstream: { nodes: { [fresh.address]: 1 } } });
      expect(put.status, put.text).to.equal(201);
      expect((await http('GET', `${gw.url}/probe`)).status).to.equal(200);
      expect((await gw.admin('DELETE', '/routes/probe')).status).to.equal(200);
    } finally {
      await fresh.close();
    }
    expect((await http('GET', gw.metricsUrl)).status).to.equal(200);
    expect(gw.child.exitCode).to.equal(null);
  });

  it('refuses a PATCH sub-path through a prototype key, in any position and however encoded', async () => {
    const paths = [
      ['/routes/key/__proto__/anonymous_consumer', '__proto__'],
      ['/routes/key/%5F%5Fproto%5F%5F/anonymous_consumer', '__proto__'],
      ['/routes/key/constructor/prototype/anonymous_consumer', 'constructor'],
      ['/routes/key/plugins/__proto__/anonymous_consumer', '__proto__'],
      ['/routes/key/plugins/key-auth/constructor', 'constructor'],
      ['/routes/key/plugins%2Fkey-auth%2F__proto__%2Fanonymous_consumer', '__proto__'],
      ['/routes/key/labels/prototype', 'prototype'],
      ['/routes/key/__proto__', '__proto__'],
    ];
    for (const [path, segment] of paths) {
      const res = await adminRaw('PATCH', path, '"alice"');
      expect(res.status, path).to.equal(400);
      expect(res.json.error_msg, path).to.equal(`invalid sub path: "${segment}" is not an attribute name`);
    }
    const object = await adminRaw('PATCH', '/routes/key/plugins/__proto__', '{"anonymous_consumer":"alice"}');
    expect(object.status).to.equal(400);
    expect((await gw.admin('GET', '/routes/key')).json.value.plugins['key-auth']).to.not.have.property('anonymous_consumer');
    // An ordinary sub-path still works.
    expect((await adminRaw('PATCH', '/routes/key/desc', '"protected"')).status).to.equal(200);
  });

  it('refuses __proto__ and constructor.prototype at any depth of a body; constructor and prototype as plain keys stay data', async () => {
    const refused: Array<[string, string, string]> = [
      ['PUT', '/routes/x', `{"uri":"/x","upstream":{"nodes":{"${upstream.address}":1}},"__proto__":{"anonymous_consumer":"alice"}}`],
      ['PATCH', '/routes/key', '{"plugins":{"key-auth":{"__proto__":{"anonymous_consumer":"alice"}}}}'],
      ['PATCH', '/routes/key', '{"constructor":{"prototype":{"anonymous_consumer":"alice"}}}'],
      ['PATCH', '/routes/key', '{"plugins":{"constructor":{"prototype":{"anonymous_consumer":"alice"}}}}'],
      ['POST', '/routes', `{"uri":"/y","upstream":{"nodes":{"${upstream.address}":1}},"labels":{"__proto__":{"a":"b"}}}`],
      ['PUT', '/consumers', '{"username":"eve","plugins":{"key-auth":{"key":"eve-key","__proto__":{"x":1}}}}'],
      ['POST', '/schema/validate/routes', '{"uri":"/z","__proto__":{"plugins":{}}}'],
    ];
    for (const [method, path, body] of refused) {
      const res = await adminRaw(method, path, body);
      expect(res.status, `${method} ${path} ${body}`).to.equal(400);
      expect(res.json.error_msg).to.match(/forbidden prototype property/);
    }
    // A top-level `constructor` is an unknown attribute, merged as data and refused by the schema.
    const unknown = await adminRaw('PATCH', '/routes/key', '{"constructor":{"anonymous_consumer":"alice"}}');
    expect(unknown.status).to.equal(400);
    expect(unknown.json.error_msg).to.match(/"\/constructor".*unknown property/);
    const labels = await adminRaw('PATCH', '/routes/plain', '{"labels":{"constructor":"c","prototype":"p"}}');
    expect(labels.status).to.equal(200);
    expect(labels.json.value.labels).to.deep.equal({ constructor: 'c', prototype: 'p' });
    expect((await adminRaw('PATCH', '/routes/plain', '{"labels":null}')).status).to.equal(200);
  });

  it('treats plugin names that are prototype keys as unknown plugins, on routes, consumers, metadata and schemas', async () => {
    for (const name of [...RESERVED, 'toString', 'hasOwnProperty', '__defineGetter__']) {
      if (name !== '__proto__') {
        const route = await adminRaw('PUT', '/routes/x', `{"uri":"/x","upstream":{"nodes":{"${upstream.address}":1}},"plugins":{"${name}":{}}}`);
        expect(route.status, name).to.equal(400);
        expect(route.json.error_msg).to.equal(`unknown plugin [${name}]`);
        const consumer = await adminRaw('PUT', '/consumers', `{"username":"eve","plugins":{"${name}":{"key":"k"}}}`);
        expect(consumer.status, name).to.equal(400);
      }
      expect((await gw.admin('PUT', `/plugin_metadata/${name}`, { x: 1 })).status, name).to.be.oneOf([400, 404]);
      expect((await gw.admin('GET', `/plugins/${name}`)).status, name).to.equal(404);
    }
    expect((await gw.admin('GET', '/routes/x')).status).to.equal(404);
    expect((await gw.admin('GET', '/consumers/eve')).status).to.equal(404);
  });

  it('refuses prototype keys and dot-only names as ids, in the path and in the body', async () => {
    for (const id of RESERVED) {
      for (const kind of ['routes', 'upstreams', 'services', 'global_rules', 'plugin_configs']) {
        const res = await gw.admin('PUT', `/${kind}/${id}`, kind === 'upstreams' ? { nodes: { [upstream.address]: 1 } } : { uri: '/x', plugins: {} });
        expect(res.status, `${kind}/${id}`).to.equal(400);
        expect(res.json.error_msg, `${kind}/${id}`).to.match(new RegExp(`id "${id}" is reserved$`));
      }
      const byBody = await adminRaw('PUT', '/routes', `{"id":"${id}","uri":"/x","upstream":{"nodes":{"${upstream.address}":1}}}`);
      expect(byBody.status, id).to.equal(400);
      const consumer = await gw.admin('PUT', '/consumers', { username: id, plugins: { 'key-auth': { key: `${id}-key` } } });
      expect(consumer.status, id).to.equal(400);
      expect(consumer.json.error_msg).to.equal(`invalid configuration: consumer id "${id}" is reserved`);
      expect((await gw.admin('GET', `/routes/${id}`)).status).to.equal(404);
      expect((await gw.admin('DELETE', `/consumers/${id}`)).status).to.equal(404);
    }
    const dots = await gw.admin('PUT', '/routes', { id: '..', uri: '/x', upstream: { nodes: { [upstream.address]: 1 } } });
    expect(dots.status).to.equal(400);
    expect(dots.json.error_msg).to.equal('invalid configuration: route id ".." cannot be addressed in a URL');
    // An id that is not a string or a number is a 400, not a 500 (String() of it used to throw).
    const odd = await adminRaw('PUT', '/routes', `{"id":{"toString":1},"uri":"/x","upstream":{"nodes":{"${upstream.address}":1}}}`);
    expect(odd.status).to.equal(400);
    expect(odd.json.error_msg).to.equal('invalid configuration: route id must be a string or an integer');
    expect((await adminRaw('POST', '/schema/validate/consumers', '{"username":{"toString":1}}')).status).to.equal(400);
    expect((await gw.admin('GET', '/routes')).json.total).to.equal(4);
  });

  it('filters lists on own labels only; a repeated filter is a 400, not a 500', async () => {
    const ids = async (query: string) => {
      const res = await gw.admin('GET', `/routes?${query}`);
      expect(res.status, query).to.equal(200);
      return res.json.list.map((item: { value: { id: string } }) => item.value.id);
    };
    expect(await ids('label=constructor')).to.deep.equal(['labelled']);
    expect(await ids('label=constructor:x')).to.deep.equal(['labelled']);
    expect(await ids('label=toString')).to.deep.equal([]);
    expect(await ids('label=__proto__')).to.deep.equal([]);
    expect(await ids('label=hasOwnProperty:x')).to.deep.equal([]);
    expect(await ids('name=constructor')).to.deep.equal([]);
    expect(await ids('__proto__=x&constructor=y&prototype=z')).to.have.length(4);
    const twice = await gw.admin('GET', '/routes?label=env&label=prod');
    expect(twice.status).to.equal(400);
    expect(twice.json.error_msg).to.equal('query parameter label must be given once');
  });

  it('authenticates nobody with credentials that name prototype keys', async () => {
    for (const name of [...RESERVED, 'toString', 'hasOwnProperty']) {
      expect((await http('GET', `${gw.url}/key`, undefined, { apikey: name })).status, name).to.equal(401);
      expect((await http('GET', `${gw.url}/key?${name}=alice-key&__proto__=a&__proto__=b`)).status, name).to.equal(401);
      const token = hs256({ key: name, exp: Math.floor(Date.now() / 1000) + 60 });
      expect((await http('GET', `${gw.url}/jwt`, undefined, { authorization: `Bearer ${token}` })).status, name).to.equal(401);
      expect((await http('GET', `${gw.url}/jwt`, undefined, { cookie: `__proto__=x; constructor=y; jwt=${token}` })).status, name).to.equal(401);
    }
    const bob = hs256({ key: 'bob-key', exp: Math.floor(Date.now() / 1000) + 60 });
    expect((await http('GET', `${gw.url}/jwt?__proto__=1&constructor=2`, undefined, { authorization: `Bearer ${bob}` })).status).to.equal(200);
  });

  it('reads a header that config names after a prototype key as absent, never as a function', async () => {
    const nodes = { [upstream.address]: 1, '127.0.0.1:1': 1 };
    const routes: Array<[string, Record<string, unknown>]> = [
      ['hk', { uri: '/hk', plugins: { 'key-auth': { header: 'constructor' } }, upstream: { nodes: { [upstream.address]: 1 } } }],
      ['hj', { uri: '/hj', plugins: { 'jwt-auth': { header: 'constructor' } }, upstream: { nodes: { [upstream.address]: 1 } } }],
      ['hr', { uri: '/hr', plugins: { 'request-id': { header_name: 'constructor' } }, upstream: { nodes: { [upstream.address]: 1 } } }],
      ['hc', { uri: '/hc', upstream: { type: 'chash', hash_on: 'header', key: 'constructor', nodes } }],
      ['hv', { uri: '/hv', upstream: { type: 'chash', hash_on: 'vars', key: 'http_constructor', nodes } }],
    ];
    for (const [id, body] of routes) expect((await gw.admin('PUT', `/routes/${id}`, body)).status, id).to.equal(201);
    const key = await http('GET', `${gw.url}/hk`);
    expect(key.status).to.equal(401);
    expect(key.json.message).to.equal('Missing API key in request');
    const token = await http('GET', `${gw.url}/hj`);
    expect(token.status).to.equal(401);
    expect(token.json.message).to.equal('Missing JWT token in request');
    const id = await http('GET', `${gw.url}/hr`);
    expect(id.status).to.equal(200);
    expect(id.headers.constructor).to.match(/^[0-9a-f-]{36}$/);
    // chash on a missing header falls back to the client address: one node, every time.
    for (const path of ['/hc', '/hv']) {
      const statuses = await Promise.all([1, 2, 3].map(() => http('GET', `${gw.url}${path}`).then((r) => r.status)));
      expect(statuses, path).to.satisfy((all: number[]) => all.every((s) => s === all[0]) && all[0] !== 500);
    }
    for (const [id] of routes) await gw.admin('DELETE', `/routes/${id}`);
  });

  it('refuses config overrides and files that name prototype keys, naming the key', () => {
    const overrides = JSON.parse('{"__proto__": {"admin": {"key": "from-the-prototype-0123456789"}}}') as Record<string, unknown>;
    expect(() => loadConfig({ overrides, env: {} })).to.throw(ConfigError, 'invalid config: key "__proto__" is not allowed');
    const nested = JSON.parse('{"admin": {"constructor": {"prototype": {"allow": ["0.0.0.0/0"]}}}}') as Record<string, unknown>;
    expect(() => loadConfig({ overrides: nested, env: {} })).to.throw(ConfigError, 'invalid config: key "admin.constructor" is not allowed');
    // Environment values are values, never keys: they land on their own key or are refused by name.
    expect(() => loadConfig({ env: { TOLLGATE_CATALOG: '__proto__' } })).to.throw(ConfigError, 'key "catalog.backend"');
    const config = loadConfig({ env: { TOLLGATE_MCP_ALLOWED_COMMANDS: '__proto__,constructor', TOLLGATE_LOG_LEVEL: 'warn' }, plugins: BUILTIN_PLUGINS });
    expect(config.plugin_attr['mcp-bridge'].allowed_commands).to.deep.equal(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(config.plugin_attr['mcp-bridge'])).to.equal(Object.prototype);
    // A plugin_attr section is a plugin's name, never prototype machinery.
    const attr = JSON.parse('{"plugin_attr": {"__proto__": {"allowed_commands": ["sh"]}}}') as Record<string, unknown>;
    expect(() => loadConfig({ overrides: attr, env: {} })).to.throw(ConfigError, 'invalid config: key "plugin_attr.__proto__" is not allowed');
    expect(Object.keys(config).sort()).to.deep.equal(Object.keys(loadConfig({ env: {} })).sort());
  });
});
