/**
 * The dashboard in a real browser (issue 17): the system Chromium, driven by playwright-core,
 * against a real gateway with a real upstream, real stdio MCP servers and the MCP SDK client.
 * What an operator does — sign in, create a consumer and a route with key-auth and limit-count
 * through the generated forms, see the route served, edit it, get the Admin API's error on the
 * field, delete it; watch an MCP server's sessions, log and tools and end a session a client
 * holds; sign in as a viewer and find nothing to save — and a screenshot of each main page at
 * 1280×800 (docs/dashboard.md shows them; UPDATE_SCREENSHOTS=1 refreshes those).
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { http, TEST_ADMIN_KEY, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { FAULT_SERVER, connect, post, startBridgeGateway, waitFor, type Connected } from '../mcp/support.js';
import { buildDashboard } from './build.js';
import { CHROMIUM, launchBrowser, VIEWPORT, type TestBrowser } from './browser.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

describe('dashboard in a browser', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let upstream: TestUpstream;
  let browser: TestBrowser;
  let origin: string;
  let page: Page;

  before(async function () {
    if (!CHROMIUM) {
      // The one reason to skip: .ci/run installs Debian's chromium, so CI always has it.
      console.log('    skipped: no Chromium at /usr/bin/chromium (apt-get install chromium, or set TOLLGATE_CHROMIUM)');
      this.skip();
    }
    upstream = await startUpstream();
    gw = await startBridgeGateway({
      dashboardDir: await buildDashboard(),
      overrides: { log: { level: 'warn' }, admin: { keys: [{ name: 'on-call', key: VIEWER_KEY, role: 'viewer' }] } },
    });
    origin = gw.adminUrl.replace(/\/apisix\/admin$/, '');
    const backend = await gw.admin('PUT', '/upstreams/shop-backend', { name: 'shop backend', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } });
    expect(backend.status, backend.text).to.equal(201);
    browser = await launchBrowser();
    page = browser.page;
    browser.adoptProcesses();
  });
  beforeEach(() => browser?.adoptProcesses());
  afterEach(() => browser?.adoptProcesses());
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await upstream?.close();
  });

  const field = (pointer: string) => page.locator(`[data-field="${pointer}"]`);
  const input = (pointer: string) => field(pointer).locator('input, textarea, select').first();

  async function signIn(key: string): Promise<void> {
    await page.goto(`${origin}/ui/`);
    // Strings, not functions: they run in the page, whose DOM types the test code does not load.
    await page.evaluate('sessionStorage.clear()');
    await page.reload();
    await page.getByLabel('Admin key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  }

  async function addPlugin(name: string): Promise<void> {
    await page.locator('#add-plugin').selectOption(name);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.locator(`[data-plugin="${name}"]`).waitFor();
  }

  async function shot(name: string): Promise<void> {
    // Let live panels draw their first samples.
    await page.waitForTimeout(300);
    const path = await browser.screenshot(name);
    expect(statSync(path).size).to.be.above(5000);
  }

  it('signs in with the admin key, kept in the tab (sessionStorage) and never in a cookie', async () => {
    await page.goto(`${origin}/ui/`);
    await page.getByLabel('Admin key').fill('not-the-key-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('failed to check token: wrong apikey').waitFor();
    await signIn(TEST_ADMIN_KEY);
    expect(await page.evaluate('sessionStorage.getItem("tollgate.admin-key")')).to.equal(TEST_ADMIN_KEY);
    expect(await browser.context.cookies()).to.deep.equal([]);
    expect(await page.locator('.role').textContent()).to.equal('admin');
    await page.getByTestId('mcp-sessions').getByText('0').waitFor();
  });

  it('creates a consumer and a route with key-auth and limit-count through the forms; the data plane serves it; edit; a bad value shows the API error on its field; delete', async () => {
    await signIn(TEST_ADMIN_KEY);
    // A consumer with a key: the key goes in a password field and is never shown afterwards.
    await page.getByRole('link', { name: 'Consumers', exact: true }).click();
    await page.getByRole('link', { name: 'New consumer' }).click();
    await page.locator('#record-id').fill('alice');
    await addPlugin('key-auth');
    const keyInput = input('/plugins/key-auth/key');
    expect(await keyInput.getAttribute('type')).to.equal('password');
    await keyInput.fill('alice-key-0123456789');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit consumer alice' }).waitFor();
    expect((await gw.admin('GET', '/consumers/alice')).json.value.plugins['key-auth'].key).to.equal('alice-key-0123456789');
    await page.getByRole('tab', { name: 'JSON' }).click();
    const json = await page.locator('#raw-json').inputValue();
    expect(json).to.include('"key": "******"');
    expect(json + (await page.content())).to.not.include('alice-key-0123456789');
    await shot('consumer-editor');

    // The route, field by field.
    await page.getByRole('link', { name: 'Routes', exact: true }).click();
    await page.getByRole('link', { name: 'New route' }).click();
    await page.locator('#record-id').fill('shop');
    await input('/name').fill('shop api');
    await input('/uri').fill('/shop/*');
    await field('/methods').getByLabel('GET', { exact: true }).check();
    await input('/upstream_id').fill('shop-backend');
    await addPlugin('key-auth');
    await addPlugin('limit-count');
    await input('/plugins/limit-count/count').fill('2');
    await input('/plugins/limit-count/time_window').fill('60');
    await input('/plugins/limit-count/rejected_code').fill('429');
    await shot('route-editor');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('heading', { name: 'Edit route shop' }).waitFor();

    const stored = (await gw.admin('GET', '/routes/shop')).json.value;
    expect(stored).to.deep.include({ uri: '/shop/*', name: 'shop api', methods: ['GET'], upstream_id: 'shop-backend' });
    expect(stored.plugins).to.deep.equal({ 'key-auth': {}, 'limit-count': { count: 2, time_window: 60, rejected_code: 429 } });

    // Served: refused without a key, proxied with one, limited after two.
    expect((await gw.get('/shop/items')).status).to.equal(401);
    const withKey = { apikey: 'alice-key-0123456789' };
    expect((await gw.get('/shop/items', withKey)).status).to.equal(200);
    expect(upstream.seen.at(-1)?.url).to.equal('/shop/items');
    expect((await gw.get('/shop/items', withKey)).status).to.equal(200);
    expect((await gw.get('/shop/items', withKey)).status).to.equal(429);

    // Edit: a larger quota.
    await input('/plugins/limit-count/count').fill('50');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('status').getByText('Saved.').waitFor();
    expect((await gw.admin('GET', '/routes/shop')).json.value.plugins['limit-count'].count).to.equal(50);
    const after = await gw.get('/shop/items', withKey);
    expect(after.headers['x-ratelimit-limit']).to.equal('50');

    // A value the plugin's schema refuses: the Admin API's message, on that field; nothing stored.
    await input('/plugins/limit-count/count').fill('0');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const fieldError = field('/plugins/limit-count/count').locator('.field-error');
    await fieldError.waitFor();
    const message = await fieldError.textContent();
    expect(message).to.include('failed to check the configuration of plugin limit-count err: property "/count" validation failed: must be > 0');
    expect(await input('/plugins/limit-count/count').getAttribute('aria-invalid')).to.equal('true');
    expect((await gw.admin('GET', '/routes/shop')).json.value.plugins['limit-count'].count).to.equal(50);
    await field('/plugins/limit-count/count').scrollIntoViewIfNeeded();
    await shot('route-validation-error');

    // The raw JSON editor checks its text before anything is sent.
    await page.getByRole('tab', { name: 'JSON' }).click();
    await page.locator('#raw-json').fill('{"uri": "/shop/*",');
    await page.getByText('Not valid JSON').waitFor();
    expect(await page.getByRole('button', { name: 'Save', exact: true }).isDisabled()).to.equal(true);

    // The list: search, status, and delete.
    await page.getByRole('link', { name: 'Routes', exact: true }).click();
    await page.getByRole('cell', { name: 'shop api' }).waitFor();
    await shot('routes');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('row', { name: /shop api/ }).getByRole('button', { name: 'Delete shop' }).click();
    await page.getByText('No routes yet.').waitFor();
    expect((await gw.admin('GET', '/routes/shop')).status).to.equal(404);
    expect((await gw.get('/shop/items', withKey)).status).to.equal(404);
  });

  it('the overview shows requests per second, error rate and p99 from the gateway\'s metrics, live', async () => {
    await gw.admin('DELETE', '/global_rules/prometheus');
    await signIn(TEST_ADMIN_KEY);
    // No route records HTTP metrics yet: the page says so, and one click records them everywhere.
    await page.getByRole('button', { name: 'Record them for every route (a global rule)' }).click();
    expect(await waitFor(async () => (await gw.admin('GET', '/global_rules/prometheus')).status === 200, 5000)).to.equal(true);
    await gw.admin('PUT', '/routes/measured', { uri: '/measured/*', upstream_id: 'shop-backend' });
    await gw.admin('PUT', '/routes/broken', { uri: '/broken', upstream: { nodes: { '127.0.0.1:1': 1 } } });
    // Traffic while the page samples: 40 answered, 10 failing with 502 — a fifth.
    const sending = (async () => {
      for (let round = 0; round < 30; round++) {
        await Promise.all([...Array.from({ length: 4 }, () => gw.get('/measured/x')), gw.get('/broken')]);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const rps = page.getByTestId('rps').locator('.card-value');
    expect(await waitFor(async () => Number(await rps.textContent()) > 0, 10_000, 200)).to.equal(true);
    await page.getByTestId('p99').getByText(/ ms$/).waitFor();
    // A few more samples while traffic flows: the figures move and the history is drawn.
    await page.waitForTimeout(4500);
    await shot('overview');
    await sending;
    await page.waitForTimeout(2100);
    const errorRate = await page.getByTestId('error-rate').locator('.card-value').textContent();
    expect(errorRate).to.match(/ %$/);
    expect(Number.parseFloat(errorRate!)).to.be.within(10, 30);
    await gw.admin('DELETE', '/routes/measured');
    await gw.admin('DELETE', '/routes/broken');
    await gw.admin('DELETE', '/global_rules/prometheus');
  });

  it('pages through 1,000 routes and finds one by name', async function () {
    this.timeout(180_000);
    const ids = Array.from({ length: 1000 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map(async (id) => {
          const res = await gw.admin('PUT', `/routes/${id}`, { uri: `/${id}`, name: `bulk route ${id}`, upstream_id: 'shop-backend' });
          expect(res.status, res.text).to.equal(201);
        }),
      );
    }
    await signIn(TEST_ADMIN_KEY);
    await page.getByRole('link', { name: 'Routes', exact: true }).click();
    await page.getByText('Page 1 of 50 · 1000 in all').waitFor();
    expect(await page.locator('table.list tbody tr').count()).to.equal(20);
    await page.getByRole('button', { name: 'Next ›' }).click();
    await page.getByText('Page 2 of 50').waitFor();
    await page.getByRole('cell', { name: 'bulk route bulk-0020' }).waitFor();
    await page.getByRole('searchbox').fill('bulk-0777');
    await page.getByText('Page 1 of 1 · 1 in all').waitFor();
    await page.getByRole('cell', { name: 'bulk route bulk-0777' }).waitFor();
    // The page stays as wide as the screen: paging, not one huge table.
    expect(await page.evaluate('document.documentElement.scrollWidth')).to.be.at.most(VIEWPORT.width);
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => gw.admin('DELETE', `/routes/${id}`)));
  });

  describe('an MCP server', () => {
    let client: Connected | undefined;
    afterEach(async () => {
      await client?.close().catch(() => undefined);
      client = undefined;
    });

    it('shows its live session, log, tools and who may call them; ends the session a client holds, and the client gets 404', async () => {
      const server = await gw.admin('PUT', '/mcp_servers/tools', { name: 'test tools', command: 'node', args: [FAULT_SERVER], log_lines: 50 });
      expect(server.status, server.text).to.equal(201);
      const route = await gw.admin('PUT', '/routes/mcp-tools', {
        uri: '/mcp/tools/*',
        name: 'tools over MCP',
        plugins: { 'key-auth': {}, 'mcp-acl': { deny: ['crash', 'garbage'] }, 'mcp-bridge': { base_uri: '/mcp/tools', server_id: 'tools' } },
      });
      expect(route.status, route.text).to.equal(201);
      await gw.admin('PUT', '/consumers/bob', { username: 'bob', plugins: { 'key-auth': { key: 'bob-key-0123456789' } } });
      await gw.admin('PUT', '/consumers/dora', { username: 'dora', plugins: { 'key-auth': { key: 'dora-key-0123456789' }, 'mcp-acl': { allow: ['echo'] } } });

      client = await connect(`${gw.url}/mcp/tools`, 'streamable-http', { headers: { apikey: 'bob-key-0123456789' } });
      const sessionId = client.sessionId()!;
      await client.client.callTool({ name: 'stderr', arguments: { text: 'hello from the server' } });

      await signIn(TEST_ADMIN_KEY);
      await page.getByRole('link', { name: 'MCP servers', exact: true }).click();
      await page.getByRole('link', { name: 'tools', exact: true }).click();
      await page.getByTestId('mcp-status').getByText('ready').waitFor();
      await shot('mcp-server-status');

      await page.getByRole('tab', { name: 'Sessions' }).click();
      const row = page.locator(`tr[data-session="${sessionId}"]`);
      await row.waitFor();
      expect(await row.locator('td').nth(2).textContent()).to.equal('bob');
      expect(await row.locator('code').getAttribute('title')).to.equal(sessionId);
      await shot('mcp-server-sessions');

      await page.getByRole('tab', { name: 'Log' }).click();
      await page.getByTestId('log').getByText('hello from the server').waitFor();
      // It follows: a line printed now appears without a reload.
      await client.client.callTool({ name: 'stderr', arguments: { text: 'a second line' } });
      await page.getByTestId('log').getByText('a second line').waitFor({ timeout: 10_000 });
      await shot('mcp-server-log');

      await page.getByRole('tab', { name: 'Tools, prompts, resources' }).click();
      await page.getByRole('cell', { name: 'stderr', exact: true }).waitFor();

      await page.getByRole('tab', { name: 'Who may call what' }).click();
      const matrix = page.getByTestId('acl-matrix');
      await matrix.waitFor();
      expect(await matrix.getByLabel('bob may call echo').count()).to.equal(1);
      expect(await matrix.getByLabel('bob may not call crash').count()).to.equal(1);
      expect(await matrix.getByLabel('dora may call echo').count()).to.equal(1);
      expect(await matrix.getByLabel('dora may not call stderr').count()).to.equal(1);
      await shot('mcp-server-access');

      await page.getByRole('tab', { name: 'Connect' }).click();
      expect(await page.getByTestId('streamable-url').textContent()).to.equal(`${gw.url}/mcp/tools/mcp`);
      await page.getByText('claude mcp add --transport http tools-over-mcp').waitFor();
      expect(await page.locator('.copy-block pre').first().textContent()).to.include('--header "apikey: <your key>"');
      await page.getByRole('tab', { name: 'VS Code' }).click();
      expect(await page.locator('.copy-block pre').first().textContent()).to.include('"apikey": "${input:tools-over-mcp-key}"');
      await shot('mcp-server-connect');

      await page.getByRole('tab', { name: 'Sessions' }).click();
      await row.waitFor();
      page.once('dialog', (dialog) => void dialog.accept());
      await row.getByRole('button', { name: /End session/ }).click();
      await row.waitFor({ state: 'detached' });
      await page.getByText(/Session .* ended\./).waitFor();
      // The client's next request finds no session: 404, the spec's signal to initialize again.
      const next = await post(`${gw.url}/mcp/tools/mcp`, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, {
        apikey: 'bob-key-0123456789',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': '2025-11-25',
      });
      expect(next.status).to.equal(404);
      expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/tools/status')).json.children === 0, 5000)).to.equal(true);
    });
  });

  it('a viewer key gets a read-only page with secrets masked, and cannot save', async () => {
    await gw.admin('PUT', '/consumers/carol', { username: 'carol', plugins: { 'key-auth': { key: 'carol-key-0123456789' } } });
    await signIn(VIEWER_KEY);
    expect(await page.locator('.role').textContent()).to.equal('viewer · read-only');
    await page.goto(`${origin}/ui/#/consumers/carol`);
    await page.getByText('Read-only: you are signed in with a viewer key').waitFor();
    expect(await page.getByRole('button', { name: 'Save', exact: true }).count()).to.equal(0);
    expect(await page.getByRole('button', { name: 'Delete', exact: true }).count()).to.equal(0);
    expect(await input('/plugins/key-auth/key').isDisabled()).to.equal(true);
    await page.getByRole('tab', { name: 'JSON' }).click();
    expect(await page.locator('#raw-json').inputValue()).to.include('"key": "******"');
    expect(await page.content()).to.not.include('carol-key-0123456789');
    await page.getByRole('link', { name: 'Routes', exact: true }).click();
    await page.getByRole('heading', { name: 'Routes' }).waitFor();
    expect(await page.getByRole('link', { name: 'New route' }).count()).to.equal(0);
    await page.goto(`${origin}/ui/#/consumers/carol`);
    await page.getByText('Read-only: you are signed in with a viewer key').waitFor();
    await shot('viewer-read-only');
    // Even a request made by hand with the viewer key is refused by the Admin API.
    const refused = await page.evaluate(async (key) => {
      const res = await fetch('/apisix/admin/consumers/carol', { method: 'PUT', headers: { 'X-API-KEY': key }, body: JSON.stringify({ plugins: {} }) });
      return { status: res.status, body: (await res.json()) as { description?: string } };
    }, VIEWER_KEY);
    expect(refused.status).to.equal(401);
    expect(refused.body.description).to.equal('invalid method for role viewer');
  });

  it('shows the plugins with their schemas and documentation', async () => {
    await signIn(TEST_ADMIN_KEY);
    await page.getByRole('link', { name: 'Plugins', exact: true }).click();
    await page.getByRole('link', { name: 'limit-count' }).waitFor();
    await shot('plugins');
    await page.getByRole('link', { name: 'limit-count' }).click();
    await page.getByRole('heading', { name: 'Plugin limit-count' }).waitFor();
    await page.getByRole('cell', { name: 'time_window' }).first().waitFor();
    await shot('plugin-limit-count');
    // The keyboard reaches the navigation and the page: from the top, Tab lands on the skip link,
    // which moves focus to the page, then the sections follow in order.
    await page.reload();
    await page.getByRole('heading', { name: 'Plugin limit-count' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).to.equal('Skip to content');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).to.equal('Overview');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Routes' }).waitFor();
  });

  it('keeps the Admin API origin only: no request leaves it', async () => {
    const foreign: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(origin)) foreign.push(req.url());
    });
    await signIn(TEST_ADMIN_KEY);
    for (const section of ['routes', 'upstreams', 'services', 'consumers', 'global_rules', 'plugins', 'mcp']) {
      await page.goto(`${origin}/ui/#/${section}`);
      await page.locator('main h1').waitFor();
    }
    await page.getByRole('link', { name: 'Upstreams', exact: true }).click();
    await page.getByRole('cell', { name: 'shop backend' }).waitFor();
    await shot('upstreams');
    expect(foreign).to.deep.equal([]);
  });
});
