/**
 * References between records are checked in the catalog's atomic write step, on both backends:
 * a PUT may refer only to records that exist, and a DELETE of a record something refers to is
 * refused unless forced. Checked against the gateway's snapshot before the write (as before), a
 * DELETE of an upstream and a PUT of a route referring to it could both pass — through one
 * gateway, or two on one Redis — and leave a route pointing at nothing.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, spawnGateway, type GatewayProcess, type HttpResult } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startRedis, storeCatalogRecord, type TestRedis } from '../helpers/redis.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KEY = 'reference-integrity-admin-key-0123';
const ROUNDS = 15;
/** Routes PUT against each upstream while it is being deleted. */
const WRITERS = 4;

describe('reference integrity under parallel Admin writes (real gateway processes)', function () {
  this.timeout(180_000);
  let upstream: TestUpstream;
  let redis: TestRedis;
  let dir: string;
  const gateways: GatewayProcess[] = [];

  const spawn = async (env: Record<string, string>) => {
    const gw = await spawnGateway({ TOLLGATE_ADMIN_KEY: KEY, ...env });
    gateways.push(gw);
    return gw;
  };
  const redisEnv = () => ({ TOLLGATE_CATALOG: 'redis', TOLLGATE_REDIS_URL: redis.url });

  /**
   * Each round creates an upstream, then DELETEs it while WRITERS routes referring to it are PUT,
   * all at once, spread over `through`. Either the delete wins and every PUT that came after it is
   * refused, or a route wins and the delete is refused: never a stored route whose upstream is
   * gone. Losers get APISIX's messages.
   */
  const race = async (through: GatewayProcess[], tag: string) => {
    let deletesWon = 0;
    let routesWon = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const up = `${tag}-up${round}`;
      expect((await through[0].admin('PUT', `/upstreams/${up}`, { nodes: { [upstream.address]: 1 } })).status).to.equal(201);
      for (const gw of through) expect(await waitStatus(() => gw.admin('GET', `/upstreams/${up}`), 200)).to.equal(true);
      const routes = Array.from({ length: WRITERS }, (_, i) => `${tag}-r${round}-${i}`);
      const remove = () => through[round % through.length].admin('DELETE', `/upstreams/${up}`);
      const put = (id: string, i: number) => through[(round + i + 1) % through.length].admin('PUT', `/routes/${id}`, { uri: `/${id}`, upstream_id: up });
      // Sent in either order, so that both sides win some rounds.
      const writes = round % 2 === 0 ? [remove(), ...routes.map(put)] : [...routes.map(put), remove()];
      const answers = await Promise.all(writes);
      const deleted = round % 2 === 0 ? answers[0] : answers[WRITERS];
      const puts = round % 2 === 0 ? answers.slice(1) : answers.slice(0, WRITERS);
      const stored = routes.filter((_, i) => puts[i].status === 201);
      if (deleted.status === 200) {
        deletesWon += 1;
        expect(stored, `round ${round}: the delete won, yet routes refer to ${up}`).to.deep.equal([]);
      } else {
        routesWon += 1;
        expect(deleted.status, deleted.text).to.equal(400);
        expect(deleted.json.error_msg).to.match(new RegExp(`^can not delete this upstream, route \\[${tag}-r${round}-\\d\\] is still using it now$`));
        expect(stored.length, `round ${round}`).to.be.greaterThan(0);
      }
      for (const res of puts.filter((r) => r.status !== 201)) {
        expect(res.status, res.text).to.equal(400);
        expect(res.json.error_msg).to.equal(`failed to fetch upstream info by upstream id [${up}], response code: 404`);
      }
      // What every gateway holds agrees with the answers, and no stored route dangles.
      for (const gw of through) {
        expect(await waitStatus(() => gw.admin('GET', `/upstreams/${up}`), deleted.status === 200 ? 404 : 200)).to.equal(true);
        for (const id of routes) expect(await waitStatus(() => gw.admin('GET', `/routes/${id}`), stored.includes(id) ? 200 : 404), `${id}`).to.equal(true);
      }
      if (stored.length > 0) expect((await http('GET', `${through[0].url}/${stored[0]}`)).status).to.equal(200);
    }
    return { deletesWon, routesWon };
  };

  before(async () => {
    upstream = await startUpstream();
    redis = await startRedis();
  });
  after(async () => {
    await upstream.close();
    await redis.stop();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gw) => gw.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('embedded catalog: DELETE upstream racing PUTs of routes referring to it never leaves a dangling route', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-references-'));
    const gw = await spawn({ TOLLGATE_DATA_DIR: dir });
    const outcome = await race([gw], 'emb');
    expect(outcome.deletesWon + outcome.routesWon).to.equal(ROUNDS);
  });

  it('redis catalog, one gateway: the same race', async () => {
    const gw = await spawn(redisEnv());
    await race([gw], 'one');
  });

  it('redis catalog, split across two gateways: the same race, and services and plugin configs too', async () => {
    const [a, b] = await Promise.all([spawn(redisEnv()), spawn(redisEnv())]);
    await race([a, b], 'two');
    // A service and a plugin config are referred to the same way; the index follows a replace.
    expect((await a.admin('PUT', '/upstreams/svc-up', { nodes: { [upstream.address]: 1 } })).status).to.equal(201);
    expect((await a.admin('PUT', '/services/svc', { upstream_id: 'svc-up' })).status).to.equal(201);
    expect((await a.admin('PUT', '/plugin_configs/pc', { plugins: {} })).status).to.equal(201);
    expect(await waitStatus(() => b.admin('PUT', '/routes/via', { uri: '/via', service_id: 'svc', plugin_config_id: 'pc' }), 201)).to.equal(true);
    expect((await a.admin('DELETE', '/services/svc')).json.error_msg).to.equal('can not delete this service, route [via] is still using it now');
    expect((await a.admin('DELETE', '/plugin_configs/pc')).json.error_msg).to.equal('can not delete this plugin config, route [via] is still using it now');
    expect((await b.admin('DELETE', '/upstreams/svc-up')).json.error_msg).to.equal('can not delete this upstream, service [svc] is still using it now');
    expect((await b.admin('PATCH', '/routes/via', { plugin_config_id: null })).status).to.equal(200);
    expect(await waitStatus(() => a.admin('DELETE', '/plugin_configs/pc'), 200)).to.equal(true);
    expect((await a.admin('DELETE', '/routes/via')).status).to.equal(200);
    expect(await waitStatus(() => b.admin('DELETE', '/services/svc'), 200)).to.equal(true);
    expect(await waitStatus(() => a.admin('DELETE', '/upstreams/svc-up'), 200)).to.equal(true);
  });

  it('redis catalog: force deletes as APISIX allows; a referrer older than the index still counts', async () => {
    const [a, b] = await Promise.all([spawn(redisEnv()), spawn(redisEnv())]);
    expect((await a.admin('PUT', '/upstreams/forced', { nodes: { [upstream.address]: 1 } })).status).to.equal(201);
    expect(await waitStatus(() => b.admin('PUT', '/routes/left', { uri: '/left', upstream_id: 'forced' }), 201)).to.equal(true);
    expect((await a.admin('DELETE', '/upstreams/forced?force=true')).status).to.equal(200);
    // The route stays, answering 503 until it is fixed.
    expect(await waitStatus(() => http('GET', `${b.url}/left`), 503)).to.equal(true);

    // A route written before the index existed (straight into Redis, as an older version did).
    const client = redis.client();
    expect((await a.admin('PUT', '/upstreams/legacy-up', { nodes: { [upstream.address]: 1 } })).status).to.equal(201);
    await storeCatalogRecord(client, 'tollgate', 'routes', 'legacy', { id: 'legacy', uri: '/legacy', upstream_id: 'legacy-up' });
    expect(await waitStatus(() => b.admin('GET', '/routes/legacy'), 200)).to.equal(true);
    const refused = await b.admin('DELETE', '/upstreams/legacy-up');
    expect(refused.status).to.equal(400);
    expect(refused.json.error_msg).to.equal('can not delete this upstream, route [legacy] is still using it now');
  });
});

async function waitStatus(request: () => Promise<HttpResult>, status: number, timeoutMs = 5000): Promise<boolean> {
  return waitFor(async () => (await request()).status === status, timeoutMs);
}
