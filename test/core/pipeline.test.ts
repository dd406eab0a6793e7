/**
 * The plugin pipeline: phase order (APISIX's), priority order, global rules first, early replies,
 * per-instance _meta, plugin errors contained to their request, per-route instance lifecycle.
 */
import { expect } from 'chai';
import { definePlugin, type Plugin } from '../../core/plugin.js';
import { GatewayError } from '../../core/errors.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/processes.js';

/** Records "<name>:<phase>" into a per-request trace sent back as a response header. */
function tracer(name: string, priority: number, extra: Partial<Plugin> = {}): Plugin {
  const mark = (phase: string) => (ctx: Parameters<NonNullable<Plugin['rewrite']>>[0]) => {
    const trace = ctx.gateway.scratch('trace', () => ({ steps: [] as string[] }));
    trace.steps.push(`${name}:${phase}`);
  };
  return definePlugin({
    name,
    version: '1.0.0',
    priority,
    schema: { type: 'object', additionalProperties: false, properties: { reply: { type: 'boolean' }, throws: { type: 'string' } } },
    rewrite: mark('rewrite'),
    access: (ctx, conf: { reply?: boolean; throws?: string }) => {
      mark('access')(ctx);
      if (conf.throws === 'gateway') throw new GatewayError(429, 'GW_TEST_LIMIT', 'slow down', { headers: { 'retry-after': '7' } });
      if (conf.throws === 'crash') throw new Error('db password is hunter2');
      if (conf.throws === 'busy') throw new GatewayError(503, 'GW_TEST_BUSY', 'try later');
      if (conf.reply) {
        ctx.status = 200;
        ctx.body = { replied: name };
      }
    },
    headerFilter: (ctx, conf: { throws?: string }) => {
      mark('headerFilter')(ctx);
      if (conf.throws === 'header' && ctx.status === 200) throw new Error('header filter broke on hunter2');
      ctx.set('x-trace', ctx.gateway.scratch('trace', () => ({ steps: [] as string[] })).steps.join(','));
    },
    log: (ctx) => {
      logged.push(`${name}:${ctx.gateway.route?.id ?? '-'}:${ctx.status}`);
    },
    ...extra,
  });
}

const logged: string[] = [];
const lifecycle: string[] = [];

const instanceTracker = definePlugin<{ tag: string }, { tag: string; dispose(): void }>({
  name: 'instance-tracker',
  version: '1.0.0',
  priority: 7,
  schema: { type: 'object', additionalProperties: false, required: ['tag'], properties: { tag: { type: 'string' } } },
  create(conf) {
    lifecycle.push(`create:${conf.tag}`);
    return { tag: conf.tag, dispose: () => void lifecycle.push(`dispose:${conf.tag}`) };
  },
  access(ctx, _conf, instance) {
    ctx.set('x-instance', instance.tag);
  },
});

/** Answers itself with a body explicitly emptied (`ctx.body = null`), then a status of its own. */
const replier = definePlugin<{ mode: 'null-body' }>({
  name: 'replier',
  version: '1.0.0',
  priority: 6,
  schema: { type: 'object', additionalProperties: false, required: ['mode'], properties: { mode: { enum: ['null-body'] } } },
  access(ctx) {
    ctx.body = null;
    ctx.status = 200;
  },
});

