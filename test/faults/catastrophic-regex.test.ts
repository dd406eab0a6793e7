/**
 * Issue 10, item 6: a pattern that backtracks catastrophically (`^/rx/(a|a)*$` passed the old
 * safe-regex2 check) and a 30-character path blocked the gateway's event loop for about 11 s,
 * stalling every other client. Patterns now run on a linear-time engine (RE2): the same route
 * answers in milliseconds and a concurrent plain request is not held up. A separate gateway
 * process, so a stalled loop cannot hide behind the test's own.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http } from '../helpers/gateway.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_KEY = 'regex-test-admin-key-0123456789';

describe('faults: a catastrophic regex_uri pattern', function () {
  this.timeout(30_000);
  let gw: GatewayProcess;
  let upstream: TestUpstream;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-regex-'));
    upstream = await startUpstream();
    gw = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: ADMIN_KEY });
  });
  after(async () => {
    await gw?.stop();
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is accepted, answers in milliseconds and does not hold up a concurrent request', async () => {
    const nodes = { [upstream.address]: 1 };
    const put = await gw.admin('PUT', '/routes/rx', { uri: '/rx/*', upstream: { nodes }, plugins: { 'proxy-rewrite': { regex_uri: ['^/rx/(a|a)*$', '/x'] } } });
    expect(put.status, put.text).to.be.oneOf([200, 201]);
    expect((await gw.admin('PUT', '/routes/plain', { uri: '/plain', upstream: { nodes } })).status).to.be.oneOf([200, 201]);
    expect((await http('GET', `${gw.url}/plain`)).status).to.equal(200);

    const timed = async (path: string) => {
      const started = performance.now();
      const res = await http('GET', `${gw.url}${path}`);
      return { res, ms: performance.now() - started };
    };
    // 25 characters that almost match: a backtracking engine tries 2^25 ways before giving up.
    const hostile = timed(`/rx/${'a'.repeat(25)}b`);
    await new Promise((r) => setTimeout(r, 20));
    const plain = await timed('/plain');
    const attacked = await hostile;

    expect(plain.res.status).to.equal(200);
    expect(plain.ms, 'the plain request waited for the regex').to.be.below(1000);
    expect(attacked.ms, 'the hostile request itself').to.be.below(1000);
    // No match: the path goes upstream unchanged.
    expect(attacked.res.json.url).to.equal(`/rx/${'a'.repeat(25)}b`);
    // A matching path is rewritten as before.
    expect((await http('GET', `${gw.url}/rx/aaaa`)).json.url).to.equal('/x');
  });
});
