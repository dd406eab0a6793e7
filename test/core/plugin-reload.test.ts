/**
 * Custom plugins from plugin_dirs, TypeScript without a build step, reloaded through
 * PUT /apisix/admin/plugins/reload without a restart: changed plugins take effect, unchanged
 * routes keep their instances, a plugin that stops loading keeps its last good version serving,
 * a removed plugin leaves its routes answering 503, and every instance on one Redis follows.
 */
import { expect } from 'chai';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { http, spawnGateway, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/processes.js';

/** A TypeScript custom plugin that stamps a response header; `body` lets a test break it. */
function headerPlugin(value: string, extra = ''): string {
  return `import { definePlugin, GatewayError } from 'tollgate';

interface Conf { deny?: boolean }

export default definePlugin<Conf>({
  name: 'stamp',
  version: '${value}',
  priority: 77,
  schema: { type: 'object', additionalProperties: false, properties: { deny: { type: 'boolean' } } },
  ${extra}
  access(ctx, conf) {
    if (conf.deny) throw new GatewayError(403, 'GW_STAMP_DENIED', 'stamp says no');
  },
  headerFilter(ctx) {
    const version: string = '${value}';
    ctx.set('x-stamp', version);
  },
});
`;
}

const created: string[] = [];
const tracker = definePlugin<{ tag: string }, { dispose(): void }>({
  name: 'reload-tracker',
  version: '1.0.0',
  priority: 78,
  schema: { type: 'object', additionalProperties: false, properties: { tag: { type: 'string' } } },
  create(conf) {
    created.push(conf.tag);
    return { dispose() {} };
  },
});

describe('custom plugins and PUT /apisix/admin/plugins/reload', () => {
  let dir: string;
  let gw: TestGateway;
  let upstream: TestUpstream;
  const file = () => join(dir, 'stamp', 'index.ts');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-plugins-'));
    mkdirSync(join(dir, 'stamp'));
    writeFileSync(file(), headerPlugin('v1'));
    upstream = await startUpstream();
    gw = await startTestGateway({ extraPlugins: [tracker], overrides: { plugin_dirs: [dir] } });
    await gw.admin('PUT', '/routes/stamped', { uri: '/stamped', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { stamp: {} } });
    await gw.admin('PUT', '/routes/other', { uri: '/other', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'reload-tracker': { tag: 'other' } } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a TypeScript plugin from plugin_dirs at start, with no build step', async () => {
    const res = await gw.get('/stamped');
    expect(res.status).to.equal(200);
    expect(res.headers['x-stamp']).to.equal('v1');
    expect((await gw.admin('GET', '/plugins/list')).json).to.include('stamp');
  });

  it('a changed plugin takes effect on reload; other routes keep their instances', async () => {
    writeFileSync(file(), headerPlugin('v2'));
    const before = created.length;
    const res = await gw.admin('PUT', '/plugins/reload');
    expect(res.status).to.equal(200);
    expect(res.json).to.include({ message: 'done' });
    expect(res.json.loaded).to.deep.equal(['stamp']);
    expect((await gw.get('/stamped')).headers['x-stamp']).to.equal('v2');
    expect((await gw.get('/other')).status).to.equal(200);
    expect(created.length).to.equal(before);
  });

  it('requests in flight during a reload finish normally', async () => {
    const slow = await startUpstream((_req, res) => setTimeout(() => res.end('late but fine'), 400));
    try {
      await gw.admin('PUT', '/routes/slow-stamped', { uri: '/slow-stamped', upstream: { nodes: { [slow.address]: 1 } }, plugins: { stamp: {} } });
      const inFlight = gw.get('/slow-stamped');
      await new Promise((r) => setTimeout(r, 100));
      writeFileSync(file(), headerPlugin('v2-bis'));
      expect((await gw.admin('PUT', '/plugins/reload')).json.loaded).to.deep.equal(['stamp']);
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(res.text).to.equal('late but fine');
      writeFileSync(file(), headerPlugin('v2'));
      await gw.admin('PUT', '/plugins/reload');
      await gw.admin('DELETE', '/routes/slow-stamped');
    } finally {
      await slow.close();
    }
  });

  it('a reload with nothing changed reloads nothing', async () => {
    const res = await gw.admin('PUT', '/plugins/reload');
    expect(res.json.loaded).to.deep.equal([]);
    expect(res.json.unchanged).to.include('stamp');
  });

  const broken: Array<[string, string, RegExp]> = [
    ['a syntax error', headerPlugin('v3').replace('access(ctx, conf) {', 'access(ctx, conf) {{'), /./],
    ['a schema that does not compile', headerPlugin('v3').replace("type: 'object', additionalProperties", "type: 'objekt', additionalProperties"), /schema does not compile/],
    ['a priority clash', headerPlugin('v3').replace('priority: 77', 'priority: 1008'), /priority 1008 is already used by proxy-rewrite/],
    ['an unknown phase', headerPlugin('v3', 'header_filter() {},'), /unknown property or phase "header_filter"/],
  ];
  for (const [what, source, message] of broken) {
    it(`refuses ${what} with a clear message; the last good version keeps serving`, async () => {
      writeFileSync(file(), source);
      const res = await gw.admin('PUT', '/plugins/reload');
      expect(res.status).to.equal(200);
      expect(res.json.failed).to.have.length(1);
      expect(res.json.failed[0].name).to.equal('stamp');
      expect(res.json.failed[0].error).to.match(message);
      expect((await gw.get('/stamped')).headers['x-stamp']).to.equal('v2');
      const status = (await gw.admin('GET', '/plugins/status')).json.list.find((p: { name: string }) => p.name === 'stamp');
      expect(status).to.include({ active: true, version: 'v2' });
      expect(status.error).to.match(message);
    });
  }

  it('a plugin that throws gives that request a 500 with a request id; other routes are unaffected', async () => {
    writeFileSync(file(), headerPlugin('v4').replace("if (conf.deny) throw new GatewayError(403, 'GW_STAMP_DENIED', 'stamp says no');", "throw new Error('bug in stamp');"));
    expect((await gw.admin('PUT', '/plugins/reload')).json.loaded).to.deep.equal(['stamp']);
    const res = await gw.get('/stamped');
    expect(res.status).to.equal(500);
    expect(res.json.request_id).to.be.a('string');
    expect(gw.logs.some((l) => l.includes(res.json.request_id) && l.includes('bug in stamp'))).to.equal(true);
    expect((await gw.get('/other')).status).to.equal(200);
  });

  it("a plugin's GatewayError keeps its status even though the plugin imported its own copy of the core", async () => {
    writeFileSync(file(), headerPlugin('v5'));
    await gw.admin('PUT', '/plugins/reload');
    await gw.admin('PATCH', '/routes/stamped', { plugins: { stamp: { deny: true } } });
    const res = await gw.get('/stamped');
    expect(res.status).to.equal(403);
    expect(res.json.code).to.equal('GW_STAMP_DENIED');
    await gw.admin('PATCH', '/routes/stamped', { plugins: { stamp: { deny: false } } });
  });

  it('a removed plugin is unloaded; its routes answer 503 instead of running without it', async () => {
    unlinkSync(file());
    const res = await gw.admin('PUT', '/plugins/reload');
    expect(res.json.removed).to.deep.equal(['stamp']);
    expect((await gw.get('/stamped')).status).to.equal(503);
    expect((await gw.admin('GET', '/plugins/list')).json).to.not.include('stamp');
    writeFileSync(file(), headerPlugin('v6'));
    await gw.admin('PUT', '/plugins/reload');
    expect((await gw.get('/stamped')).headers['x-stamp']).to.equal('v6');
  });

  it('only PUT reloads', async () => {
    const res = await gw.admin('GET', '/plugins/reload');
    expect(res.status).to.equal(405);
    expect(res.json.error_msg).to.match(/please use PUT method/);
  });

  it('a reload on one instance reaches every instance on the same Redis', async function () {
    this.timeout(40_000);
    const redis = await startRedis();
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `plugin_dirs: [${JSON.stringify(dir)}]\n`);
    const env = { TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url, TOLLGATE_ADMIN_KEY: 'reload-admin-key-0123456789' };
    const [a, b] = await Promise.all([spawnGateway(env, ['--config', config]), spawnGateway(env, ['--config', config])]);
    try {
      await a.admin('PUT', '/routes/stamped', { uri: '/stamped', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { stamp: {} } });
      expect(await waitFor(async () => (await http('GET', `${b.url}/stamped`)).headers['x-stamp'] === 'v6', 3000)).to.equal(true);
      writeFileSync(file(), headerPlugin('v7'));
      expect((await a.admin('PUT', '/plugins/reload')).json.loaded).to.deep.equal(['stamp']);
      expect(await waitFor(async () => (await http('GET', `${b.url}/stamped`)).headers['x-stamp'] === 'v7', 5000)).to.equal(true);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await redis.stop();
    }
  });
});

