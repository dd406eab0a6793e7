/**
 * The dashboard's "who may call what" (ui/src/acl.ts) against the gateway itself: for each
 * consumer and route, what the page's functions say about the records the Admin API lists, and
 * what the data plane does with that consumer's key (consumer-restriction: initialize refused or
 * not; mcp-acl: the tool listed or not). A plugin disabled (`_meta.disable`) by the record that
 * names it first replaces the later ones' config, so none of them runs.
 */
import { expect } from 'chai';
import type { TestGateway } from '../helpers/gateway.js';
import { FAULT_SERVER, INIT, endRawSession, post, responseOf, startBridgeGateway, waitFor } from '../mcp/support.js';
import { authenticates, mayCall, restrictionAllows, routeAcl, routePlugins, rulesFor } from '../../ui/src/acl.js';

const OFF = { _meta: { disable: true } };

describe('dashboard access table (ui/src/acl.ts) agrees with the gateway', function () {
  this.timeout(30_000);
  let gw: TestGateway;

  before(async () => {
    gw = await startBridgeGateway({ overrides: { log: { level: 'warn' } } });
    const writes: Array<[string, unknown]> = [
      ['/mcp_servers/tools', { command: 'node', args: [FAULT_SERVER] }],
      ['/services/restricting', { plugins: { 'consumer-restriction': { blacklist: ['alice'] } } }],
      ['/consumers/alice', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key-0123456789' } } }],
      // bob turns consumer-restriction and mcp-acl off for himself: the routes' do not run for him.
      ['/consumers/bob', { username: 'bob', plugins: { 'key-auth': { key: 'bob-key-0123456789' }, 'consumer-restriction': { ...OFF, blacklist: ['x'] }, 'mcp-acl': OFF } }],
      // carl turns only mcp-acl off for himself: the route's deny list does not hold for him.
      ['/consumers/carl', { username: 'carl', plugins: { 'key-auth': { key: 'carl-key-0123456789' }, 'mcp-acl': OFF } }],
      ['/consumers/dora', { username: 'dora', plugins: { 'key-auth': { key: 'dora-key-0123456789' } } }],
      // The service blacklists alice, but the route's own (disabled) consumer-restriction replaces it.
      ['/routes/svc', { uri: '/svc/*', service_id: 'restricting', plugins: { 'key-auth': {}, 'consumer-restriction': { ...OFF, blacklist: ['nobody'] }, 'mcp-bridge': { base_uri: '/svc', server_id: 'tools' } } }],
      [
        '/routes/own',
        {
          uri: '/own/*',
          plugins: {
            'key-auth': {},
            'consumer-restriction': { blacklist: ['bob', 'alice'] },
            'mcp-acl': { deny: ['echo'] },
            'mcp-bridge': { base_uri: '/own', server_id: 'tools' },
          },
        },
      ],
      // key-auth is disabled on this route: nobody is authenticated, so consumer-restriction refuses everyone.
      ['/routes/open', { uri: '/open/*', plugins: { 'key-auth': OFF, 'consumer-restriction': { blacklist: ['dora'] }, 'mcp-bridge': { base_uri: '/open', server_id: 'tools' } } }],
    ];
    for (const [path, body] of writes) {
      const res = await gw.admin('PUT', path, body);
      expect(res.status, `${path}: ${res.text}`).to.be.oneOf([200, 201]);
    }
  });
  after(async () => {
    await gw?.stop();
  });

  /** What the page says, from the records as the Admin API serves them. */
  async function page(routeId: string, username: string): Promise<{ restricted: boolean; echo: boolean }> {
    const route = (await gw.admin('GET', `/routes/${routeId}`)).json.value;
    const service = route.service_id ? (await gw.admin('GET', `/services/${route.service_id}`)).json.value : undefined;
    const consumer = (await gw.admin('GET', `/consumers/${username}`)).json.value;
    const sources = { route, service };
    // As the page: on a route that authenticates nobody, one column for every client, no consumer.
    const known = authenticates(routePlugins(sources), (await gw.admin('GET', '/plugins?all=true')).json) ? consumer : undefined;
    const restricted = !restrictionAllows({ ...sources, routeId }, known, undefined);
    return { restricted, echo: !restricted && mayCall(rulesFor(routeAcl(sources), known, undefined), 'echo') };
  }

  /** What the gateway does with `username`'s key on the route. */
  async function gateway(routeId: string, username: string): Promise<{ restricted: boolean; echo: boolean }> {
    const base = `${gw.url}/${routeId}`;
    const headers = { apikey: `${username}-key-0123456789` };
    const init = await post(`${base}/mcp`, INIT, headers);
    // consumer-restriction answers 403 to a consumer it refuses, 401 when no consumer is known.
    expect(init.status, init.text).to.be.oneOf([200, 401, 403]);
    if (init.status !== 200) return { restricted: true, echo: false };
    const session = init.headers.get('mcp-session-id')!;
    try {
      const sessionHeaders = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': INIT.params.protocolVersion };
      expect((await post(`${base}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionHeaders)).status).to.equal(202);
      const listed = responseOf(await post(`${base}/mcp`, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, sessionHeaders), 1);
      const tools = listed.result.tools as Array<{ name: string }>;
      expect(tools.length, JSON.stringify(listed)).to.be.above(0);
      return { restricted: false, echo: tools.some((t) => t.name === 'echo') };
    } finally {
      await endRawSession(base, session, headers);
      // The server's child stops with its last session (the per-test leak check looks for it).
      expect(await waitFor(async () => (await gw.admin('GET', '/mcp_servers/tools/status')).json.children === 0, 10_000)).to.equal(true);
    }
  }

  const cases: Array<[string, string, { restricted: boolean; echo: boolean }]> = [
    ['svc', 'alice', { restricted: false, echo: true }],
    ['own', 'alice', { restricted: true, echo: false }],
    ['own', 'bob', { restricted: false, echo: true }],
    ['own', 'carl', { restricted: false, echo: true }],
    ['own', 'dora', { restricted: false, echo: false }],
    ['open', 'alice', { restricted: true, echo: false }],
  ];
  for (const [routeId, username, expected] of cases) {
    it(`${username} on route ${routeId}: ${expected.restricted ? 'restricted' : expected.echo ? 'may call echo' : 'may not call echo'}, on the page as at the gateway`, async () => {
      expect(await gateway(routeId, username), 'the gateway').to.deep.equal(expected);
      expect(await page(routeId, username), 'the page').to.deep.equal(expected);
    });
  }
});
