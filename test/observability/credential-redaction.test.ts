/**
 * Issue 10, item 8: redaction read the credential names of key-auth and jwt-auth from the route's
 * own record only, so key-auth with `header: x-secret` on a service (or a plugin_config, or a
 * global rule), or any custom auth plugin, put the key in clear text in file-logger and
 * http-logger entries. Plugins now say where they read credentials (`credentials(conf)`), and
 * the log sinks redact what the request's merged chains declare. Real gateway, real log file,
 * real HTTP collector on loopback; the access log and the gateway's own log are checked too.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { bridgeRoute, connect, FAULT_SERVER, startBridgeGateway } from '../mcp/support.js';
import { startCollector, type Collector } from './support.js';

describe('credential redaction on the merged chain (issue 10, item 8)', function () {
  this.timeout(30_000);
  let upstream: TestUpstream;
  let collector: Collector;
  let dir: string;
  before(async () => {
    upstream = await startUpstream();
    collector = await startCollector();
    dir = mkdtempSync(join(tmpdir(), 'tollgate-redaction-'));
  });
  after(async () => {
    await upstream.close();
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fileLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  const loggers = (file: string, extra: Record<string, unknown> = {}) => ({
    'file-logger': { path: file, ...extra },
    'http-logger': { uri: collector.url, batch_max_size: 1, inactive_timeout: 1 },
  });

  /**
   * Sends `send()`, which must be answered `status`, then waits for its entry in the log file,
   * the collector and the access log, and checks that `secret` is in none of them nor in the
   * gateway's own log.
   */
  async function expectRedacted(gw: TestGateway, file: string, secret: string, send: () => Promise<{ status: number }>, status = 200) {
    const before = { file: fileLines(file).length, http: collector.entries().length, access: gw.accessLogs.length };
    expect((await send()).status).to.equal(status);
    expect(await waitFor(() => fileLines(file).length > before.file, 3000), 'file-logger wrote the entry').to.equal(true);
    expect(await waitFor(() => collector.entries().length > before.http, 3000), 'http-logger delivered the entry').to.equal(true);
    expect(await waitFor(() => gw.accessLogs.length > before.access, 3000), 'the access log has the line').to.equal(true);
    const written = [
      ...fileLines(file).slice(before.file).map((line) => ['file-logger', line]),
      ...collector.entries().slice(before.http).map((entry) => ['http-logger', JSON.stringify(entry)]),
      ...gw.accessLogs.slice(before.access).map((line) => ['access log', line]),
      ...gw.logs.map((line) => ['gateway log', line]),
    ];
    for (const [where, line] of written) expect(line, where).to.not.include(secret);
    return fileLines(file).slice(before.file).map((line) => JSON.parse(line) as Record<string, any>);
  }

  describe('built-in auth plugins configured off the route', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway();
    });
    after(async () => gw.stop());

    it('key-auth on a service, with its own header', async () => {
      const file = join(dir, 'service.log');
      await gw.admin('PUT', '/services/svc', { plugins: { 'key-auth': { header: 'x-secret' } }, upstream: { nodes: { [upstream.address]: 1 } } });
      await gw.admin('PUT', '/consumers', { username: 'alice', plugins: { 'key-auth': { key: 'svc-secret-1234' } } });
      await gw.admin('PUT', '/routes/svc', { uri: '/svc', service_id: 'svc', plugins: loggers(file) });
      const [entry] = await expectRedacted(gw, file, 'svc-secret-1234', () => gw.get('/svc', { 'x-secret': 'svc-secret-1234' }));
      expect(entry.request.headers['x-secret']).to.equal('[redacted]');
      expect(entry.consumer).to.deep.equal({ username: 'alice' });
      // A wrong key is a credential too.
      await expectRedacted(gw, file, 'wrong-svc-secret', () => gw.get('/svc', { 'x-secret': 'wrong-svc-secret' }), 401);
    });

    it('key-auth on a plugin_config, with its own query parameter, and a log_format asking for it', async () => {
      const file = join(dir, 'plugin-config.log');
      await gw.admin('PUT', '/plugin_configs/pc', { plugins: { 'key-auth': { query: 'sk', header: 'x-pc-key' } } });
      await gw.admin('PUT', '/consumers', { username: 'bob', plugins: { 'key-auth': { key: 'pc-secret-5678' } } });
      await gw.admin('PUT', '/routes/pc', {
        uri: '/pc',
        plugin_config_id: 'pc',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: loggers(file, { log_format: { q: '$arg_sk', h: '$http_x_pc_key', args: '$args', uri: '$request_uri' } }),
      });
      const [byQuery] = await expectRedacted(gw, file, 'pc-secret-5678', () => gw.get('/pc?sk=pc-secret-5678&page=2'));
      expect(byQuery).to.include({ q: '[redacted]', args: 'sk=%5Bredacted%5D&page=2' });
      const [byHeader] = await expectRedacted(gw, file, 'pc-secret-5678', () => gw.get('/pc', { 'x-pc-key': 'pc-secret-5678' }));
      expect(byHeader.h).to.equal('[redacted]');
    });

    it("key-auth in a global rule, and a logger among the consumer's plugins", async () => {
      const file = join(dir, 'global.log');
      const consumerFile = join(dir, 'consumer.log');
      await gw.admin('PUT', '/global_rules/auth', { plugins: { 'key-auth': { header: 'x-global-key' } } });
      try {
        await gw.admin('PUT', '/consumers', { username: 'carol', plugins: { 'key-auth': { key: 'global-secret-9012' }, 'file-logger': { path: consumerFile } } });
        await gw.admin('PUT', '/consumers', { username: 'chris', plugins: { 'key-auth': { key: 'global-secret-3456' } } });
        await gw.admin('PUT', '/routes/global', { uri: '/global', upstream: { nodes: { [upstream.address]: 1 } }, plugins: loggers(file) });
        // carol's own file-logger replaces the route's (Consumer > Route); the route's http-logger still writes.
        await expectRedacted(gw, consumerFile, 'global-secret-9012', () => gw.get('/global', { 'x-global-key': 'global-secret-9012' }));
        await expectRedacted(gw, file, 'global-secret-3456', () => gw.get('/global', { 'x-global-key': 'global-secret-3456' }));
      } finally {
        await gw.admin('DELETE', '/global_rules/auth');
      }
    });
  });

  describe('a custom auth plugin (examples/plugins/team-token-auth)', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway({ overrides: { plugin_dirs: [join(REPO_ROOT, 'examples/plugins')] } });
    });
    after(async () => gw?.stop());

    it('has the header and query parameter its credentials() names redacted', async () => {
      const file = join(dir, 'custom.log');
      await gw.admin('PUT', '/consumers', { username: 'dave', plugins: { 'team-token-auth': { token: 'team-secret-3456' } } });
      await gw.admin('PUT', '/routes/team', {
        uri: '/team',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: { 'team-token-auth': { header: 'x-crew', query: 'crew' }, ...loggers(file) },
      });
      const [entry] = await expectRedacted(gw, file, 'team-secret-3456', () => gw.get('/team', { 'x-crew': 'team-secret-3456' }));
      expect(entry.request.headers['x-crew']).to.equal('[redacted]');
      const [byQuery] = await expectRedacted(gw, file, 'team-secret-3456', () => gw.get('/team?crew=team-secret-3456'));
      expect(byQuery.request.querystring.crew).to.equal('[redacted]');
    });
  });

  describe('MCP server arguments', () => {
    const VIEWER_KEY = 'viewer-key-0123456789abcdef';
    let gw: TestGateway;
    before(async () => {
      gw = await startBridgeGateway({ overrides: { admin: { keys: [{ name: 'ro', key: VIEWER_KEY, role: 'viewer' }] } } });
    });
    after(async () => gw?.stop());

    it('are masked like env: not in the log line of a started server, not shown to the viewer role', async () => {
      const base = await bridgeRoute(gw, 'mcp-args', [FAULT_SERVER, '--api-key=mcp-arg-secret-7788'], { env: { TOKEN: 'mcp-env-secret-9900' } });
      const session = await connect(base, 'streamable-http');
      try {
        expect((await session.client.listTools()).tools.length).to.be.greaterThan(0);
      } finally {
        await session.close();
      }
      const started = gw.logs.filter((line) => line.includes('mcp server started'));
      expect(started, 'the start is logged').to.have.length.greaterThan(0);
      for (const line of gw.logs) {
        expect(line).to.not.include('mcp-arg-secret-7788');
        expect(line).to.not.include('mcp-env-secret-9900');
      }
      const viewer = await gw.admin('GET', '/routes/mcp-args', undefined, VIEWER_KEY);
      expect(viewer.status).to.equal(200);
      expect(viewer.text).to.not.include('mcp-arg-secret-7788');
      expect(viewer.text).to.not.include('mcp-env-secret-9900');
      expect((await gw.admin('GET', '/routes/mcp-args')).text, 'the admin role still sees them').to.include('mcp-arg-secret-7788');
    });
  });
});