describe('plugin pipeline', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway({ extraPlugins: [tracer('high', 9), tracer('low', 3), tracer('global-one', 8), instanceTracker, replier] });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  beforeEach(() => {
    logged.length = 0;
  });

  const up = () => ({ nodes: { [upstream.address]: 1 } });

  it('runs phases in APISIX order, higher priority first, global rules first in every phase', async () => {
    await gw.admin('PUT', '/global_rules/g', { plugins: { 'global-one': {} } });
    await gw.admin('PUT', '/routes/order', { uri: '/order', upstream: up(), plugins: { low: {}, high: {} } });
    const res = await gw.get('/order');
    expect(res.status).to.equal(200);
    const steps = String(res.headers['x-trace']).split(',');
    expect(steps.slice(0, 6)).to.deep.equal([
      'global-one:rewrite', 'high:rewrite', 'low:rewrite',
      'global-one:access', 'high:access', 'low:access',
    ]);
    expect(steps[6]).to.equal('global-one:headerFilter');
    expect(await waitFor(() => logged.length === 3, 1000), 'every log phase ran').to.equal(true);
    expect(logged).to.have.members(['global-one:order:200', 'high:order:200', 'low:order:200']);
    await gw.admin('DELETE', '/global_rules/g');
  });

  it('global rules run for unmatched requests too, before the 404', async () => {
    await gw.admin('PUT', '/global_rules/g', { plugins: { 'global-one': {} } });
    const res = await gw.get('/no-such-route');
    expect(res.status).to.equal(404);
    expect(res.json.error_msg).to.equal('404 Route Not Found');
    expect(res.headers['x-trace']).to.equal('global-one:rewrite,global-one:access,global-one:headerFilter');
    await gw.admin('DELETE', '/global_rules/g');
  });

  it('an early reply skips the remaining request phases and the upstream; header filters and log still run', async () => {
    upstream.seen.length = 0;
    await gw.admin('PUT', '/routes/early', { uri: '/early', upstream: up(), plugins: { high: { reply: true }, low: {} } });
    const res = await gw.get('/early');
    expect(res.json).to.deep.equal({ replied: 'high' });
    expect(String(res.headers['x-trace'])).to.equal('high:rewrite,low:rewrite,high:access,high:headerFilter,low:headerFilter');
    expect(upstream.seen).to.have.length(0);
    expect(await waitFor(() => logged.length === 2, 1000), 'both log phases ran').to.equal(true);
    expect(logged).to.have.members(['high:early:200', 'low:early:200']);
  });

  it("answers a plugin's emptied body (ctx.body = null) as Koa does: empty, whatever status it set after", async () => {
    await gw.admin('PUT', '/routes/null-body', { uri: '/null-body', upstream: up(), plugins: { replier: { mode: 'null-body' } } });
    const empty = await gw.get('/null-body');
    expect([empty.status, empty.text, empty.headers['content-length']]).to.deep.equal([200, '', '0']);
    expect(upstream.seen.some((r) => r.url === '/null-body')).to.equal(false);
  });

  it('a GatewayError becomes its status, headers and a JSON body with the request id', async () => {
    await gw.admin('PUT', '/routes/limited', { uri: '/limited', upstream: up(), plugins: { low: { throws: 'gateway' } } });
    const res = await gw.get('/limited');
    expect(res.status).to.equal(429);
    expect(res.headers['retry-after']).to.equal('7');
    expect(res.json).to.include({ error_msg: 'slow down', code: 'GW_TEST_LIMIT' });
    expect(res.json.request_id).to.match(/^[0-9a-f-]{36}$/);
  });

  it('a plugin that crashes gives only that request a 500 without internals; the cause is logged', async () => {
    await gw.admin('PUT', '/routes/crash', { uri: '/crash', upstream: up(), plugins: { low: { throws: 'crash' } } });
    await gw.admin('PUT', '/routes/fine', { uri: '/fine', upstream: up() });
    const res = await gw.get('/crash', { authorization: 'Bearer secret-token', apikey: 'k-123' });
    expect(res.status).to.equal(500);
    expect(res.json.error_msg).to.equal('Internal Server Error');
    expect(res.text).to.not.include('hunter2');
    expect(res.text).to.not.include('at ');
    const line = gw.logs.find((l) => l.includes(res.json.request_id));
    expect(line, 'log line with the request id').to.be.a('string');
    expect(line).to.include('hunter2');
    expect(gw.logs.join('\n')).to.not.include('secret-token');
    expect((await gw.get('/fine')).status).to.equal(200);
  });

  it('a header filter that crashes on a proxied response gives a 500, not a 502 blamed on the upstream', async () => {
    await gw.admin('PUT', '/routes/header-crash', { uri: '/header-crash', upstream: up(), plugins: { low: { throws: 'header' } } });
    const res = await gw.get('/header-crash');
    expect(res.status).to.equal(500);
    expect(res.json.error_msg).to.equal('Internal Server Error');
    expect(res.text).to.not.include('hunter2');
    expect(gw.logs.find((l) => l.includes(res.json.request_id))).to.include('hunter2');
    expect(logged).to.include('low:header-crash:500');
  });

  it('logs deliberate 5xx answers quietly and throttles repeated failures', async () => {
    await gw.admin('PUT', '/routes/busy', { uri: '/busy', upstream: up(), plugins: { low: { throws: 'busy' } } });
    await gw.admin('PUT', '/routes/crash-many', { uri: '/crash-many', upstream: up(), plugins: { low: { throws: 'crash' } } });
    const before = gw.logs.length;
    for (let i = 0; i < 30; i++) expect((await gw.get('/busy')).status).to.equal(503);
    expect(gw.logs.slice(before).filter((l) => l.includes('"GW_TEST_BUSY"'))).to.have.length(0);
    const mark = gw.logs.length;
    for (let i = 0; i < 40; i++) expect((await gw.get('/crash-many')).status).to.equal(500);
    const lines = gw.logs.slice(mark).filter((l) => l.includes('request failed'));
    expect(lines.length).to.be.greaterThan(0);
    expect(lines.length).to.be.lessThan(40);
  });

  it('_meta.disable skips a plugin; _meta.priority reorders this instance', async () => {
    await gw.admin('PUT', '/routes/meta', { uri: '/meta', upstream: up(), plugins: { high: { _meta: { priority: 1 } }, low: {} } });
    expect(String((await gw.get('/meta')).headers['x-trace']).split(',').slice(0, 2)).to.deep.equal(['low:rewrite', 'high:rewrite']);
    await gw.admin('PUT', '/routes/meta', { uri: '/meta', upstream: up(), plugins: { high: { _meta: { disable: true } }, low: {} } });
    expect(String((await gw.get('/meta')).headers['x-trace'])).to.not.include('high');
  });

  it('merges service < plugin_config < route plugins (APISIX precedence)', async () => {
    await gw.admin('PUT', '/services/svc', { upstream: up(), plugins: { 'instance-tracker': { tag: 'from-service' } } });
    await gw.admin('PUT', '/routes/svc-only', { uri: '/svc-only', service_id: 'svc' });
    expect((await gw.get('/svc-only')).headers['x-instance']).to.equal('from-service');
    await gw.admin('PUT', '/plugin_configs/pc', { plugins: { 'instance-tracker': { tag: 'from-plugin-config' } } });
    await gw.admin('PUT', '/routes/svc-pc', { uri: '/svc-pc', service_id: 'svc', plugin_config_id: 'pc' });
    expect((await gw.get('/svc-pc')).headers['x-instance']).to.equal('from-plugin-config');
    await gw.admin('PUT', '/routes/svc-pc-route', { uri: '/svc-pc-route', service_id: 'svc', plugin_config_id: 'pc', plugins: { 'instance-tracker': { tag: 'from-route' } } });
    expect((await gw.get('/svc-pc-route')).headers['x-instance']).to.equal('from-route');
    for (const id of ['svc-only', 'svc-pc', 'svc-pc-route']) await gw.admin('DELETE', `/routes/${id}`);
    await gw.admin('DELETE', '/plugin_configs/pc');
    await gw.admin('DELETE', '/services/svc');
  });

  it('creates per-route instances once, keeps them across unrelated changes, disposes them on change and delete', async () => {
    lifecycle.length = 0;
    await gw.admin('PUT', '/routes/inst', { uri: '/inst', upstream: up(), plugins: { 'instance-tracker': { tag: 'v1' } } });
    expect((await gw.get('/inst')).headers['x-instance']).to.equal('v1');
    await gw.admin('PUT', '/routes/unrelated', { uri: '/unrelated', upstream: up() });
    expect(lifecycle).to.deep.equal(['create:v1']);
    await gw.admin('PUT', '/routes/inst', { uri: '/inst', upstream: up(), plugins: { 'instance-tracker': { tag: 'v2' } } });
    expect((await gw.get('/inst')).headers['x-instance']).to.equal('v2');
    await gw.admin('DELETE', '/routes/inst');
    expect(lifecycle).to.deep.equal(['create:v1', 'create:v2', 'dispose:v1', 'dispose:v2']);
  });

  it('a disabled route (status 0) is not matched', async () => {
    await gw.admin('PUT', '/routes/off', { uri: '/off', upstream: up(), status: 0 });
    expect((await gw.get('/off')).status).to.equal(404);
    await gw.admin('PATCH', '/routes/off', { status: 1 });
    expect((await gw.get('/off')).status).to.equal(200);
  });
});
