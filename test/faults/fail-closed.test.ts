/**
 * Stored config the gateway cannot use fails closed, never open (routes/fail-closed.ts). APISIX
 * skips an invalid item on sync; here that was an auth bypass twice over: a global rule whose
 * key-auth could not run was skipped (every route open), and a protected route that failed
 * validation was left out of the matcher, so a catch-all without auth served its paths. Records
 * are written straight into the embedded catalog file and into Redis (as an older version, a
 * hand edit or a restore could leave them), and real gateway processes are asked.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { sharedRedis, storeCatalogRecord } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_KEY = 'fail-closed-admin-key-0123456789';

interface Problem {
  kind: string;
  id: string;
  error: string;
  effect: string;
}

describe('faults: stored config that cannot be used fails closed', function () {
  this.timeout(90_000);
  let open: TestUpstream;
  let guarded: TestUpstream;
  let dataDir: string;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    open = await startUpstream(undefined, 'open');
    guarded = await startUpstream(undefined, 'guarded');
  });
  after(async () => {
    await open.close();
    await guarded.close();
  });
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-fail-closed-'));
    open.seen.length = 0;
    guarded.seen.length = 0;
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gw) => gw.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async (args: string[] = []) => {
    const gw = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_LOG_LEVEL: 'warn' }, args);
    gateways.push(gw);
    return gw;
  };
  const nodes = (upstream: TestUpstream) => ({ [upstream.address]: 1 });
  /** A public catch-all, and a consumer whose key would open the protected routes. */
  const baseline = () => ({
    routes: { 'catch-all': { uri: '/*', upstream: { nodes: nodes(open) } } },
    consumers: { alice: { username: 'alice', plugins: { 'key-auth': { key: 'alice-key' } } } },
  });
  const problems = async (gw: GatewayProcess): Promise<Problem[]> => (await http('GET', `${gw.statusUrl}/status`)).json.invalid_entries;
  const effects = (list: Problem[]) => Object.fromEntries(list.map((p) => [`${p.kind}/${p.id}`, p.effect]));

  /** Writes `kinds` (kind → id → value) as the catalog file a gateway starts from. */
  const writeCatalogFile = (kinds: Record<string, Record<string, unknown>>) => {
    const resources: Record<string, Record<string, unknown>> = {};
    let index = 0;
    for (const [kind, entries] of Object.entries(kinds)) {
      resources[kind] = Object.fromEntries(Object.entries(entries).map(([id, value]) => [id, { value, createdIndex: ++index, modifiedIndex: index }]));
    }
    writeFileSync(join(dataDir, 'catalog.json'), JSON.stringify({ revision: index, resources }));
  };

  /** Invalid protected routes, each broken in another field, next to the public catch-all. */
  const brokenRoutes = () => ({
    // An unknown field fails the schema; the record is otherwise whole.
    admin: { uri: '/admin/*', plugins: { 'key-auth': {} }, upstream: { nodes: nodes(guarded) }, surprise: true },
    // An inline upstream no connection can be opened to.
    billing: { uri: '/billing/*', plugins: { 'key-auth': {} }, upstream: { nodes: { '127.0.0.1:99999': 1 } } },
    // Hosts it cannot read: it must not narrow to no host, so it fences the uri on every host.
    reports: { uri: '/reports/*', hosts: ['not a host!'], plugins: { 'key-auth': {} }, upstream: { nodes: nodes(guarded) } },
    // Methods and priority it cannot read: any method, ahead of every route on its uri.
    exports: { uri: '/exports', methods: ['get'], priority: 'high', plugins: { 'key-auth': {} }, upstream: { nodes: nodes(guarded) } },
    // A vars rule it cannot compile: it must not narrow to no request, so it fences every request on its uri.
    beta: { uri: '/beta/*', vars: [['arg_a', '=', '1']], plugins: { 'key-auth': {} }, upstream: { nodes: nodes(guarded) } },
    // A rule that compiles in a record that does not: the fence keeps the rule, and others pass to the catch-all.
    canary: { uri: '/canary/*', vars: [['http_x_canary', '==', '1']], surprise: true, plugins: { 'key-auth': {} }, upstream: { nodes: nodes(guarded) } },
    // Matches nothing (a dot segment no normalized path has), and a disabled one: left out.
    never: { uri: '/never/../x', plugins: { 'key-auth': {} }, upstream: { nodes: nodes(guarded) } },
    disabled: { uri: '/disabled/*', status: 0, surprise: true, upstream: { nodes: nodes(guarded) } },
  });

  async function expectRoutesFenced(gw: GatewayProcess): Promise<void> {
    const asked: Array<[string, string, Record<string, string>]> = [
      ['GET', '/admin/users', {}],
      ['GET', '/admin/users', { apikey: 'alice-key' }],
      ['GET', '/billing/invoices', {}],
      ['GET', '/reports/q3', { host: 'any.example' }],
      ['POST', '/exports', {}],
      ['GET', '/beta/x?b=2', {}],
      ['GET', '/canary/x', { 'x-canary': '1' }],
    ];
    for (const [method, path, headers] of asked) {
      const res = await http(method, `${gw.url}${path}`, undefined, headers);
      expect(res.status, `${method} ${path}`).to.equal(503);
      expect(res.json).to.include({ error_msg: 'Service Unavailable', code: 'GW_ROUTE_BROKEN' });
    }
    // What matches nothing is left out; the catch-all serves it, and the public paths, as before.
    expect((await http('GET', `${gw.url}/disabled/x`)).json.upstream).to.equal('open');
    expect((await http('GET', `${gw.url}/x`)).json.upstream).to.equal('open');
    expect((await http('GET', `${gw.url}/canary/x`)).json.upstream).to.equal('open');
    expect(open.seen.map((r) => r.url)).to.deep.equal(['/disabled/x', '/x', '/canary/x']);
    expect(guarded.seen).to.deep.equal([]);
    expect(effects(await problems(gw))).to.deep.equal({
      'routes/admin': 'answers 503',
      'routes/billing': 'answers 503',
      'routes/reports': 'answers 503',
      'routes/exports': 'answers 503',
      'routes/beta': 'answers 503',
      'routes/canary': 'answers 503',
      'routes/never': 'skipped',
      'routes/disabled': 'skipped',
    });
    for (const widened of [/"route":"reports".*"widened":\["hosts"\]/, /"route":"exports".*"widened":\["methods","priority"\]/, /"route":"beta".*"widened":\["vars"\]/]) {
      expect(await gw.logged(widened), `${widened} in the log:\n${gw.output()}`).to.equal(true);
    }
  }

  /** Global rules that could refuse requests and cannot run: every request answers 503. */
  const refusingRules: Array<[string, Record<string, unknown>]> = [
    ['a key-auth config its schema refuses', { 'auth-rule': { plugins: { 'key-auth': { header: 5 } } } }],
    ['a custom auth plugin that is not loaded', { 'auth-rule': { plugins: { 'team-token-auth': {} } } }],
    ['a rule record its schema refuses', { 'auth-rule': { plugins: { 'key-auth': {} }, name: 'not allowed on a global rule' } }],
    ['a rule record that is not an object', { 'auth-rule': null }],
    ['key-auth in two rules (APISIX drops both)', { 'auth-a': { plugins: { 'key-auth': {} } }, 'auth-b': { plugins: { 'key-auth': {} } } }],
  ];

  async function expectEverythingFenced(gw: GatewayProcess, ruleIds: string[]): Promise<void> {
    for (const [path, headers] of [['/x', {}], ['/x', { apikey: 'alice-key' }], ['/no/route/here', {}]] as Array<[string, Record<string, string>]>) {
      const res = await http('GET', `${gw.url}${path}`, undefined, headers);
      expect(res.status, path).to.equal(503);
      expect(res.json).to.include({ error_msg: 'Service Unavailable', code: 'GW_GLOBAL_RULE_BROKEN' });
    }
    expect(open.seen).to.deep.equal([]);
    const listed = (await problems(gw)).filter((p) => p.kind === 'global_rules');
    expect(listed.map((p) => p.effect)).to.deep.equal(['every request answers 503']);
    expect(ruleIds).to.include(listed[0].id);
    const logged = await gw.logged('global rule cannot run and could refuse requests: every request answers 503 until it is fixed');
    expect(logged, `the fence logged:\n${gw.output()}`).to.equal(true);
  }

  describe('embedded catalog (records in the catalog file)', () => {
    it('an invalid protected route answers 503 on what it matched; the catch-all never gets its requests', async () => {
      const catalog = baseline();
      writeCatalogFile({ ...catalog, routes: { ...catalog.routes, ...brokenRoutes() } });
      await expectRoutesFenced(await start());
    });

    for (const [what, rules] of refusingRules) {
      it(`a global rule with ${what}: every request answers 503`, async () => {
        writeCatalogFile({ ...baseline(), global_rules: rules });
        await expectEverythingFenced(await start(), Object.keys(rules));
      });
    }

    it('a global rule that only observes (a log sink) and cannot run is skipped; requests are served', async () => {
      writeCatalogFile({ ...baseline(), global_rules: { logs: { plugins: { 'http-logger': { uri: 'ftp://nowhere' } } } } });
      const gw = await start();
      expect((await http('GET', `${gw.url}/x`)).status).to.equal(200);
      expect(effects(await problems(gw))).to.deep.equal({ 'global_rules/logs': 'skipped' });
    });
  });

  describe('redis catalog (records written into Redis)', () => {
    let prefix: string;
    let config: string;
    const writer = async () => {
      const client = (await sharedRedis()).client();
      return {
        put: (kind: string, id: string, value: unknown) => storeCatalogRecord(client, prefix, kind, id, value),
        remove: async (kind: string, id: string) => {
          await client.hdel(`{${prefix}}:${kind}`, id);
          await client.incr(`{${prefix}}:revision`);
        },
        clear: async () => {
          const keys = await client.keys(`{${prefix}}:*`);
          if (keys.length > 0) await client.del(...keys);
        },
      };
    };
    beforeEach(async () => {
      prefix = `failclosed${Date.now()}`;
      config = join(dataDir, 'redis.yaml');
      writeFileSync(config, `catalog:\n  backend: redis\n  poll_interval: 0.2\nredis:\n  url: ${(await sharedRedis()).url}\n  key_prefix: ${prefix}\n`);
    });
    afterEach(async () => (await writer()).clear());

    it('invalid protected routes answer 503 at start', async () => {
      const store = await writer();
      const catalog = baseline();
      for (const [kind, entries] of Object.entries({ ...catalog, routes: { ...catalog.routes, ...brokenRoutes() } })) {
        for (const [id, value] of Object.entries(entries)) await store.put(kind, id, value);
      }
      await expectRoutesFenced(await start(['--config', config]));
    });

    it('a global rule written while the gateway runs fences every request until it is fixed or removed', async () => {
      const store = await writer();
      for (const [kind, entries] of Object.entries(baseline())) {
        for (const [id, value] of Object.entries(entries)) await store.put(kind, id, value);
      }
      const gw = await start(['--config', config]);
      const status = async () => (await http('GET', `${gw.url}/x`)).status;
      expect(await status()).to.equal(200);
      for (const [what, rules] of refusingRules) {
        open.seen.length = 0;
        for (const [id, value] of Object.entries(rules)) await store.put('global_rules', id, value);
        expect(await waitFor(async () => (await status()) === 503, 10_000), what).to.equal(true);
        open.seen.length = 0;
        await expectEverythingFenced(gw, Object.keys(rules));
        for (const id of Object.keys(rules)) await store.remove('global_rules', id);
        expect(await waitFor(async () => (await status()) === 200, 10_000), `${what}: removed`).to.equal(true);
      }
      // Fixed in place: a valid key-auth rule now guards every route, as it should have all along.
      await store.put('global_rules', 'auth-rule', { plugins: { 'key-auth': { header: 5 } } });
      expect(await waitFor(async () => (await status()) === 503, 10_000)).to.equal(true);
      await store.put('global_rules', 'auth-rule', { plugins: { 'key-auth': {} } });
      expect(await waitFor(async () => (await status()) === 401, 10_000)).to.equal(true);
      expect((await http('GET', `${gw.url}/x`, undefined, { apikey: 'alice-key' })).status).to.equal(200);
      expect(await problems(gw)).to.deep.equal([]);
    });
  });

  describe('Admin API', () => {
    it('refuses a plugin a second global rule already holds, atomically (APISIX 3.15)', async () => {
      const gw = await start();
      const ids = [...Array(10).keys()].map((i) => `g${i}`);
      const results = await Promise.all(ids.map((id) => gw.admin('PUT', `/global_rules/${id}`, { plugins: { 'key-auth': {} } })));
      const accepted = ids.filter((_, i) => results[i].status === 201);
      expect(accepted, results.map((r) => r.text).join('\n')).to.have.length(1);
      for (const [i, res] of results.entries()) {
        if (ids[i] === accepted[0]) continue;
        expect(res.status).to.equal(400);
        expect(res.json.error_msg).to.equal(`plugin 'key-auth' already exists in global rule with id '${accepted[0]}'`);
      }
      // Replacing the holder keeps its plugin; deleting it frees the name.
      expect((await gw.admin('PUT', `/global_rules/${accepted[0]}`, { plugins: { 'key-auth': { header: 'x-key' } } })).status).to.equal(200);
      expect((await gw.admin('DELETE', `/global_rules/${accepted[0]}`)).status).to.equal(200);
      expect((await gw.admin('PUT', '/global_rules/other', { plugins: { 'key-auth': {} } })).status).to.equal(201);
    });
  });
});
