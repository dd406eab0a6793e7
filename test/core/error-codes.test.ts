/**
 * One error-code table per owner (the core's, each plugin's `errors`), one way to answer with an
 * error: every code is defined once and documented in docs/errors.md with its status, no source
 * spells a code or `Retry-After` by hand, and the answers the gateway makes before a route is
 * known — a malformed path, a bad Host, headers too slow or too large, a stalled body — carry a
 * code and a request id, run the global rules' log phase and get an access log line like any
 * other request.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORE_ERRORS, ERROR_CODE_PATTERN, type ErrorCode } from '../../core/errors.js';
import { BUILTIN_PLUGINS } from '../../plugins/index.js';
import { REPO_ROOT, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { parseRawResponse, rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** Source files of the gateway itself (the kernel, the route model, the plugins, the Admin API). */
function sources(): Array<{ file: string; code: string }> {
  const out: Array<{ file: string; code: string }> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(REPO_ROOT, dir))) {
      const path = join(dir, name);
      if (statSync(join(REPO_ROOT, path)).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) out.push({ file: path, code: withoutComments(readFileSync(join(REPO_ROOT, path), 'utf8')) });
    }
  };
  for (const dir of ['core', 'routes', 'plugins', 'admin']) walk(dir);
  return out;
}

/** Comments may name codes (`GW_ROUTE_BROKEN`); code may not. */
function withoutComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

/** Every table: the core's and each built-in plugin's, with its owner. */
function tables(): Array<{ owner: string; codes: ErrorCode[] }> {
  return [
    { owner: 'core', codes: Object.values(CORE_ERRORS) },
    ...BUILTIN_PLUGINS.filter((plugin) => plugin.errors).map((plugin) => ({ owner: plugin.name, codes: Object.values(plugin.errors!) })),
  ];
}

