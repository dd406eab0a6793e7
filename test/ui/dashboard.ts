/**
 * The dashboard in a real browser (issue 17), written once and run in each browser
 * (dashboard.chromium.test.ts, dashboard.firefox.test.ts) against a real gateway with a real
 * upstream, real stdio MCP servers and the MCP SDK client. What an operator does — sign in,
 * create a consumer and a route with key-auth and limit-count through the generated forms, see the
 * route served, edit it, get the Admin API's error on the field, delete it; create and edit an MCP
 * server; watch an MCP server's sessions, log and tools and end a session a client holds; sign in
 * as a viewer and find nothing to save — and a screenshot of each main page at 1280×800
 * (docs/dashboard.md shows Chromium's; UPDATE_SCREENSHOTS=1 refreshes those).
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import { TEST_ADMIN_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { FAULT_SERVER, connect, post, startBridgeGateway, waitFor, type Connected } from '../mcp/support.js';
import { buildDashboard } from './build.js';
import { EXECUTABLES, PACKAGES, launchBrowser, VIEWPORT, type Engine, type TestBrowser, type UiPage } from './browser.js';

const VIEWER_KEY = 'viewer-key-0123456789abcdef';

export function describeDashboard(engine: Engine): void {
  describe(`dashboard in ${engine}`, function () {
    this.timeout(60_000);
    let gw: TestGateway;
    let upstream: TestUpstream;
    let browser: TestBrowser;
    let origin: string;
    let page: UiPage;

    before(async function () {
      if (!EXECUTABLES[engine]) {
        // The one reason to skip: .ci/run installs both browsers, so CI always has them.
        console.log(`    skipped: no ${engine} installed (apt-get install ${PACKAGES[engine]}, or set TOLLGATE_${engine.toUpperCase()})`);
        this.skip();
      }
      upstream = await startUpstream();
      gw = await startBridgeGateway({
        dashboardDir: await buildDashboard(),
        overrides: { log: { level: 'warn' }, admin: { keys: [{ name: 'on-call', key: VIEWER_KEY, role: 'viewer' }] } },
      });
      origin = adminOrigin(gw);
      const backend = await gw.admin('PUT', '/upstreams/shop-backend', { name: 'shop backend', nodes: { [`127.0.0.1:${upstream.port}`]: 1 } });
      expect(backend.status, backend.text).to.equal(201);
      browser = await launchBrowser(engine);
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

    async function signIn(key: string, at = origin): Promise<void> {
      await page.goto(`${at}/ui/`);
      await page.evaluate('sessionStorage.clear()');
      await page.reload();
      await page.getByLabel('Admin key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
    }

    async function addPlugin(name: string): Promise<void> {
      await page.locator('#add-plugin').selectOption(name);
      await page.getByRole('button', { name: 'Add' }).click();
      await page.locator(`[data-plugin="${name}"]`).waitFor();
    }

    /** Until `expression`, evaluated in the page, is true. */
    async function until(expression: string, timeoutMs = 10_000): Promise<void> {
      expect(await waitFor(async () => (await page.evaluate<boolean>(expression)) === true, timeoutMs, 50), `never true: ${expression}`).to.equal(true);
    }

    async function shot(name: string): Promise<void> {
      // Whatever the page was still loading has drawn.
      await until(`![...document.querySelectorAll('main [aria-live]')].some((e) => e.textContent === 'Loading…')`);
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
      expect(await browser.cookies()).to.deep.equal([]);
      expect(await page.locator('.role').textContent()).to.equal('admin');
      await page.getByTestId('mcp-sessions').getByText('0').waitFor();
    });

    it('creates a consumer and a route with key-auth and limit-count through the forms; the data plane serves it; edit; a bad value shows the API error on its field; delete', async () => {
      await signIn(TEST_ADMIN_KEY);
      // A consumer with a key: the key goes in a password field and is never shown afterwards.
      await page.getByRole('link', { name: 'Consumers' }).click();
      await page.getByRole('link', { name: 'New consumer' }).click();
      await page.locator('#record-id').fill('alice');
      await addPlugin('key-auth');
      const keyInput = input('/plugins/key-auth/key');
      expect(await keyInput.getAttribute('type')).to.equal('password');
      await keyInput.fill('alice-key-0123456789');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('heading', { name: 'Edit consumer alice' }).waitFor();
      expect((await gw.admin('GET', '/consumers/alice')).json.value.plugins['key-auth'].key).to.equal('alice-key-0123456789');
      await page.getByRole('tab', { name: 'JSON' }).click();
      const json = await page.locator('#raw-json').inputValue();
      expect(json).to.include('"key": "******"');
      expect(json + (await page.evaluate<string>('document.documentElement.outerHTML'))).to.not.include('alice-key-0123456789');
      await shot('consumer-editor');

      // The route, field by field.
      await page.getByRole('link', { name: 'Routes' }).click();
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
      await page.getByRole('button', { name: 'Save' }).click();
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
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').getByText('Saved.').waitFor();
      expect((await gw.admin('GET', '/routes/shop')).json.value.plugins['limit-count'].count).to.equal(50);
      const after = await gw.get('/shop/items', withKey);
      expect(after.headers['x-ratelimit-limit']).to.equal('50');

      // A value the plugin's schema refuses: the Admin API's message, on that field; nothing stored.
      await input('/plugins/limit-count/count').fill('0');
      await page.getByRole('button', { name: 'Save' }).click();
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
      expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).to.equal(true);

      // The list: search, status, and delete.
      await page.getByRole('link', { name: 'Routes' }).click();
      await page.getByRole('cell', { name: 'shop api' }).waitFor();
      await shot('routes');
      page.acceptNextDialog();
      await page.getByRole('button', { name: 'Delete shop' }).click();
      await page.getByText('No routes yet.').waitFor();
      expect((await gw.admin('GET', '/routes/shop')).status).to.equal(404);
      expect((await gw.get('/shop/items', withKey)).status).to.equal(404);
    });

    it("the overview shows requests per second, error rate and p99 from the gateway's metrics, live", async () => {
      await gw.admin('DELETE', '/global_rules/prometheus');
      await signIn(TEST_ADMIN_KEY);
      // No route records HTTP metrics yet: the page says so, and one click records them everywhere.
      await page.getByRole('button', { name: 'Record them for every route (a global rule)' }).click();
      expect(await waitFor(async () => (await gw.admin('GET', '/global_rules/prometheus')).status === 200, 5000)).to.equal(true);
      await gw.admin('PUT', '/routes/measured', { uri: '/measured/*', upstream_id: 'shop-backend' });
      await gw.admin('PUT', '/routes/broken', { uri: '/broken', upstream: { nodes: { '127.0.0.1:1': 1 } } });
      // Traffic while the page samples, until the figures are read: 4 answered for 1 failing with 502, a fifth.
      let sending = true;
      const traffic = (async () => {
        for (let round = 0; sending && round < 200; round++) {
          await Promise.all([...Array.from({ length: 4 }, () => gw.get('/measured/x')), gw.get('/broken')]);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        const value = (testid: string) => page.getByTestId(testid).locator('.card-value').textContent();
        expect(await waitFor(async () => Number(await value('rps')) > 0, 10_000, 100)).to.equal(true);
        expect(await waitFor(async () => / ms$/.test((await value('p99')) ?? ''), 10_000, 100)).to.equal(true);
        // The figures move and the history is drawn: a line through the samples since the page opened.
        await page.getByTestId('rps').getByLabel('Requests / s over the last minutes', { exact: true }).waitFor({ timeout: 10_000 });
        let errorRate: string | null = null;
        const inRange = async () => {
          errorRate = await value('error-rate');
          return / %$/.test(errorRate ?? '') && Number.parseFloat(errorRate!) >= 10 && Number.parseFloat(errorRate!) <= 30;
        };
        expect(await waitFor(inRange, 10_000, 100), `error rate ${errorRate}`).to.equal(true);
        await shot('overview');
      } finally {
        sending = false;
        await traffic;
      }
      await gw.admin('DELETE', '/routes/measured');
      await gw.admin('DELETE', '/routes/broken');
      await gw.admin('DELETE', '/global_rules/prometheus');
    });

    describe('with 1,000 routes', () => {
      // A gateway of its own, its catalog written at start-up (1,000 Admin API writes take 10-15 s,
      // and as many deletes again): the page pages through what the Admin API lists either way.
      let crowded: TestGateway | undefined;
      before(async () => {
        const ids = Array.from({ length: 1000 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
        crowded = await startTestGateway({
          dashboardDir: await buildDashboard(),
          overrides: { log: { level: 'warn' } },
          seed: async (catalog) => {
            for (const id of ids) await catalog.put('routes', id, { id, uri: `/${id}`, name: `bulk route ${id}`, upstream: { nodes: { [`127.0.0.1:${upstream.port}`]: 1 } } });
          },
        });
        const listed = await crowded.admin('GET', '/routes?page=1&page_size=10');
        expect(listed.json.total).to.equal(1000);
      });
      after(async () => {
        await crowded?.stop();
      });

      it('pages through them and finds one by name', async () => {
        await signIn(TEST_ADMIN_KEY, adminOrigin(crowded!));
        await page.getByRole('link', { name: 'Routes' }).click();
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
      });
    });

    describe('an MCP server', () => {
      let client: Connected | undefined;
      afterEach(async () => {
        await client?.close().catch(() => undefined);
        client = undefined;
      });

      it('is created and edited through the form; a route serves what it defines', async () => {
        await signIn(TEST_ADMIN_KEY);
        await page.getByRole('link', { name: 'MCP servers' }).click();
        await page.getByRole('link', { name: 'New MCP server' }).click();
        await page.getByRole('heading', { name: 'New mcp server' }).waitFor();
        await page.locator('#record-id').fill('made-here');
        await input('/name').fill('made in the browser');
        await input('/command').fill('node');
        await input('/args').fill(FAULT_SERVER);
        await input('/log_lines').fill('20');
        await shot('mcp-server-editor');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByRole('heading', { name: 'Edit mcp server made-here' }).waitFor();
        const stored = (await gw.admin('GET', '/mcp_servers/made-here')).json.value;
        expect(stored).to.deep.include({ name: 'made in the browser', command: 'node', args: [FAULT_SERVER], log_lines: 20 });

        // What it defines runs: a route naming it serves its tools.
        const route = await gw.admin('PUT', '/routes/made-here', { uri: '/mcp/made-here/*', plugins: { 'mcp-bridge': { base_uri: '/mcp/made-here', server_id: 'made-here' } } });
        expect(route.status, route.text).to.equal(201);
        client = await connect(`${gw.url}/mcp/made-here`, 'streamable-http');
        const echoed = await client.client.callTool({ name: 'echo', arguments: { text: 'from a server made in the browser' } });
        expect(JSON.stringify(echoed.content)).to.include('from a server made in the browser');

        // Edit: a new name is saved; a remote url beside the command is refused, on the page, as the API says.
        await input('/name').fill('renamed in the browser');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByRole('status').getByText('Saved.').waitFor();
        expect((await gw.admin('GET', '/mcp_servers/made-here')).json.value.name).to.equal('renamed in the browser');
        await input('/url').fill('http://127.0.0.1:1/mcp');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByText('invalid configuration: command and url exclude each other: a server runs a command (stdio) or is reached at a url (remote)').waitFor();
        expect((await gw.admin('GET', '/mcp_servers/made-here')).json.value).to.not.have.property('url');
        await page.getByRole('link', { name: 'Back to mcp servers' }).click();
        await page.getByRole('cell', { name: 'renamed in the browser' }).waitFor();

        await client.close();
        client = undefined;
        await gw.admin('DELETE', '/routes/made-here');
        expect((await gw.admin('DELETE', '/mcp_servers/made-here')).status).to.equal(200);
      });

      it('shows its live session, log, tools and who may call them; ends the session a client holds, and the client gets 404', async () => {
        const server = await gw.admin('PUT', '/mcp_servers/tools', { name: 'test tools', command: 'node', args: [FAULT_SERVER], log_lines: 50 });
        expect(server.status, server.text).to.equal(201);
        const route = await gw.admin('PUT', '/routes/mcp-tools', {
          uri: '/mcp/tools/*',
          name: 'tools over MCP',
          plugins: {
            'key-auth': {},
            'consumer-restriction': { type: 'consumer_name', blacklist: ['eve'] },
            'limit-count': { count: 100, time_window: 60 },
            'mcp-acl': { deny: ['crash', 'garbage'] },
            'mcp-bridge': { base_uri: '/mcp/tools', server_id: 'tools' },
          },
        });
        expect(route.status, route.text).to.equal(201);
        await gw.admin('PUT', '/consumers/bob', { username: 'bob', plugins: { 'key-auth': { key: 'bob-key-0123456789' } } });
        await gw.admin('PUT', '/consumers/dora', { username: 'dora', plugins: { 'key-auth': { key: 'dora-key-0123456789' }, 'mcp-acl': { allow: ['echo'] } } });
        await gw.admin('PUT', '/consumers/eve', { username: 'eve', plugins: { 'key-auth': { key: 'eve-key-0123456789' } } });

        client = await connect(`${gw.url}/mcp/tools`, 'streamable-http', { headers: { apikey: 'bob-key-0123456789' } });
        const sessionId = client.sessionId()!;
        await client.client.callTool({ name: 'stderr', arguments: { text: 'hello from the server' } });

        await signIn(TEST_ADMIN_KEY);
        await page.getByRole('link', { name: 'MCP servers' }).click();
        await page.getByRole('link', { name: 'tools' }).click();
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
        await page.getByRole('cell', { name: 'stderr' }).waitFor();

        await page.getByRole('tab', { name: 'Who may call what' }).click();
        const matrix = page.getByTestId('acl-matrix');
        await matrix.waitFor();
        expect(await matrix.getByLabel('bob may call echo', { exact: true }).count()).to.equal(1);
        expect(await matrix.getByLabel('bob may not call crash', { exact: true }).count()).to.equal(1);
        expect(await matrix.getByLabel('dora may call echo', { exact: true }).count()).to.equal(1);
        expect(await matrix.getByLabel('dora may not call stderr', { exact: true }).count()).to.equal(1);
        // consumer-restriction refuses eve the route, so the table gives her nothing — as the gateway does.
        expect(await matrix.getByLabel('eve may not call echo', { exact: true }).count()).to.equal(1);
        const eve = await post(`${gw.url}/mcp/tools/mcp`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'eve', version: '1' } } }, { apikey: 'eve-key-0123456789' });
        expect(eve.status).to.equal(403);
        // What the table cannot judge is named: the route's rate limit may still refuse a call.
        expect(await page.getByTestId('acl-others').textContent()).to.include('limit-count');
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
        page.acceptNextDialog();
        await row.getByRole('button', { name: `End session ${sessionId.slice(0, 10)}` }).click();
        await row.waitFor({ state: 'detached' });
        await page.getByText(`Session ${sessionId.slice(0, 10)}… ended.`).waitFor();
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
      expect(await page.getByRole('button', { name: 'Save' }).count()).to.equal(0);
      expect(await page.getByRole('button', { name: 'Delete' }).count()).to.equal(0);
      expect(await input('/plugins/key-auth/key').isDisabled()).to.equal(true);
      await page.getByRole('tab', { name: 'JSON' }).click();
      expect(await page.locator('#raw-json').inputValue()).to.include('"key": "******"');
      expect(await page.evaluate<string>('document.documentElement.outerHTML')).to.not.include('carol-key-0123456789');
      await page.getByRole('link', { name: 'Routes' }).click();
      await page.getByRole('heading', { name: 'Routes' }).waitFor();
      expect(await page.getByRole('link', { name: 'New route' }).count()).to.equal(0);
      await page.goto(`${origin}/ui/#/consumers/carol`);
      await page.getByText('Read-only: you are signed in with a viewer key').waitFor();
      await shot('viewer-read-only');
      // Even a request made by hand with the viewer key is refused by the Admin API.
      const refused = await page.evaluateWith(async (key) => {
        const res = await fetch('/apisix/admin/consumers/carol', { method: 'PUT', headers: { 'X-API-KEY': key }, body: JSON.stringify({ plugins: {} }) });
        return { status: res.status, body: (await res.json()) as { description?: string } };
      }, VIEWER_KEY);
      expect(refused.status).to.equal(401);
      expect(refused.body.description).to.equal('invalid method for role viewer');
    });

    it('shows the plugins with their schemas and documentation', async () => {
      await signIn(TEST_ADMIN_KEY);
      await page.getByRole('link', { name: 'Plugins' }).click();
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
      await page.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).to.equal('Skip to content');
      await page.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).to.equal('Overview');
      await page.press('Tab');
      await page.press('Enter');
      await page.getByRole('heading', { name: 'Routes' }).waitFor();
    });

    it('keeps the Admin API origin only: no request leaves it', async () => {
      const seen: string[] = [];
      page.onRequest((url) => seen.push(url));
      await signIn(TEST_ADMIN_KEY);
      for (const section of ['routes', 'upstreams', 'services', 'consumers', 'global_rules', 'plugins', 'mcp']) {
        await page.goto(`${origin}/ui/#/${section}`);
        await page.locator('main h1').waitFor();
      }
      await page.getByRole('link', { name: 'Upstreams' }).click();
      await page.getByRole('cell', { name: 'shop backend' }).waitFor();
      await shot('upstreams');
      // The page's own requests were seen (so a foreign one would have been), and none left the origin.
      expect(seen).to.include(`${origin}/apisix/admin/whoami`);
      expect(seen.filter((url) => !url.startsWith(origin))).to.deep.equal([]);
    });
  });
}

function adminOrigin(gateway: TestGateway): string {
  return gateway.adminUrl.replace(/\/apisix\/admin$/, '');
}