describe('the plugin kit in a custom plugin', () => {
  let dir: string;
  let gw: TestGateway;
  let upstream: TestUpstream;

  before(async () => {
    // Outside any package, so tsx loads the plugin as CommonJS: both resolution paths of the SDK.
    dir = mkdtempSync(join(tmpdir(), 'tollgate-kit-'));
    mkdirSync(join(dir, 'crew-pass'));
    writeFileSync(
      join(dir, 'crew-pass', 'index.ts'),
      `import { defineErrors, definePlugin, type ConsumerLookup } from 'tollgate';
import { attachConsumer, unauthorized } from 'tollgate/kit';

const ERRORS = defineErrors({ GW_AUTH_CREW_PASS: { status: 401, message: 'missing or invalid pass' } });

export default definePlugin<Record<string, never>, ConsumerLookup>({
  name: 'crew-pass',
  version: '1.0.0',
  priority: 2440,
  errors: ERRORS,
  type: 'auth',
  schema: { type: 'object', additionalProperties: false, properties: {} },
  consumerSchema: { type: 'object', additionalProperties: false, required: ['pass'], properties: { pass: { type: 'string', minLength: 8, writeOnly: true } } },
  credentialField: 'pass',
  credentials: () => ({ headers: ['x-pass'], query: [] }),
  create: (_conf, _route, api) => api.consumers,
  rewrite(ctx, _conf, consumers) {
    const pass = ctx.get('x-pass');
    const consumer = pass ? consumers.find('crew-pass', 'pass', pass) : undefined;
    if (!consumer) throw unauthorized(ERRORS.GW_AUTH_CREW_PASS, ERRORS.GW_AUTH_CREW_PASS.message, 'Pass realm="crew"');
    attachConsumer(ctx, consumer);
  },
});
`,
    );
    upstream = await startUpstream();
    gw = await startTestGateway({ overrides: { plugin_dirs: [dir] } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("imports 'tollgate/kit' from wherever it lives, and gets the built-ins' auth behaviour", async () => {
    expect((await gw.admin('PUT', '/consumers', { username: 'deckhand', plugins: { 'crew-pass': { pass: 'crew-pass-0123' } } })).status).to.equal(201);
    const put = await gw.admin('PUT', '/routes/crew', { uri: '/crew', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'crew-pass': {} } });
    expect(put.status, put.text).to.equal(201);
    const refused = await gw.get('/crew');
    expect(refused.status).to.equal(401);
    expect(refused.json).to.deep.equal({ message: 'missing or invalid pass' });
    expect(refused.headers['www-authenticate']).to.equal('Pass realm="crew"');
    // A client cannot name itself: attachConsumer sets the identity header, the proxy drops the client's.
    const admitted = await gw.get('/crew', { 'x-pass': 'crew-pass-0123', 'x-consumer-username': 'captain' });
    expect(admitted.status).to.equal(200);
    expect(admitted.json.headers['x-consumer-username']).to.equal('deckhand');
  });
});

describe('plugin_attr for a custom plugin', () => {
  let dir: string;
  let upstream: TestUpstream;
  const plugin = `import { definePlugin, pluginAttributes, type Plugin, type PluginApi } from 'tollgate';

let api: PluginApi | undefined;

const greeter: Plugin = definePlugin({
  name: 'greeter',
  version: '1.0.0',
  priority: 31,
  schema: { type: 'object', additionalProperties: false, properties: {} },
  attributes: {
    schema: { type: 'object', additionalProperties: false, properties: { greeting: { type: 'string', minLength: 1, default: 'hello' } } },
  },
  init(given) {
    api = given;
  },
  headerFilter(ctx) {
    ctx.set('x-greeting', pluginAttributes<{ greeting: string }>(api!.config, greeter).greeting);
  },
});
export default greeter;
`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-attr-'));
    mkdirSync(join(dir, 'greeter'));
    writeFileSync(join(dir, 'greeter', 'index.ts'), plugin);
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the plugin its plugin_attr section, checked against the schema it declares, defaults filled', async () => {
    for (const [attr, expected] of [[{ greeting: 'ahoy' }, 'ahoy'], [undefined, 'hello']] as const) {
      const gw = await startTestGateway({ overrides: { plugin_dirs: [dir], ...(attr ? { plugin_attr: { greeter: attr } } : {}) } });
      try {
        await gw.admin('PUT', '/routes/greet', { uri: '/greet', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { greeter: {} } });
        expect((await gw.get('/greet')).headers['x-greeting']).to.equal(expected);
      } finally {
        await gw.stop();
      }
    }
  });

  it('refuses to load the plugin when its section does not fit, naming the key', async () => {
    const gw = await startTestGateway({ overrides: { plugin_dirs: [dir], plugin_attr: { greeter: { greeting: 5 } } } });
    try {
      const status = (await gw.admin('GET', '/plugins/status')).json.list as Array<{ name: string; active: boolean; error?: string }>;
      const greeter = status.find((p) => p.name === 'greeter');
      expect(greeter?.active).to.equal(false);
      expect(greeter?.error).to.match(/key "plugin_attr\.greeter\.greeting" validation failed: must be string/);
    } finally {
      await gw.stop();
    }
  });
});