describe('error codes', () => {
  describe('one table', () => {
    it('no source spells a GW_ code as a string: codes are raised from their table', () => {
      const spelled = sources().flatMap(({ file, code }) => [...code.matchAll(/['"`](GW_[A-Z0-9_]*)['"`]/g)].map((m) => `${file}: ${m[1]}`));
      expect(spelled).to.deep.equal([]);
    });

    it('no source spells Retry-After but the error type: a raise says `retryAfter`', () => {
      const spelled = sources()
        .filter(({ file }) => file !== join('core', 'errors.ts'))
        .flatMap(({ file, code }) => [...code.matchAll(/['"`]retry-after['"`]/gi)].map((m) => `${file}: ${m[0]}`));
      expect(spelled).to.deep.equal([]);
    });

    it('defines each code once, spelled GW_<AREA>_<WHAT>, with an HTTP status and a message', () => {
      const owners = new Map<string, { owner: string; code: ErrorCode }>();
      for (const { owner, codes } of tables()) {
        for (const code of codes) {
          expect(code.code, owner).to.match(ERROR_CODE_PATTERN);
          expect(code.status, code.code).to.be.within(400, 599);
          expect(code.message, code.code).to.be.a('string').and.not.equal('');
          const seen = owners.get(code.code);
          // A code shared through the plugin kit is one definition, declared by each plugin that raises it.
          if (seen) expect(seen.code, `${code.code} in ${seen.owner} and ${owner}`).to.equal(code);
          else owners.set(code.code, { owner, code });
        }
      }
      expect(owners.size).to.be.greaterThan(40);
    });

    it('documents every code with its status in docs/errors.md, and nothing that is not one', () => {
      const page = readFileSync(join(REPO_ROOT, 'docs/errors.md'), 'utf8');
      const rows = new Map([...page.matchAll(/^\| `(GW_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
      const defined = new Map(tables().flatMap(({ codes }) => codes.map((code) => [code.code, code.status] as const)));
      expect(Object.fromEntries(rows)).to.deep.equal(Object.fromEntries(defined));
    });
  });

  describe('every local reply goes one way', () => {
    let gw: TestGateway;
    let upstream: TestUpstream;
    let dir: string;
    const logFile = () => join(dir, 'global.log');
    const logged = () => {
      try {
        return readFileSync(logFile(), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
      } catch {
        return [];
      }
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-errors-'));
      upstream = await startUpstream();
      gw = await startTestGateway({ overrides: { timeouts: { headers: 0.5, request_body_idle: 0.5 } } });
      await gw.admin('PUT', '/routes/echo', { uri: '/echo/*', upstream: { nodes: { [upstream.address]: 1 } } });
      const rule = await gw.admin('PUT', '/global_rules/log', { plugins: { 'file-logger': { path: logFile(), log_format: { status: '$status', uri: '$uri' } } } });
      expect(rule.status, rule.text).to.equal(201);
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const answer = async (bytes: string) => {
      const res = parseRawResponse(await rawRequest(gw.url, bytes, 4000));
      return { ...res, json: JSON.parse(res.body) as Record<string, unknown> };
    };

    it('a malformed path: 400 with its code and request id, the global rules log it, and so does the access log', async () => {
      const res = await answer('GET /echo/%zz HTTP/1.1\r\nHost: t\r\n\r\n');
      expect(res.status).to.equal(400);
      expect(res.json).to.include({ code: 'GW_BAD_PATH', error_msg: 'malformed percent-encoding in path' });
      expect(res.json.request_id).to.be.a('string').with.length(36);
      expect(res.headers.connection).to.equal('close');
      expect(await waitFor(() => logged().some((entry) => entry.uri === '/echo/%zz'), 3000)).to.equal(true);
      expect(logged().find((entry) => entry.uri === '/echo/%zz')).to.include({ status: 400 });
      const line = gw.accessLogs.map((l) => JSON.parse(l)).find((entry) => entry.request_id === res.json.request_id);
      expect(line).to.include({ status: 400, error_code: 'GW_BAD_PATH', path: '/echo/%zz' });
    });

    it('two Host headers: 400 GW_BAD_HOST with a request id and an access log line', async () => {
      const res = await answer('GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
      expect(res.status).to.equal(400);
      expect(res.json.code).to.equal('GW_BAD_HOST');
      expect(gw.accessLogs.some((l) => JSON.parse(l).request_id === res.json.request_id)).to.equal(true);
    });

    it('a body that stalls: 408 GW_BODY_TIMEOUT in the standard body', async () => {
      const res = await answer('POST /echo/stall HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly-part');
      expect(res.status).to.equal(408);
      expect(res.json).to.include({ code: 'GW_BODY_TIMEOUT', error_msg: 'request body not received in time' });
      expect(res.json.request_id).to.be.a('string').with.length(36);
    });

    it('what the HTTP parser refuses answers in the same shape: headers too slow (408), too large (431), bad framing (400)', async () => {
      const slow = await answer('GET /echo/x HTTP/1.1\r\nHost: t\r\n');
      expect(slow.status).to.equal(408);
      expect(slow.json).to.include({ code: 'GW_HEADERS_TIMEOUT' });
      expect(slow.json.request_id).to.be.a('string').with.length(36);
      const large = await answer(`GET /echo/x HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(large.status).to.equal(431);
      expect(large.json.code).to.equal('GW_HEADERS_TOO_LARGE');
      const framing = await answer('GET /echo/x HTTP/1.1\nHost: t\n\n');
      expect(framing.status).to.equal(400);
      expect(framing.json.code).to.equal('GW_BAD_REQUEST');
    });

    it('an answer that says when to come back says it once, as Retry-After', async () => {
      await gw.admin('PUT', '/routes/limited', {
        uri: '/limited',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: { 'limit-count': { count: 1, time_window: 60, rejected_code: 429 } },
      });
      expect((await gw.get('/limited')).status).to.equal(200);
      const raw = await rawRequest(gw.url, 'GET /limited HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
      expect(parseRawResponse(raw).status).to.equal(429);
      const lines = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n').filter((line) => /^retry-after:/i.test(line));
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^Retry-After: \d+$/);
    });
  });
});
