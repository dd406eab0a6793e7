/**
 * `tollgate start` as a user runs it: the admin key is generated once and printed once, a bad
 * config or an exposed Admin API without a key stops start-up, SIGTERM drains in-flight requests.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { REPO_ROOT, gatewayCommand, http, spawnGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';


function runOnce(env: Record<string, string>, args: string[] = ['start']) {
  return spawnSync(process.execPath, [...gatewayCommand(), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TOLLGATE_LISTEN: '127.0.0.1:0', TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0', TOLLGATE_STATUS_LISTEN: '127.0.0.1:0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('tollgate start', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('generates an admin key at first start, prints it once, and keeps it', async () => {
    const first = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir });
    const key = /admin key\s+(\S+)/.exec(first.output())?.[1] ?? '';
    expect(key).to.have.length.greaterThan(20);
    const stored = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
    expect(stored).to.equal(key);
    expect(statSync(join(dataDir, 'admin.key')).mode & 0o777).to.equal(0o600);
    expect((await first.admin('GET', '/routes')).status).to.equal(200);
    expect(await first.stop()).to.equal(0);

    const second = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir });
    expect(second.output()).to.not.include(key);
    expect(second.output()).to.include('stored in');
    const res = await http('GET', `${second.adminUrl}/routes`, undefined, { 'x-api-key': key });
    expect(res.status).to.equal(200);
    expect(await second.stop()).to.equal(0);
  });

  it('keeps the catalog across a restart (embedded)', async () => {
    const env = { TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: 'cli-test-admin-key-0123456789' };
    const first = await spawnGateway(env);
    await first.admin('PUT', '/routes/kept', { uri: '/kept', plugins: {}, upstream: { nodes: { '127.0.0.1:1': 1 } } });
    await first.stop();
    const second = await spawnGateway(env);
    expect((await second.admin('GET', '/routes/kept')).json.value.uri).to.equal('/kept');
    await second.stop();
  });

  it('refuses to start with the Admin API beyond loopback and no key', () => {
    const run = runOnce({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_LISTEN: '0.0.0.0:0' });
    expect(run.status).to.equal(1);
    expect(run.stderr).to.match(/no admin key is configured/);
  });

  it('refuses the published APISIX default key and short keys', () => {
    const known = runOnce({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: 'edd1c9f034335f136f87ad84b625c8f1' });
    expect(known.status).to.equal(1);
    expect(known.stderr).to.match(/published default key/);
    const short = runOnce({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: 'short' });
    expect(short.status).to.equal(1);
    expect(short.stderr).to.match(/shorter than 16/);
  });

  it('stops on an invalid config with a message naming the key', () => {
    const run = runOnce({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_CATALOG: 'etcd' });
    expect(run.status).to.equal(1);
    expect(run.stderr).to.match(/key "catalog.backend"/);
  });

  it('drains in-flight requests on SIGTERM, then exits 0', async () => {
    const slow = await startUpstream((_req, res) => setTimeout(() => res.end('finished'), 700));
    const gw = await spawnGateway({ TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_KEY: 'cli-test-admin-key-0123456789' });
    try {
      await gw.admin('PUT', '/routes/slow', { uri: '/slow', upstream: { nodes: { [slow.address]: 1 } } });
      const inFlight = request(`${gw.url}/slow`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
      await new Promise((r) => setTimeout(r, 200));
      const exit = gw.stop('SIGTERM');
      const res = await inFlight;
      expect(res).to.deep.equal({ status: 200, text: 'finished' });
      expect(await exit).to.equal(0);
      // After shutdown the port is closed.
      const after = await request(`${gw.url}/slow`).catch((err: Error) => err);
      expect(after).to.be.instanceOf(Error);
    } finally {
      await gw.stop('SIGKILL');
      await slow.close();
    }
  });
});
