/**
 * `tollgate plugin new`: the plugin it writes loads, and the test it writes passes as written.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, SOURCE_NODE_ARGS, gatewayCommand, startTestGateway } from '../helpers/gateway.js';

function tollgate(args: string[]) {
  return spawnSync(process.execPath, [...gatewayCommand(), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 20_000 });
}

describe('tollgate plugin new', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    // Inside the checkout, so the generated test resolves chai and tollgate/testing as a user's would.
    mkdirSync(join(REPO_ROOT, '.test-tmp'), { recursive: true });
    dir = mkdtempSync(join(REPO_ROOT, '.test-tmp', 'scaffold-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a plugin and a test, and says what to do next', () => {
    const run = tollgate(['plugin', 'new', 'rate-stamp', '--dir', dir, '--priority', '42']);
    expect(run.status, run.stderr).to.equal(0);
    expect(existsSync(join(dir, 'rate-stamp', 'index.ts'))).to.equal(true);
    expect(existsSync(join(dir, 'rate-stamp', 'rate-stamp.test.ts'))).to.equal(true);
    expect(run.stdout).to.include('plugins/reload');
  });

  it('refuses bad names, built-in names, taken priorities and existing folders', () => {
    expect(tollgate(['plugin', 'new', 'Bad_Name', '--dir', dir]).stderr).to.match(/kebab-case/);
    expect(tollgate(['plugin', 'new', 'key-auth', '--dir', dir]).stderr).to.match(/built-in/);
    expect(tollgate(['plugin', 'new', 'other', '--dir', dir, '--priority', '2500']).stderr).to.match(/used by key-auth/);
    expect(tollgate(['plugin', 'new', 'rate-stamp', '--dir', dir]).stderr).to.match(/already exists/);
  });

  it('the generated plugin loads into a gateway', async () => {
    const gw = await startTestGateway({ overrides: { plugin_dirs: [dir] } });
    try {
      const status = (await gw.admin('GET', '/plugins/status')).json.list.find((p: { name: string }) => p.name === 'rate-stamp');
      expect(status).to.include({ active: true, priority: 42 });
    } finally {
      await gw.stop();
    }
  });

  it('the generated test passes as written', () => {
    const run = spawnSync(process.execPath, [...SOURCE_NODE_ARGS, join(REPO_ROOT, 'node_modules/mocha/bin/mocha.js'), join(dir, 'rate-stamp', 'rate-stamp.test.ts')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 50_000,
    });
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.match(/3 passing/);
  });
});
