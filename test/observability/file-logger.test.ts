/**
 * file-logger: lines in a real file, APISIX's entry with credentials redacted, bodies within their
 * caps (proxied and MCP), the path from plugin metadata, a shared file, MCP audit lines, and an
 * unwritable path that costs requests nothing.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reopenLogFiles } from '../../core/line-writer.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { FAULT_SERVER, bridgeRoute, connect, startBridgeGateway } from '../mcp/support.js';
import { putRoute } from '../plugins/support.js';
import { scrape } from './support.js';

function lines(file: string): Array<Record<string, any>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('file-logger', () => {
  let dir: string;
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-file-logger-'));
    upstream = await startUpstream();
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends one line per request, creating the directory, with credentials redacted', async () => {
    const file = join(dir, 'nested/one.log');
    await putRoute(gw, 'one', '/one', upstream, { 'file-logger': { path: file } });
    expect((await gw.get('/one?jwt=jwt-secret&q=1', { authorization: 'Bearer bearer-secret', 'x-api-key': 'xkey-secret' })).status).to.equal(200);
    expect((await gw.get('/one?q=2')).status).to.equal(200);
    expect(await waitFor(() => lines(file).length === 2, 3000)).to.equal(true);
    const [first, second] = lines(file);
    expect(first.route_id).to.equal('one');
    expect(first.request.querystring).to.deep.equal({ jwt: '[redacted]', q: '1' });
    expect(first.request.uri).to.equal('/one?jwt=%5Bredacted%5D&q=1');
    expect(first.request.headers).to.include({ authorization: '[redacted]', 'x-api-key': '[redacted]' });
    expect(first.response.status).to.equal(200);
    expect(second.request.querystring).to.deep.equal({ q: '2' });
    const text = readFileSync(file, 'utf8');
    for (const secret of ['jwt-secret', 'bearer-secret', 'xkey-secret']) expect(text).to.not.include(secret);
  });

  it('moves to a new file when log files are reopened (SIGHUP after logrotate)', async () => {
    const file = join(dir, 'rotated.log');
    await putRoute(gw, 'rotated', '/rotated', upstream, { 'file-logger': { path: file } });
    expect((await gw.get('/rotated?n=1')).status).to.equal(200);
    expect(await waitFor(() => lines(file).length === 1, 3000)).to.equal(true);
    renameSync(file, `${file}.1`);
    // What bin/signals.ts runs on SIGHUP and SIGUSR1 (test/cli/signals.test.ts sends the signal).
    expect(reopenLogFiles().reopened).to.include(file);
    expect((await gw.get('/rotated?n=2')).status).to.equal(200);
    expect(await waitFor(() => lines(file).length === 1, 3000)).to.equal(true);
    expect(lines(file)[0].request.querystring).to.deep.equal({ n: '2' });
    expect(lines(`${file}.1`).map((l) => l.request.querystring.n)).to.deep.equal(['1']);
  });

  it('keeps request and response bodies within their caps', async () => {
    const file = join(dir, 'bodies.log');
    await putRoute(gw, 'bodies', '/bodies', upstream, {
      'file-logger': { path: file, include_req_body: true, include_resp_body: true, max_req_body_bytes: 5, max_resp_body_bytes: 12 },
    });
    const res = await gw.request('POST', '/bodies', 'hello world, all of it', { 'content-type': 'text/plain' });
    expect(JSON.parse(res.text).body).to.equal('hello world, all of it');
    expect(await waitFor(() => lines(file).length === 1, 3000)).to.equal(true);
    const [entry] = lines(file);
    expect(entry.request.body).to.equal('hello');
    expect(entry.response.body).to.equal(res.text.slice(0, 12));
    // A request without a body has no request body to log, and still a response body.
    expect((await gw.get('/bodies')).status).to.equal(200);
    expect(await waitFor(() => lines(file).length === 2, 3000)).to.equal(true);
    expect(lines(file)[1].request).to.not.have.property('body');
  });

  it('takes its path and log_format from plugin metadata; routes naming one file share it', async () => {
    const file = join(dir, 'shared.log');
    await gw.admin('PUT', '/plugin_metadata/file-logger', { path: file, log_format: { route: '$route_id', status: '$status', ip: '$remote_addr' } });
    try {
      await putRoute(gw, 'meta-a', '/meta-a', upstream, { 'file-logger': {} });
      await putRoute(gw, 'meta-b', '/meta-b', upstream, { 'file-logger': {} });
      expect((await gw.get('/meta-a')).status).to.equal(200);
      expect((await gw.get('/meta-b')).status).to.equal(200);
      expect((await gw.get('/meta-a')).status).to.equal(200);
      expect(await waitFor(() => lines(file).length === 3, 3000)).to.equal(true);
      // A custom entry still names its route (APISIX's get_custom_format_log adds route_id).
      expect(lines(file)).to.deep.equal([
        { route: 'meta-a', status: 200, ip: '127.0.0.1', route_id: 'meta-a' },
        { route: 'meta-b', status: 200, ip: '127.0.0.1', route_id: 'meta-b' },
        { route: 'meta-a', status: 200, ip: '127.0.0.1', route_id: 'meta-a' },
      ]);
    } finally {
      await gw.admin('DELETE', '/plugin_metadata/file-logger');
    }
  });

  it('refuses a route with no path when plugin metadata sets none either (APISIX file-logger.t TEST 1)', async () => {
    const res = await putRoute(gw, 'no-path', '/no-path', upstream, { 'file-logger': {} });
    expect(res.status).to.equal(400);
    expect(res.json.error_msg).to.equal('failed to check the configuration of plugin file-logger err: property "path" is not set in either the plugin conf or the metadata');
    expect((await gw.admin('GET', '/routes/no-path')).status).to.equal(404);
    // A global rule and a service are held to it too.
    expect((await gw.admin('PUT', '/global_rules/no-path', { plugins: { 'file-logger': {} } })).status).to.equal(400);
    expect((await gw.admin('PUT', '/services/no-path', { plugins: { 'file-logger': { log_format: { a: '$host' } } } })).status).to.equal(400);
  });

  it('writes nested log_format objects, with the route and service ids added (APISIX file-logger.t TEST 10-12)', async () => {
    const file = join(dir, 'nested-format.log');
    await gw.admin('PUT', '/services/logged', { upstream: { nodes: { [upstream.address]: 1 } } });
    const put = await gw.admin('PUT', '/routes/nested', {
      uri: '/nested',
      service_id: 'logged',
      plugins: {
        'file-logger': {
          path: file,
          log_format: {
            client_ip: '$remote_addr',
            route_id: 'overwritten',
            request: { method: '$request_method', uri: '$request_uri', headers: { user_agent: '$http_user_agent' } },
            response: { status: '$status' },
            deep: { a: { b: { c: { d: { e: '$host' } } } } },
            fixed: ['kept', 1],
          },
        },
      },
    });
    expect(put.status, put.text).to.equal(201);
    expect((await gw.get('/nested?x=1', { 'user-agent': 'tester/1' })).status).to.equal(200);
    expect(await waitFor(() => lines(file).length === 1, 3000)).to.equal(true);
    expect(lines(file)[0]).to.deep.equal({
      client_ip: '127.0.0.1',
      route_id: 'nested',
      service_id: 'logged',
      request: { method: 'GET', uri: '/nested?x=1', headers: { user_agent: 'tester/1' } },
      response: { status: 200 },
      // Five levels at most, as APISIX: the sixth comes out empty.
      deep: { a: { b: { c: { d: {} } } } },
      fixed: ['kept', 1],
    });
  });

  it('adds log_format_extra fields to the default entry without replacing one; the route\'s wins over the metadata\'s (APISIX file-logger.t TEST 15-20)', async () => {
    const file = join(dir, 'extra.log');
    await gw.admin('PUT', '/plugin_metadata/file-logger', { path: file, log_format_extra: { from_metadata: '$host' } });
    try {
      await putRoute(gw, 'extra-meta', '/extra-meta', upstream, { 'file-logger': {} });
      await putRoute(gw, 'extra-own', '/extra-own', upstream, { 'file-logger': { log_format_extra: { upstream_host: '$upstream_unresolved_host', route_id: 'not-mine', trace: '$http_x_trace' } } });
      await putRoute(gw, 'extra-ignored', '/extra-ignored', upstream, { 'file-logger': { log_format: { msg: 'only this' }, log_format_extra: { upstream_host: '$upstream_unresolved_host' } } });
      expect((await gw.get('/extra-meta')).status).to.equal(200);
      expect((await gw.get('/extra-own', { 'x-trace': 't-1' })).status).to.equal(200);
      expect((await gw.get('/extra-ignored')).status).to.equal(200);
      expect(await waitFor(() => lines(file).length === 3, 3000)).to.equal(true);
      const [meta, own, ignored] = lines(file);
      expect(meta).to.include({ route_id: 'extra-meta', from_metadata: '127.0.0.1' });
      expect(meta.response.status).to.equal(200);
      expect(own).to.include({ route_id: 'extra-own', upstream_host: '127.0.0.1', trace: 't-1' });
      expect(own).to.not.have.property('from_metadata');
      expect(own.request.method).to.equal('GET');
      expect(ignored).to.deep.equal({ msg: 'only this', route_id: 'extra-ignored' });
    } finally {
      await gw.admin('DELETE', '/plugin_metadata/file-logger');
    }
  });

  it('costs requests nothing when the file cannot be written; the failure is logged once and counted', async () => {
    const blocked = join(dir, 'a-directory');
    mkdirSync(blocked);
    await putRoute(gw, 'blocked', '/blocked', upstream, { 'file-logger': { path: blocked } });
    for (let i = 0; i < 5; i++) expect((await gw.get('/blocked')).status).to.equal(200);
    expect(await waitFor(() => gw.logs.some((l) => l.includes('file-logger cannot write its file')), 3000)).to.equal(true);
    expect(gw.logs.filter((l) => l.includes('file-logger cannot write its file'))).to.have.length(1);
    expect(await waitFor(async () => (await scrape(gw)).value('tollgate_log_entries_dropped_total', { plugin: 'file-logger' }) >= 4, 3000)).to.equal(true);
  });

  it('writes MCP fields, and audit lines with the arguments only when asked', async () => {
    const file = join(dir, 'mcp.log');
    const bridge = await startBridgeGateway();
    try {
      const base = await bridgeRoute(bridge, 'mcp-file', [FAULT_SERVER], {}, {
        plugins: { 'file-logger': { path: file, mcp_tool_audit: true, include_tool_arguments: true, include_req_body: true, max_req_body_bytes: 4096 } },
      });
      for (const transport of ['streamable-http', 'sse'] as const) {
        const session = await connect(base, transport);
        try {
          await session.client.callTool({ name: 'echo', arguments: { text: transport } });
        } finally {
          await session.close();
        }
      }
      const audits = () => lines(file).filter((e) => e.type === 'mcp_tool_call');
      expect(await waitFor(() => audits().length === 2, 5000)).to.equal(true);
      expect(audits().map((a) => [a.transport, a.arguments.text, a.outcome])).to.deep.equal([
        ['streamable-http', 'streamable-http', 'ok'],
        ['sse', 'sse', 'ok'],
      ]);
      const call = lines(file).find((e) => e.mcp?.method === 'tools/call' && e.mcp.transport === 'streamable-http');
      expect(call!.mcp.name).to.equal('echo');
      // The MCP body was buffered by the core: the line has it.
      expect(JSON.parse(call!.request.body).params.name).to.equal('echo');
    } finally {
      await bridge.stop();
    }
  });
});
