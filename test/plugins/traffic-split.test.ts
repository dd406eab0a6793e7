/**
 * traffic-split against a real gateway and real upstreams, and with the MCP SDK client in front
 * of two real Streamable HTTP MCP servers (server-everything). Cases from APISIX's
 * t/plugin/traffic-split*.t are marked "APISIX n/TEST m" (n: the file's number, 1 for traffic-split.t).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { expect } from 'chai';
import { startTestGateway, type HttpResult, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startRemoteEverything } from '../mcp/support.js';

/** Which upstream answered each of `n` sequential GETs. */
async function answeredBy(gw: TestGateway, n: number, path: string, headers?: Record<string, string>): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await gw.get(path, headers);
    out.push(res.status === 200 ? res.json.upstream : `status ${res.status}`);
  }
  return out;
}

function count(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) out[name] = (out[name] ?? 0) + 1;
  return out;
}

describe('plugin traffic-split', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  const nodes = (u: TestUpstream) => ({ [u.address]: 1 });
  const split = (id: string, conf: Record<string, unknown>, extra: Record<string, unknown> = { upstream: { nodes: nodes(a) } }) =>
    gw.admin('PUT', `/routes/${id}`, { uri: `/${id}`, plugins: { 'traffic-split': conf }, ...extra });

  before(async () => {
    a = await startUpstream(undefined, 'a');
    b = await startUpstream(undefined, 'b');
    c = await startUpstream(undefined, 'c');
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  describe('schema', () => {
    it('accepts rules with and without match (APISIX 1/TEST 1, 2)', async () => {
      const upstreamA = { name: 'upstream_A', type: 'roundrobin', nodes: nodes(b), timeout: { connect: 15, send: 15, read: 15 } };
      const match = [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '!', '<', '16']] }, { vars: [['arg_name', '==', 'rose'], ['arg_age', '!', '>', '32']] }];
      expect((await split('s', { rules: [{ match, weighted_upstreams: [{ upstream: upstreamA, weight: 2 }, { weight: 1 }] }] })).status).to.equal(201);
      expect((await split('s', { rules: [{ weighted_upstreams: [{ upstream: upstreamA, weight: 2 }, { weight: 1 }] }] })).status).to.equal(200);
    });

    it("refuses vars that do not compile, and a match entry without vars, with APISIX's messages (APISIX 1/TEST 3)", async () => {
      const operator = await split('bad', { rules: [{ match: [{ vars: [['arg_name', 123, 'jack']] }] }] });
      expect(operator.status).to.equal(400);
      expect(operator.json.error_msg).to.equal("failed to check the configuration of plugin traffic-split err: failed to validate the 'vars' expression: invalid operator '123'");
      const missing = await split('bad', { rules: [{ match: [{}] }] });
      expect(missing.json.error_msg).to.equal("failed to check the configuration of plugin traffic-split err: failed to validate the 'vars' expression: missing argument rule");
    });

    it('checks inline upstreams as the Admin API checks upstreams; bounds weights and entries', async () => {
      const noNodes = await split('bad', { rules: [{ weighted_upstreams: [{ upstream: { type: 'roundrobin' } }] }] });
      expect(noNodes.status).to.equal(400);
      expect(noNodes.json.error_msg).to.match(/rules\[0\]\.weighted_upstreams\[0\]\.upstream: .*nodes.*required/);
      const badNode = await split('bad', { rules: [{ weighted_upstreams: [{ upstream: { nodes: { '127.0.0.1:99999': 1 } } }] }] });
      expect(badNode.json.error_msg).to.match(/port outside 1-65535/);
      expect((await split('bad', { rules: [{ weighted_upstreams: [{ weight: -1 }] }] })).status).to.equal(400);
      expect((await split('bad', { rules: [{ weighted_upstreams: Array.from({ length: 21 }, () => ({ weight: 1 })) }] })).status).to.equal(400);
      expect((await split('bad', { rules: [{ weighted_upstreams: [] }] })).status).to.equal(400);
      expect((await gw.admin('GET', '/routes/bad')).status).to.equal(404);
    });
  });

  describe('happy path', () => {
    it("without rules, or with only the route's weight, the route's upstream serves (APISIX 1/TEST 4-7)", async () => {
      await split('r', {});
      expect(await answeredBy(gw, 3, '/r')).to.deep.equal(['a', 'a', 'a']);
      await split('r', { rules: [{}] });
      expect(await answeredBy(gw, 3, '/r')).to.deep.equal(['a', 'a', 'a']);
    });

    it('a vars rule splits 2:1 between its upstream and the route\'s; a miss goes to the route (APISIX 1/TEST 8-10)', async () => {
      await split('r', { rules: [{ match: [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '!', '<', '16']] }], weighted_upstreams: [{ upstream: { nodes: nodes(b) }, weight: 2 }, { weight: 1 }] }] });
      expect(await answeredBy(gw, 3, '/r?name=jack&age=14')).to.deep.equal(['a', 'a', 'a']);
      // APISIX's round robin, interleaved: b b a b b a.
      expect(await answeredBy(gw, 6, '/r?name=jack&age=36')).to.deep.equal(['b', 'b', 'a', 'b', 'b', 'a']);
    });

    it('match entries are ORed, each entry ANDed; several upstreams by weight (APISIX 1/TEST 11-15)', async () => {
      const match = [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '!', '<', '16']] }, { vars: [['arg_name', '==', 'rose'], ['arg_age', '!', '>', '32']] }];
      await split('r', { rules: [{ match, weighted_upstreams: [{ upstream: { nodes: nodes(b) }, weight: 2 }, { upstream: { nodes: nodes(c) }, weight: 2 }, { weight: 1 }] }] });
      expect(count(await answeredBy(gw, 10, '/r?name=rose&age=20'))).to.deep.equal({ a: 2, b: 4, c: 4 });
      expect(await answeredBy(gw, 2, '/r?name=rose&age=40')).to.deep.equal(['a', 'a']);
      await split('r', { rules: [{ match, weighted_upstreams: [{ upstream: { nodes: nodes(b) }, weight: 2 }, { upstream: { nodes: nodes(c) }, weight: 1 }] }] });
      expect(count(await answeredBy(gw, 6, '/r?name=jack&age=20'))).to.deep.equal({ b: 4, c: 2 });
    });

    it('weight 0 takes nothing; the first rule that holds wins; a rule without match always holds (APISIX 5/TEST 5, 6)', async () => {
      await split('r', {
        rules: [
          { match: [{ vars: [['http_x_release', '==', 'blue']] }], weighted_upstreams: [{ upstream: { nodes: nodes(b) } }, { weight: 0 }] },
          { weighted_upstreams: [{ upstream: { nodes: nodes(c) } }] },
        ],
      });
      expect(await answeredBy(gw, 3, '/r', { 'x-release': 'blue' })).to.deep.equal(['b', 'b', 'b']);
      expect(await answeredBy(gw, 2, '/r', { 'x-release': 'green' })).to.deep.equal(['c', 'c']);
    });

    it('blue-green by header (APISIX 3/TEST 1-3)', async () => {
      await split('r', {
        rules: [
          { match: [{ vars: [['http_release', '==', 'blue']] }], weighted_upstreams: [{ upstream: { nodes: nodes(b) } }] },
          { match: [{ vars: [['http_release', '==', 'green']] }], weighted_upstreams: [{ upstream: { nodes: nodes(c) } }] },
        ],
      });
      expect(await answeredBy(gw, 2, '/r', { release: 'blue' })).to.deep.equal(['b', 'b']);
      expect(await answeredBy(gw, 2, '/r', { release: 'green' })).to.deep.equal(['c', 'c']);
      expect(await answeredBy(gw, 1, '/r')).to.deep.equal(['a']);
    });

    it('upstream_id entries, looked up per request; the route\'s own upstream_id for the weight-only entry (APISIX 4/TEST 1-14)', async () => {
      await gw.admin('PUT', '/upstreams/1', { nodes: nodes(a) });
      await gw.admin('PUT', '/upstreams/2', { nodes: nodes(b) });
      await split('r', { rules: [{ match: [{ vars: [['uri', '==', '/r']] }], weighted_upstreams: [{ upstream_id: '2', weight: 1 }, { upstream: { nodes: nodes(c) }, weight: 1 }, { weight: 1 }] }] }, { upstream_id: '1' });
      expect(count(await answeredBy(gw, 6, '/r'))).to.deep.equal({ a: 2, b: 2, c: 2 });
      // The stored upstream changes: the next requests follow it, without touching the route.
      await gw.admin('PUT', '/upstreams/2', { nodes: nodes(c) });
      expect(count(await answeredBy(gw, 6, '/r'))).to.deep.equal({ a: 2, c: 4 });
      await gw.admin('PUT', '/upstreams/2', { nodes: nodes(b) });
    });

    it('inline upstreams keep their own settings: pass_host rewrite, chash on a header (APISIX 2/TEST 6, 7, 10, 11)', async () => {
      await split('r', { rules: [{ weighted_upstreams: [{ upstream: { nodes: nodes(b), pass_host: 'rewrite', upstream_host: 'test.com' } }] }] });
      expect((await gw.get('/r')).json.headers.host).to.equal('test.com');
      await split('r', { rules: [{ weighted_upstreams: [{ upstream: { type: 'chash', hash_on: 'header', key: 'custom_header', nodes: { [b.address]: 1, [c.address]: 1 } } }] }] });
      for (const value of ['one', 'two', 'three']) {
        const seen = new Set(await answeredBy(gw, 4, '/r', { custom_header: value }));
        expect(seen.size, value).to.equal(1);
      }
    });
  });

  describe('MCP sessions', () => {
    it('a request with a Mcp-Session-Id the gateway did not tag always reaches the same upstream (a hash of the id)', async () => {
      await split('r', { rules: [{ weighted_upstreams: [{ upstream: { nodes: nodes(b) } }, { upstream: { nodes: nodes(c) } }, { weight: 1 }] }] });
      for (const session of ['s-1', 's-2', 's-3', 's-4']) {
        const seen = new Set(await answeredBy(gw, 5, '/r', { 'mcp-session-id': session }));
        expect(seen.size, session).to.equal(1);
      }
      // Without a session id the requests are split.
      expect(new Set(await answeredBy(gw, 3, '/r')).size).to.equal(3);
    });

    it('a session id an upstream assigns is tagged for the client and untagged for the upstream', async () => {
      const minting = await startUpstream((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'upstream-session-7' });
        res.end(JSON.stringify({ upstream: 'minting', session: req.headers['mcp-session-id'] ?? null }));
      }, 'minting');
      try {
        await split('r', { rules: [{ weighted_upstreams: [{ upstream: { nodes: nodes(minting) }, weight: 1 }, { weight: 1 }] }] });
        let first: HttpResult | undefined;
        for (let i = 0; i < 2 && first?.json.upstream !== 'minting'; i++) first = await gw.get('/r');
        const tagged = first!.headers['mcp-session-id'] as string;
        expect(tagged).to.match(/^tg-[0-9a-f]{8}-upstream-session-7$/);
        // Every later request of the session goes where it began, and the upstream sees its own id.
        for (let i = 0; i < 4; i++) {
          const res = await gw.get('/r', { 'mcp-session-id': tagged });
          expect(res.json).to.deep.equal({ upstream: 'minting', session: 'upstream-session-7' });
          expect(res.headers['mcp-session-id']).to.equal(tagged);
        }
      } finally {
        await minting.close();
      }
    });

    it('the MCP SDK client through a split in front of two Streamable HTTP servers: every session works, and both servers get some', async () => {
      const servers = await Promise.all([startRemoteEverything('streamableHttp'), startRemoteEverything('streamableHttp')]);
      try {
        const put = await gw.admin('PUT', '/routes/mcp', {
          uri: '/mcp',
          upstream: { nodes: { [`127.0.0.1:${servers[0].port}`]: 1 } },
          plugins: { 'traffic-split': { rules: [{ weighted_upstreams: [{ upstream: { nodes: { [`127.0.0.1:${servers[1].port}`]: 1 } }, weight: 1 }, { weight: 1 }] }] } },
        });
        expect(put.status, put.text).to.equal(201);
        const sessions = await Promise.all(
          Array.from({ length: 6 }, async (_, i) => {
            const client = new Client({ name: `canary-${i}`, version: '1.0.0' });
            const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`));
            await client.connect(transport);
            try {
              for (let call = 0; call < 4; call++) {
                const result = await client.callTool({ name: 'echo', arguments: { message: `client ${i} call ${call}` } });
                expect(JSON.stringify(result.content)).to.include(`client ${i} call ${call}`);
              }
              expect((await client.listTools()).tools.length).to.be.greaterThan(0);
              return transport.sessionId!;
            } finally {
              await transport.terminateSession().catch(() => undefined);
              await client.close();
            }
          }),
        );
        for (const id of sessions) expect(id).to.match(/^tg-[0-9a-f]{8}-/);
        const opened = servers.map((s) => (s.output().match(/Session initialized with ID/g) ?? []).length);
        expect(opened[0] + opened[1]).to.equal(6);
        expect(opened[0], 'sessions on the route\'s server').to.be.greaterThan(0);
        expect(opened[1], 'sessions on the canary').to.be.greaterThan(0);
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    });
  });

  describe('rejections', () => {
    it('an upstream_id that does not exist answers 500 (APISIX 2/TEST 20)', async () => {
      await split('missing', { rules: [{ weighted_upstreams: [{ upstream_id: 'invalid-id', weight: 1 }] }] });
      const res = await gw.get('/missing');
      expect(res.status).to.equal(500);
      expect(gw.logs.some((line) => line.includes('failed to fetch upstream info by upstream id: invalid-id'))).to.equal(true);
    });

    it("keeps an upstream named by an upstream_id from being deleted, wherever the plugin is configured (APISIX upstream5.t)", async () => {
      expect((await gw.admin('PUT', '/upstreams/named', { nodes: nodes(b) })).status).to.equal(201);
      const conf = { 'traffic-split': { rules: [{ weighted_upstreams: [{ upstream_id: 'named', weight: 1 }] }] } };
      const holders: Array<[string, Record<string, unknown>, string]> = [
        ['/routes/holder', { uri: '/holder', plugins: conf, upstream: { nodes: nodes(a) } }, 'route [holder]'],
        ['/services/holder', { plugins: conf }, 'service [holder]'],
        ['/global_rules/holder', { plugins: conf }, 'global_rules [holder]'],
        ['/plugin_configs/holder', { plugins: conf }, 'plugin_config [holder]'],
      ];
      for (const [path, body, who] of holders) {
        expect((await gw.admin('PUT', path, body)).status, path).to.equal(201);
        const refused = await gw.admin('DELETE', '/upstreams/named');
        expect(refused.status, path).to.equal(400);
        expect(refused.json.error_msg).to.equal(`can not delete this upstream, plugin in ${who} is still using it now`);
        expect((await gw.admin('DELETE', path)).status).to.equal(200);
      }
      expect((await gw.admin('DELETE', '/upstreams/named')).status).to.equal(200);
    });

    it('a route without an upstream of its own answers 503 when the split picks it', async () => {
      await gw.admin('PUT', '/routes/alone', { uri: '/alone', plugins: { 'traffic-split': { rules: [{ match: [{ vars: [['arg_x', '==', '1']] }], weighted_upstreams: [{ upstream: { nodes: nodes(b) } }] }] } } });
      expect((await gw.get('/alone?x=1')).json.upstream).to.equal('b');
      expect((await gw.get('/alone')).status).to.equal(503);
    });
  });

  describe('faults', () => {
    it('requests in flight on an inline upstream finish across a route change that drops it', async () => {
      let arrived = 0;
      const slow = await startUpstream((_req, res) => {
        arrived += 1;
        setTimeout(() => res.end(JSON.stringify({ upstream: 'slow' })), 500);
      }, 'slow');
      try {
        // limit-req (access, 1001) delays some requests until after the edit: they pick from the old split.
        const route = (to: TestUpstream) => ({
          uri: '/drain',
          upstream: { nodes: nodes(a) },
          plugins: {
            'limit-req': { rate: 2, burst: 10, key: 'remote_addr', policy: 'local' },
            'traffic-split': { rules: [{ weighted_upstreams: [{ upstream: { nodes: nodes(to) } }] }] },
          },
        });
        await gw.admin('PUT', '/routes/drain', route(slow));
        const pending = Array.from({ length: 4 }, () => gw.get('/drain'));
        expect(await waitFor(() => arrived >= 1, 3000)).to.equal(true);
        expect((await gw.admin('PUT', '/routes/drain', route(b))).status).to.equal(200);
        const results = await Promise.all(pending);
        expect(results.map((r) => `${r.status} ${r.json?.upstream}`)).to.deep.equal(results.map(() => '200 slow'));
        expect((await gw.get('/drain')).json.upstream).to.equal('b');
      } finally {
        await slow.close();
      }
    });

    it('a stored upstream that is deleted (forced) fails its rule with 500, the rest of the gateway serves', async () => {
      await gw.admin('PUT', '/upstreams/gone', { nodes: nodes(b) });
      await split('r', { rules: [{ match: [{ vars: [['arg_v', '==', '2']] }], weighted_upstreams: [{ upstream_id: 'gone' }] }] });
      expect((await gw.get('/r?v=2')).json.upstream).to.equal('b');
      expect((await gw.admin('DELETE', '/upstreams/gone')).status, 'named by the route').to.equal(400);
      expect((await gw.admin('DELETE', '/upstreams/gone?force=true')).status).to.equal(200);
      expect((await gw.get('/r?v=2')).status).to.equal(500);
      // APISIX checks a rule's upstream_ids before its match: every request that reaches the rule fails.
      expect((await gw.get('/r')).status).to.equal(500);
      expect((await gw.get('/alone?x=1')).json.upstream, 'other routes serve').to.equal('b');
    });
  });
});
