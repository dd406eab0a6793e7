/**
 * The dashboard's files on the Admin API listener (issue 17): served at /ui/ with a strict
 * Content-Security-Policy, behind the address allow-list but before the key check; the two
 * endpoints the page needs (`whoami`, `metrics`) answer per key; without a build /ui/ says how
 * to make one.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../helpers/gateway.js';
import { buildDashboard } from './build.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

describe('dashboard: serving', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let origin: string;

  before(async () => {
    gw = await startTestGateway({
      dashboardDir: await buildDashboard(),
      overrides: { admin: { keys: [{ name: 'on-call', key: VIEWER_KEY, role: 'viewer' }] } },
    });
    origin = gw.adminUrl.replace(/\/apisix\/admin$/, '');
  });
  after(() => gw.stop());

  it('serves the page, its script and its stylesheet without a key, with a CSP that allows no inline script', async () => {
    const page = await http('GET', `${origin}/ui/`);
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.match(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).to.include("script-src 'self'").and.include("default-src 'none'").and.include("frame-ancestors 'none'");
    expect(csp).to.not.include('unsafe-inline').and.not.include('unsafe-eval');
    expect(page.headers['x-frame-options']).to.equal('DENY');
    // No inline script in the page itself: everything comes from app.js.
    expect(page.text).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = await http('GET', `${origin}/ui/app.js`);
    expect(script.status).to.equal(200);
    expect(script.headers['content-type']).to.match(/^text\/javascript/);
    expect(script.text.length).to.be.above(1000);
    expect((await http('GET', `${origin}/ui/app.css`)).status).to.equal(200);
  });

  it('redirects /ui to /ui/, refuses writes and answers 404 for anything that is not a built file', async () => {
    const bare = await http('GET', `${origin}/ui`);
    expect(bare.status).to.equal(302);
    expect(bare.headers.location).to.equal('/ui/');
    expect((await http('POST', `${origin}/ui/`, {})).status).to.equal(405);
    for (const path of ['/ui/nothing.js', '/ui/%2e%2e%2fpackage.json', '/ui/..%2fpackage.json', '/ui/sub/app.js']) {
      expect((await http('GET', origin + path)).status, path).to.equal(404);
    }
  });

  it('GET /whoami names the key and its role; the viewer role is read-only', async () => {
    const admin = await gw.admin('GET', '/whoami');
    expect(admin.status).to.equal(200);
    expect(admin.json).to.include({ name: 'admin', role: 'admin', data_plane: gw.url });
    const viewer = await gw.admin('GET', '/whoami', undefined, VIEWER_KEY);
    expect(viewer.json).to.include({ name: 'on-call', role: 'viewer' });
    expect((await http('GET', `${gw.adminUrl}/whoami`)).status).to.equal(401);
    const write = await gw.admin('PUT', '/routes/r1', { uri: '/r1', upstream: { nodes: { '127.0.0.1:1': 1 } } }, VIEWER_KEY);
    expect(write.status).to.equal(401);
    expect(write.json.description).to.equal('invalid method for role viewer');
  });

  it('GET /metrics answers this gateway\'s metrics as JSON, counting what the data plane did', async () => {
    await gw.admin('PUT', '/routes/measured', { uri: '/measured', plugins: { prometheus: {} }, upstream: { nodes: { '127.0.0.1:1': 1 } } });
    await gw.get('/measured');
    const answer = await gw.admin('GET', '/metrics');
    expect(answer.status).to.equal(200);
    expect(answer.json.time).to.be.a('number');
    const status = (answer.json.metrics as Array<{ name: string; values: Array<{ labels: Record<string, string>; value: number }> }>).find((m) => m.name === 'tollgate_http_status');
    expect(status?.values.find((v) => v.labels.route === 'measured')).to.deep.include({ value: 1 });
    expect((await http('GET', `${gw.adminUrl}/metrics`)).status).to.equal(401);
  });
});

describe('dashboard: where it is not served', function () {
  this.timeout(30_000);

  it('answers 503 naming the build step when the dashboard was not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tollgate-no-ui-'));
    const gw = await startTestGateway({ dashboardDir: empty });
    try {
      const page = await http('GET', gw.adminUrl.replace(/\/apisix\/admin$/, '/ui/'));
      expect(page.status).to.equal(503);
      expect(page.text).to.include('npm run build');
    } finally {
      await gw.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('is behind the address allow-list like the rest of the Admin API', async () => {
    const gw = await startTestGateway({ dashboardDir: await buildDashboard(), overrides: { admin: { allow: ['10.0.0.0/8'] } } });
    try {
      const page = await http('GET', gw.adminUrl.replace(/\/apisix\/admin$/, '/ui/'));
      expect(page.status).to.equal(403);
      expect(page.text).to.not.include('<script');
    } finally {
      await gw.stop();
    }
  });

  it('admin.ui: false serves no dashboard', async () => {
    const gw = await startTestGateway({ dashboardDir: await buildDashboard(), overrides: { admin: { ui: false } } });
    try {
      const page = await http('GET', gw.adminUrl.replace(/\/apisix\/admin$/, '/ui/'), undefined, { 'x-api-key': TEST_ADMIN_KEY });
      expect(page.status).to.equal(404);
    } finally {
      await gw.stop();
    }
  });
});
