/**
 * Validation at write time, never a route that fails forever or a crash later (issue 10 item 11).
 * A route with `remote_addr: "127.0.0.33333"` used to be stored, and then ended the gateway on
 * that write and on every start after it. The Admin API now refuses what can never work with a
 * 400 naming the field; a record no write checked (an older version's, or one written straight
 * into the catalog file or Redis) never stops the gateway: it is fenced off (its route answers 503,
 * test/faults/fail-closed.test.ts) or, when it can match nothing, left out — with an error in the
 * log and on /status either way.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, gatewayCommand, http, spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { sharedRedis, storeCatalogRecord } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_KEY = 'invalid-records-admin-key-0123456789';
const VIEWER_KEY = 'invalid-records-viewer-key-0123456789';

describe('faults: records that can never work (issue 10 item 11)', function () {
  this.timeout(60_000);
  let upstream: TestUpstream;
  let dataDir: string;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-invalid-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const start = (env: Record<string, string> = {}, args: string[] = []) =>
    spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_LOG_LEVEL: 'error', ...env }, args);

  describe('at write time', () => {
    let gw: GatewayProcess;
    let nodes: Record<string, number>;
    beforeEach(async () => {
      gw = await start();
      nodes = { [upstream.address]: 1 };
      expect((await gw.admin('PUT', '/routes/good', { uri: '/good', upstream: { nodes } })).status).to.equal(201);
    });
    afterEach(async () => {
      // Whatever was refused, the gateway is up and serving the others.
      expect(gw.child.exitCode, gw.output()).to.equal(null);
      expect((await http('GET', `${gw.url}/good`)).status).to.equal(200);
      await gw.stop();
    });

    const refuse = async (body: Record<string, unknown>, message: string | RegExp, path = '/routes/bad') => {
      const res = await gw.admin('PUT', path, body);
      expect(res.status, `${JSON.stringify(body)} → ${res.text}`).to.equal(400);
      if (typeof message === 'string') expect(res.json.error_msg).to.equal(message);
      else expect(res.json.error_msg).to.match(message);
      expect((await gw.admin('GET', path)).status).to.equal(404);
    };

    it('refuses a route uri no request can match, naming the field', async () => {
      const cases: Array<[string, string]> = [
        ['/a/../b', 'can never match: requests are matched on their normalized path "/b"'],
        ['/a/./b', 'can never match: requests are matched on their normalized path "/a/b"'],
        ['/api/..', 'can never match: requests are matched on their normalized path "/"'],
        ['//double', 'can never match: requests are matched on their normalized path "/double"'],
        ['/%41pi', 'can never match: requests are matched on their normalized path "/Api"'],
        ['/a%2fb', 'can never match: requests are matched on their normalized path "/a%2Fb"'],
        ['/a%zz', 'can never match: malformed percent-encoding'],
        ['/a\r\nb', 'can never match: it contains the control character 0x0D'],
        ['/a\nb', 'can never match: it contains the control character 0x0A'],
        ['/a\u0000b', 'can never match: it contains the control character 0x00'],
        ['/a\tb', 'can never match: it contains the control character 0x09'],
        ['/a\u007fb', 'can never match: it contains the control character 0x7F'],
        ['/a b', 'can never match: it contains a space'],
        ['/a?b=1', 'can never match: a query string is not part of the path'],
        ['/café', 'can never match: clients send non-ASCII characters percent-encoded; write "/caf%C3%A9"'],
      ];
      for (const [uri, why] of cases) await refuse({ uri, upstream: { nodes } }, `invalid configuration: uri ${JSON.stringify(uri)} ${why}`);
      await refuse({ uris: ['/ok', '/x/../y'], upstream: { nodes } }, 'invalid configuration: uris[1] "/x/../y" can never match: requests are matched on their normalized path "/y"');
      await refuse({ uri: '/a*/b', upstream: { nodes } }, 'invalid configuration: uri "/a*/b": "*" is only allowed at the end');
      await refuse({ uri: 'relative', upstream: { nodes } }, 'invalid configuration: uri "relative" must start with "/"');
      // Through PATCH and the dry run too.
      const patch = await gw.admin('PATCH', '/routes/good', { uri: '/good/../admin' });
      expect(patch.status).to.equal(400);
      expect(patch.json.error_msg).to.match(/^invalid configuration: uri "\/good\/\.\.\/admin" can never match/);
      expect((await gw.admin('POST', '/schema/validate/routes', { uri: '/a\r\n', upstream: { nodes } })).status).to.equal(400);
    });

    it('refuses malformed addresses and CIDRs in remote_addr and remote_addrs, naming the field', async () => {
      const cases: Array<[string, string]> = [
        ['127.0.0.33333', '"127.0.0.33333" is not an IP address or CIDR'],
        ['256.1.1.1', '"256.1.1.1" is not an IP address or CIDR'],
        ['1.2.3', '"1.2.3" is not an IP address or CIDR'],
        ['10.0.0.0/33', '"10.0.0.0/33": the prefix length must be 0-32'],
        ['::1/129', '"::1/129": the prefix length must be 0-128'],
        ['1::2::3', '"1::2::3" is not an IP address or CIDR'],
        [':::', '":::" is not an IP address or CIDR'],
      ];
      for (const [address, why] of cases) {
        await refuse({ uri: '/addr', remote_addr: address, upstream: { nodes } }, `invalid configuration: remote_addr ${why}`);
      }
      await refuse({ uri: '/addr', remote_addrs: ['127.0.0.1', '10.0.0.0/8', '127.0.0.33333'], upstream: { nodes } }, 'invalid configuration: remote_addrs[2] "127.0.0.33333" is not an IP address or CIDR');
    });

    it('refuses upstream nodes no connection can be opened to, in upstreams, services and inline upstreams', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ '127.0.0.1:99999': 1 }, 'node "127.0.0.1:99999" has a port outside 1-65535'],
        [{ '127.0.0.1:0': 1 }, 'node "127.0.0.1:0" has a port outside 1-65535'],
        [{ '127.0.0.300:80': 1 }, 'node "127.0.0.300:80" is not a valid IPv4 address'],
        [{ '1.2.3:80': 1 }, 'node "1.2.3:80" is not a valid IPv4 address'],
        [{ '[1:2:3]:80': 1 }, 'node "[1:2:3]:80" is not a valid IPv6 address'],
      ];
      for (const [bad, why] of cases) {
        await refuse({ nodes: bad }, `invalid configuration: nodes: ${why}`, '/upstreams/bad');
        await refuse({ upstream: { nodes: bad } }, `invalid configuration: upstream.nodes: ${why}`, '/services/bad');
        await refuse({ uri: '/n', upstream: { nodes: bad } }, `invalid configuration: upstream.nodes: ${why}`);
      }
      await refuse({ nodes: [{ host: '::zz', port: 80, weight: 1 }] }, 'invalid configuration: nodes: node "::zz" is not a valid IPv6 address', '/upstreams/bad');
      await refuse({ nodes: [{ host: '[::1', port: 80, weight: 1 }] }, 'invalid configuration: nodes: node "[::1" is not a valid IPv6 address', '/upstreams/bad');
    });

    it("refuses a bare IPv6 node host, as APISIX does (upstream.t TEST 23); takes a node host that carries its port (schema-validate.t TEST 13, 14)", async () => {
      await refuse({ nodes: [{ host: '::1', port: 80, weight: 1 }] }, "invalid configuration: IPv6 address must be enclosed with '[' and ']'", '/upstreams/bad');
      const carried = await gw.admin('PUT', '/routes/carried', { uri: '/carried', upstream: { nodes: [{ host: upstream.address, weight: 1 }, { host: '[::1]:1', weight: 0 }] } });
      expect(carried.status, carried.text).to.equal(201);
      expect((await http('GET', `${gw.url}/carried`)).status).to.equal(200);
    });

    it("holds a chash key to what hash_on reads, with APISIX's words (upstream3.t TEST 13-23, routes4.t TEST 6-9)", async () => {
      const chash = (extra: Record<string, unknown>) => ({ nodes, type: 'chash', ...extra });
      await refuse(chash({}), 'missing key', '/upstreams/bad');
      await refuse({ uri: '/c', upstream: chash({ hash_on: 'header' }) }, 'missing key');
      await refuse(chash({ key: 'not_support' }), 'invalid configuration: failed to match pattern "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$" with "not_support"', '/upstreams/bad');
      await refuse(chash({ hash_on: 'header', key: '$#^@' }), 'invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "$#^@"', '/upstreams/bad');
      await refuse(chash({ hash_on: 'cookie', key: 'a b' }), 'invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "a b"', '/upstreams/bad');
      // Accepted: the consumer needs no key; request variables, headers and cookies by name.
      for (const [i, extra] of [{ hash_on: 'consumer' }, { key: 'remote_addr' }, { key: 'arg_user' }, { key: 'http_x_tenant' }, { hash_on: 'header', key: 'X-User_Id' }, { hash_on: 'vars_combinations', key: '$host-$arg_a' }].entries()) {
        const res = await gw.admin('PUT', `/upstreams/ok${i}`, chash(extra));
        expect(res.status, `${JSON.stringify(extra)} → ${res.text}`).to.equal(201);
      }
    });

    it('refuses Redis addresses of limit plugins no connection can use (they failed closed on every request)', async () => {
      const limits: Record<string, Record<string, unknown>> = {
        'limit-count': { count: 5, time_window: 60 },
        'limit-req': { rate: 5, burst: 0, key: 'remote_addr' },
        'limit-conn': { conn: 5, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' },
      };
      for (const [plugin, conf] of Object.entries(limits)) {
        const cases: Array<[Record<string, unknown>, string]> = [
          [{ policy: 'redis-cluster', redis_cluster_name: 'c', redis_cluster_nodes: ['127.0.0.1:6379', '127.0.0.1:99999'] }, 'redis_cluster_nodes[1] "127.0.0.1:99999" has a port outside 1-65535'],
          [{ policy: 'redis-cluster', redis_cluster_name: 'c', redis_cluster_nodes: ['127.0.0.300:6379'] }, 'redis_cluster_nodes[0] "127.0.0.300:6379" is not a valid IPv4 address'],
          [{ policy: 'redis', redis_host: '127.0.0.33333' }, 'redis_host "127.0.0.33333" is not a valid IPv4 address'],
        ];
        for (const [policy, why] of cases) {
          await refuse({ uri: '/limited', plugins: { [plugin]: { ...conf, ...policy } }, upstream: { nodes } }, `failed to check the configuration of plugin ${plugin} err: ${why}`);
        }
      }
    });

    it('accepts the well-formed neighbours; a percent-encoded uri matches its request', async () => {
      const accepted: Array<Record<string, unknown>> = [
        { uri: '/caf%C3%A9', upstream: { nodes } },
        { uri: '/files/a%2Fb', upstream: { nodes } },
        { uri: '/trailing/', upstream: { nodes } },
        { uri: '/wild/*rest', remote_addrs: ['127.0.0.0/8', '::1', '::ffff:127.0.0.1', 'fe80::/10'], upstream: { nodes } },
        { uri: '/nodes', upstream: { nodes: { [upstream.address]: 1, 'localhost:8080': 0, '[::1]:8080': 0, 'backend.internal': 0 } } },
      ];
      for (const [i, body] of accepted.entries()) {
        const res = await gw.admin('PUT', `/routes/ok${i}`, body);
        expect(res.status, `${JSON.stringify(body)} → ${res.text}`).to.equal(201);
      }
      expect((await http('GET', `${gw.url}/caf%C3%A9`)).status).to.equal(200);
      expect((await http('GET', `${gw.url}/files/a%2fb`)).status).to.equal(200);
      expect((await http('GET', `${gw.url}/wild/x`)).status).to.equal(200);
    });
  });

  describe('stored without a write check', () => {
    const record = (value: Record<string, unknown> | null, index: number) => ({ value, createdIndex: index, modifiedIndex: index });
    /** What an older version or a hand edit could leave in the catalog, by kind. */
    const badRecords = (nodes: Record<string, number>) => ({
      routes: {
        good: { uri: '/good', upstream: { nodes } },
        limited: { uri: '/limited', plugins: { 'limit-count': { count: 100, time_window: 60 } }, upstream: { nodes } },
        'bad-addr': { uri: '/bad-addr', remote_addr: '127.0.0.33333', upstream: { nodes } },
        'bad-star': { uri: '/a*/b', upstream: { nodes } },
        'bad-dots': { uri: '/x/../y', upstream: { nodes } },
        'bad-node': { uri: '/bad-node', upstream_id: 'bad-up' },
        'not-object': null,
      },
      upstreams: { 'bad-up': { nodes: { '127.0.0.1:99999': 1 } } },
      consumers: { ghost: null },
      // A sink only observes: it is skipped (a global rule that could refuse requests fails closed instead).
      global_rules: { g1: { plugins: { 'http-logger': { uri: 'ftp://collector' } } } },
      plugin_metadata: { 'limit-count': { id: 'limit-count', limit_header: 5 } },
    });
    const expected = [
      { kind: 'routes', id: 'bad-addr', effect: 'answers 503' },
      { kind: 'routes', id: 'bad-star', effect: 'skipped' },
      { kind: 'routes', id: 'bad-dots', effect: 'skipped' },
      { kind: 'routes', id: 'not-object', effect: 'skipped' },
      { kind: 'routes', id: 'bad-node', effect: 'answers 503' },
      { kind: 'global_rules', id: 'g1', effect: 'skipped' },
      { kind: 'consumers', id: 'ghost', effect: 'skipped' },
      { kind: 'plugin_metadata', id: 'limit-count', effect: 'skipped' },
    ];
    const errors: Record<string, string> = {
      'bad-addr': 'invalid configuration: remote_addr "127.0.0.33333" is not an IP address or CIDR',
      'bad-star': 'invalid configuration: uri "/a*/b": "*" is only allowed at the end',
      'bad-dots': 'invalid configuration: uri "/x/../y" can never match: requests are matched on their normalized path "/y"',
      'bad-node': 'upstream bad-up of route bad-node: invalid configuration: nodes: node "127.0.0.1:99999" has a port outside 1-65535',
      g1: 'failed to check the configuration of plugin http-logger err: property "/uri" validation failed: must match pattern "^https?://"',
    };

    /** The gateway starts, serves the good route, leaves out or fences off the bad ones and says so. */
    async function expectServingAroundThem(gw: GatewayProcess): Promise<void> {
      expect((await http('GET', `${gw.url}/good`)).status).to.equal(200);
      // Bad plugin metadata is not used: the plugin runs on its defaults.
      const limited = await http('GET', `${gw.url}/limited`);
      expect(limited.status).to.equal(200);
      expect(limited.headers['x-ratelimit-limit']).to.equal('100');
      for (const path of ['/x/../y', '/y']) expect((await http('GET', `${gw.url}${path}`)).status, path).to.equal(404);
      // An address it cannot read fences the uri for every client rather than none.
      for (const path of ['/bad-addr', '/bad-node']) expect((await http('GET', `${gw.url}${path}`)).status, path).to.equal(503);
      for (const path of ['/status', '/status/ready']) {
        const status = await http('GET', `${gw.statusUrl}${path}`);
        expect(status.status).to.equal(200);
        const entries = status.json.invalid_entries as Array<{ kind: string; id: string; error: string; effect: string }>;
        expect(entries.map(({ kind, id, effect }) => ({ kind, id, effect })), path).to.have.deep.members(expected);
        for (const entry of entries) if (errors[entry.id]) expect(entry.error, entry.id).to.equal(errors[entry.id]);
      }
      const logs = [
        ...['bad-star', 'bad-dots', 'not-object'].map((id) => new RegExp(`"route":"${id}".*"invalid route in catalog; it can match no request, skipped"`)),
        /"route":"bad-addr".*"widened":\["remote_addrs"\]/,
        '"invalid consumer in catalog; skipped"',
      ];
      for (const line of logs) expect(await gw.logged(line), `${line} in the log:\n${gw.output()}`).to.equal(true);
      // The Admin API reads around them too: filters and the reference check answer, not 500.
      expect((await gw.admin('GET', '/routes?name=good&uri=/good&label=a')).status).to.equal(200);
      const inUse = await gw.admin('DELETE', '/upstreams/bad-up');
      expect(inUse.status).to.equal(400);
      expect(inUse.json.error_msg).to.equal('can not delete this upstream, route [bad-node] is still using it now');
    }

    it('embedded: records written straight into the catalog file are left out, on every start', async () => {
      const nodes = { [upstream.address]: 1 };
      const resources: Record<string, Record<string, unknown>> = {};
      let index = 0;
      for (const [kind, entries] of Object.entries(badRecords(nodes))) {
        resources[kind] = Object.fromEntries(Object.entries(entries).map(([id, value]) => [id, record(value, ++index)]));
      }
      writeFileSync(join(dataDir, 'catalog.json'), JSON.stringify({ revision: index, resources }));
      const config = join(dataDir, 'viewer.yaml');
      writeFileSync(config, `admin:\n  keys:\n    - { name: ro, key: ${VIEWER_KEY}, role: viewer }\n`);
      for (let run = 0; run < 2; run++) {
        const gw = await start({}, ['--config', config]);
        try {
          await expectServingAroundThem(gw);
          // A viewer's reads mask secrets around them too.
          const viewer = await http('GET', `${gw.adminUrl}/routes`, undefined, { 'x-api-key': VIEWER_KEY });
          expect(viewer.status).to.equal(200);
          expect((await http('GET', `${gw.adminUrl}/consumers/ghost`, undefined, { 'x-api-key': VIEWER_KEY })).status).to.equal(200);
          // Fixing a record through the Admin API takes it off the list.
          expect((await gw.admin('PUT', '/routes/bad-addr', { uri: '/bad-addr', remote_addr: '127.0.0.1', upstream: { nodes } })).status).to.equal(200);
          expect((await http('GET', `${gw.url}/bad-addr`)).status).to.equal(200);
          const status = await http('GET', `${gw.statusUrl}/status`);
          expect(status.json.invalid_entries.map((e: { id: string }) => e.id)).to.not.include('bad-addr');
          // Put it back broken, straight into the file, for the second start.
          expect(await gw.stop()).to.equal(0);
          writeFileSync(join(dataDir, 'catalog.json'), JSON.stringify({ revision: index, resources }));
          rmSync(join(dataDir, 'catalog.json.log'), { force: true });
        } finally {
          await gw.stop();
        }
      }
    });

    it('redis: records written straight into Redis are left out, at start and while running', async () => {
      const redis = await sharedRedis();
      const client = redis.client();
      const prefix = `invalid${Date.now()}`;
      const nodes = { [upstream.address]: 1 };
      const write = (kind: string, id: string, value: Record<string, unknown> | null) => storeCatalogRecord(client, prefix, kind, id, value);
      for (const [kind, entries] of Object.entries(badRecords(nodes))) {
        for (const [id, value] of Object.entries(entries)) await write(kind, id, value);
      }
      const config = join(dataDir, 'redis.yaml');
      writeFileSync(config, `catalog:\n  backend: redis\n  poll_interval: 0.2\nredis:\n  url: ${redis.url}\n  key_prefix: ${prefix}\n`);
      const gw = await start({}, ['--config', config]);
      try {
        await expectServingAroundThem(gw);
        // Written behind its back while it runs: picked up by the poller, left out, still serving.
        await write('routes', 'late', { uri: '/late', remote_addrs: ['10.0.0.0/99'], upstream: { nodes } });
        const listed = await waitFor(async () => {
          const status = await http('GET', `${gw.statusUrl}/status`).catch(() => undefined);
          return Boolean(status?.json.invalid_entries.some((e: { id: string }) => e.id === 'late'));
        }, 10_000);
        expect(listed, gw.output()).to.equal(true);
        expect(gw.child.exitCode).to.equal(null);
        expect((await http('GET', `${gw.url}/good`)).status).to.equal(200);
      } finally {
        await gw.stop();
        const keys = await client.keys(`{${prefix}}:*`);
        if (keys.length > 0) await client.del(...keys);
      }
    });
  });

  describe('in the config file', () => {
    const run = (yaml: string) => {
      const file = join(dataDir, 'config.yaml');
      writeFileSync(file, yaml);
      return spawnSync(process.execPath, [...gatewayCommand(), 'start', '--config', file], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LISTEN: '127.0.0.1:0', TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0', TOLLGATE_STATUS_LISTEN: '127.0.0.1:0', TOLLGATE_METRICS_LISTEN: '127.0.0.1:0' },
        encoding: 'utf8',
        timeout: 20_000,
      });
    };

    it('stops start-up on a malformed address in admin.allow or gateway.trusted_proxies, naming the key', () => {
      const allow = run('admin:\n  allow: ["127.0.0.0/24", "10.0.0.300/8"]\n');
      expect(allow.status).to.equal(1);
      expect(allow.stderr).to.include('invalid config: key "admin.allow[1]": "10.0.0.300/8" is not an IP address or CIDR');
      expect(allow.stderr).to.not.match(/\n\s+at /);
      const proxies = run('gateway:\n  trusted_proxies: ["1.2.3.4/40"]\n');
      expect(proxies.status).to.equal(1);
      expect(proxies.stderr).to.include('invalid config: key "gateway.trusted_proxies[0]": "1.2.3.4/40": the prefix length must be 0-32');
    });
  });
});
