/**
 * The access log: one JSON line per request after the response, with the fields of issue 5 for
 * HTTP and MCP requests, never a credential (faults-checklist B-18), to stdout, a file, or off.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { http, spawnGateway, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { FAULT_SERVER, bridgeRoute, connect, endRawSession, post, rawSession, startBridgeGateway } from '../mcp/support.js';
import { putConsumer, putRoute } from '../plugins/support.js';
import { accessEntries, scrape } from './support.js';

/** The access line of the request whose answer carried `requestId` (or the last one for `path`). */
async function lineFor(gw: TestGateway, match: (e: Record<string, any>) => boolean): Promise<Record<string, any>> {
  let found: Record<string, any> | undefined;
  await waitFor(() => (found = accessEntries(gw).findLast(match)) !== undefined, 3000);
  expect(found, 'an access line').to.not.equal(undefined);
  return found!;
}

describe('access log', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream.close());

  describe('HTTP requests', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway();
      await putConsumer(gw, 'carol', { 'key-auth': { key: 'carol-secret-key' } });
      await gw.admin('PUT', '/services/shop', { upstream: { nodes: { [upstream.address]: 1 } } });
      await gw.admin('PUT', '/routes/cart', { uri: '/cart', service_id: 'shop', plugins: { 'key-auth': {} } });
    });
    after(() => gw.stop());

    it('writes one line per request with the request, route, consumer, response and upstream', async () => {
      const before = gw.accessLogs.length;
      const res = await gw.request('POST', '/cart', 'x'.repeat(500), { apikey: 'carol-secret-key', 'content-type': 'text/plain', host: 'shop.example' });
      expect(res.status).to.equal(200);
      const line = await lineFor(gw, (e) => e.path === '/cart' && e.status === 200);
      expect(gw.accessLogs.length).to.equal(before + 1);
      expect(line.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(line.request_id).to.match(/^[0-9a-f-]{36}$/);
      expect(line).to.include({
        client_ip: '127.0.0.1',
        method: 'POST',
        host: 'shop.example',
        path: '/cart',
        route_id: 'cart',
        service_id: 'shop',
        consumer: 'carol',
        status: 200,
        upstream_addr: upstream.address,
        upstream_status: 200,
      });
      expect(line.bytes_in).to.be.within(500, 800);
      expect(line.bytes_out).to.be.at.least(Buffer.byteLength(res.text));
      expect(line.latency).to.be.a('number').and.greaterThan(0);
      expect(line.upstream_latency).to.be.a('number').and.at.most(line.latency);
      expect(line).to.not.have.property('level');
    });

    it('records errors: the gateway code and the plugin that answered', async () => {
      expect((await gw.get('/cart', { apikey: 'wrong' })).status).to.equal(401);
      const line = await lineFor(gw, (e) => e.path === '/cart' && e.status === 401);
      expect(line).to.include({ error_code: 'GW_AUTH_INVALID_KEY', answered_by: 'key-auth' });
      expect(line).to.not.have.property('upstream_addr');
      expect((await gw.get('/nowhere')).status).to.equal(404);
      const missing = await lineFor(gw, (e) => e.path === '/nowhere');
      expect(missing).to.include({ status: 404, error_code: 'GW_ROUTE_NOT_FOUND' });
      expect(missing).to.not.have.property('route_id');
    });

    it('writes 499 for a client that leaves before the answer', async () => {
      const slow = await startUpstream();
      slow.behaviour = 'hang';
      try {
        await putRoute(gw, 'slow', '/slow', slow, {});
        const controller = new AbortController();
        const pending = request(`${gw.url}/slow`, { signal: controller.signal }).catch(() => undefined);
        await waitFor(() => slow.seen.length > 0, 3000);
        controller.abort();
        await pending;
        const line = await lineFor(gw, (e) => e.path === '/slow');
        expect(line).to.include({ status: 499, aborted: true });
      } finally {
        await slow.close();
      }
    });

    it('never logs a credential, whatever the request carries (B-18)', async () => {
      const secrets = ['carol-secret-key', 'bearer-token-s3cr3t', 'cookie-s3cr3t', 'jwt-in-query-s3cr3t', 'apikey-in-query-s3cr3t'];
      const traced = await startTestGateway({ overrides: { log: { level: 'trace' } } });
      try {
        await putConsumer(traced, 'carol', { 'key-auth': { key: 'carol-secret-key' } });
        await putRoute(traced, 'cart', '/cart', upstream, { 'key-auth': {} });
        await putRoute(traced, 'open', '/open', upstream, {});
        const headers = { apikey: 'carol-secret-key', authorization: 'Bearer bearer-token-s3cr3t', cookie: 'session=cookie-s3cr3t' };
        expect((await traced.get('/cart?jwt=jwt-in-query-s3cr3t&apikey=apikey-in-query-s3cr3t', headers)).status).to.equal(200);
        expect((await traced.get('/open?jwt=jwt-in-query-s3cr3t&apikey=apikey-in-query-s3cr3t', headers)).status).to.equal(200);
        expect((await traced.get('/cart?apikey=apikey-in-query-s3cr3t', { authorization: 'Bearer bearer-token-s3cr3t' })).status).to.equal(401);
        await waitFor(() => traced.accessLogs.length >= 3, 3000);
        const everything = [...traced.accessLogs, ...traced.logs].join('\n');
        expect(traced.accessLogs).to.have.length(3);
        for (const secret of secrets) expect(everything, secret).to.not.include(secret);
        // The path is logged, its query is not.
        expect(accessEntries(traced).map((e) => e.path)).to.deep.equal(['/cart', '/open', '/cart']);
      } finally {
        await traced.stop();
      }
    });
  });

  describe('MCP requests', () => {
    let gw: TestGateway;
    let base: string;
    let limitedBase: string;
    before(async () => {
      gw = await startBridgeGateway();
      base = await bridgeRoute(gw, 'tools', [FAULT_SERVER]);
      limitedBase = await bridgeRoute(gw, 'limited', [FAULT_SERVER], {}, { plugins: { 'limit-count': { count: 2, time_window: 60, key: 'mcp_tool' } } });
    });
    after(() => gw.stop());

    it('adds the session id, JSON-RPC method, tool name and JSON-RPC error code', async () => {
      const session = await connect(base, 'streamable-http');
      const sessionId = session.sessionId()!;
      try {
        await session.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
        await session.client.callTool({ name: 'no-such-tool', arguments: {} }).catch(() => undefined);
      } finally {
        await session.close();
      }
      const init = await lineFor(gw, (e) => e.mcp_method === 'initialize');
      expect(init).to.include({ mcp_transport: 'streamable-http', mcp_session_id: sessionId, status: 200, route_id: 'tools' });
      const call = await lineFor(gw, (e) => e.mcp_method === 'tools/call' && e.mcp_name === 'echo');
      expect(call).to.include({ mcp_session_id: sessionId, status: 200, upstream_status: 200, path: '/tools/mcp' });
      expect(call).to.not.have.property('mcp_error');
      const failed = await lineFor(gw, (e) => e.mcp_name === 'no-such-tool');
      expect(failed).to.include({ mcp_error: -32602, mcp_method: 'tools/call' });
    });

    it('records the JSON-RPC error of a request the gateway refused (a rate limit, an invalid message)', async () => {
      const id = await rawSession(limitedBase);
      const headers = { 'mcp-session-id': id };
      try {
        for (let i = 0; i < 2; i++) await post(`${limitedBase}/mcp`, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'pid', arguments: {} } }, headers);
        const limited = await post(`${limitedBase}/mcp`, { jsonrpc: '2.0', id: 200, method: 'tools/call', params: { name: 'pid', arguments: {} } }, headers);
        expect(limited.json.error.code).to.equal(-32000);
        const line = await lineFor(gw, (e) => e.mcp_id === 200);
        expect(line).to.include({ mcp_error: -32000, status: 200, error_code: 'GW_RATE_LIMITED', answered_by: 'limit-count', mcp_name: 'pid' });
        // Counted as a rejection by its own status, although the client got it inside a 200.
        expect((await scrape(gw)).value('tollgate_rejected_requests_total', { plugin: 'limit-count', code: '503' })).to.be.at.least(1);
      } finally {
        // DELETE would be rate limited too: removing the route ends its sessions.
        await gw.admin('DELETE', '/routes/limited');
      }
      const other = await rawSession(base);
      try {
        const invalid = await post(`${base}/mcp`, '{"jsonrpc":"2.0",', { 'mcp-session-id': other });
        expect(invalid.status).to.equal(400);
        const bad = await lineFor(gw, (e) => e.mcp_error === -32700);
        expect(bad).to.include({ status: 400, mcp_session_id: other, error_code: 'GW_MCP_INVALID_MESSAGE' });
      } finally {
        await endRawSession(base, other);
      }
      // The legacy transport too: its GET stream is one line, when it ends.
      const legacy = await connect(base, 'sse');
      const legacyId = legacy.sessionId()!;
      await legacy.close();
      const stream = await lineFor(gw, (e) => e.mcp_transport === 'sse' && e.path === '/tools/sse');
      expect(stream.status).to.equal(200);
      const message = await lineFor(gw, (e) => e.mcp_transport === 'sse' && e.mcp_method === 'initialize');
      expect(message).to.include({ mcp_session_id: legacyId, status: 202 });
    });
  });

  describe('destinations', () => {
    it('goes to stdout by default, one whole line per request among the gateway\'s own output', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-access-'));
      const gateway = await spawnGateway({ TOLLGATE_LOG_LEVEL: 'info', TOLLGATE_DATA_DIR: dataDir });
      try {
        for (let i = 0; i < 30; i++) expect((await http('GET', `${gateway.url}/stdout-${i}`)).status).to.equal(404);
        // Written within a second even on a quiet gateway.
        expect(await waitFor(() => gateway.output().includes('"path":"/stdout-29"'), 3000)).to.equal(true);
        const lines = gateway.output().split('\n').filter((l) => l.includes('"path":"/stdout-'));
        expect(lines).to.have.length(30);
        for (const line of lines) expect(JSON.parse(line)).to.include({ status: 404, error_code: 'GW_ROUTE_NOT_FOUND' });
      } finally {
        await gateway.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

    it('appends to a file when access_log.path is set', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-access-'));
      const file = join(dir, 'logs/access.log');
      const gw = await startTestGateway({ overrides: { access_log: { path: file } } });
      try {
        await putRoute(gw, 'to-file', '/to-file', upstream, {});
        for (let i = 0; i < 3; i++) expect((await gw.get('/to-file')).status).to.equal(200);
        expect(await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim().split('\n').length === 3, 3000)).to.equal(true);
        const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(lines.map((l) => l.path)).to.deep.equal(['/to-file', '/to-file', '/to-file']);
        expect(gw.accessLogs).to.have.length(0);
      } finally {
        await gw.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses to start with a path it cannot open', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-access-'));
      try {
        const error = await startTestGateway({ overrides: { access_log: { path: dir } } }).then(
          async (gw) => {
            await gw.stop();
            return undefined;
          },
          (err: Error) => err,
        );
        expect(error?.message).to.match(/key "access_log.path": .* cannot be opened/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('writes nothing when access_log.enabled is false', async () => {
      const gw = await startTestGateway({ overrides: { access_log: { enabled: false } } });
      try {
        await putRoute(gw, 'silent', '/silent', upstream, {});
        expect((await gw.get('/silent')).status).to.equal(200);
        await new Promise((r) => setTimeout(r, 100));
        expect(gw.accessLogs).to.have.length(0);
      } finally {
        await gw.stop();
      }
    });
  });
});
