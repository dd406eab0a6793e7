/**
 * No child outlives its gateway (issue 10, item 18), however the gateway ends: a real gateway
 * process is SIGKILLed with sessions open on a server that ignores the end of its input and
 * SIGTERM (and one that leaves a grandchild behind). Its reaper stops them within the stop
 * sequence; when the reaper is killed too, the next gateway on the same data dir stops them at
 * start, and leaves alone any process that only looks like a leftover.
 *
 * Children of a killed gateway are no longer this process's descendants, so the leak check of
 * test/setup.ts cannot see them: each test ends what it finds by pid.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { adopt } from '../helpers/processes.js';
import { FAULT_SERVER, descendants, isAlive, rawSession, waitFor } from './support.js';

const ADMIN_KEY = 'gateway-killed-admin-key-0123456789';

function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

describe('mcp-bridge: children of a killed gateway', function () {
  this.timeout(60_000);
  let work: string;
  const strays: number[] = [];

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'tollgate-killed-'));
  });

  afterEach(() => {
    // Whatever a failed test left running, by pid (they are no longer our descendants).
    for (const pid of strays.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  async function gatewayWithSessions(): Promise<{ gateway: GatewayProcess; children: number[]; reaper: number | undefined }> {
    const config = join(work, 'config.yaml');
    writeFileSync(config, `gateway:\n  data_dir: ${JSON.stringify(join(work, 'data'))}\n`);
    const gateway = await spawnGateway({ TOLLGATE_ADMIN_KEY: ADMIN_KEY }, ['--config', config]);
    for (const [id, args] of [
      ['stubborn', [FAULT_SERVER, '--ignore-sigterm']],
      ['family', [FAULT_SERVER, '--ignore-sigterm', '--grandchild']],
      ['polite', [FAULT_SERVER]],
    ] as const) {
      const res = await gateway.admin('PUT', `/routes/${id}`, { uri: `/${id}/*`, plugins: { 'mcp-bridge': { base_uri: `/${id}`, command: 'node', args } } });
      expect(res.status, res.text).to.be.oneOf([200, 201]);
      await rawSession(`${gateway.url}/${id}`);
    }
    const below = descendants(gateway.child.pid);
    const children = below.filter((p) => p.command.includes('fault-server.mjs') || p.command.includes('setInterval')).map((p) => p.pid);
    const reaper = below.find((p) => p.command.includes('tollgate-mcp-reaper'))?.pid;
    expect(children, 'three servers and a grandchild').to.have.length(4);
    strays.push(...children);
    if (reaper !== undefined) strays.push(reaper);
    return { gateway, children, reaper };
  }

  it('a gateway killed with SIGKILL leaves no child running beyond the stop sequence (stop_stdin_wait + stop_term_wait)', async () => {
    const { gateway, children, reaper } = await gatewayWithSessions();
    const killedAt = Date.now();
    await gateway.stop('SIGKILL');
    const gone = await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000, 50);
    const seconds = (Date.now() - killedAt) / 1000;
    expect(gone, `still running after ${seconds} s: ${children.filter(isAlive).join(', ')}`).to.equal(true);
    // Defaults: 2 s for the end of input, 3 s after SIGTERM, then SIGKILL.
    expect(seconds).to.be.below(7);
    expect(reaper, 'the reaper process').to.be.a('number');
    expect(await waitFor(() => !isAlive(reaper!), 10_000), 'the reaper exits once done').to.equal(true);
  });

  it('a reaper killed while its gateway runs is replaced, and the replacement does the job', async () => {
    const { gateway, children, reaper } = await gatewayWithSessions();
    try {
      expect(reaper, 'the reaper process').to.be.a('number');
      process.kill(reaper!, 'SIGKILL');
      const findReaper = () => descendants(gateway.child.pid).find((p) => p.command.includes('tollgate-mcp-reaper') && p.pid !== reaper)?.pid;
      expect(await waitFor(() => findReaper() !== undefined, 15_000), 'no new reaper').to.equal(true);
      strays.push(findReaper()!);
    } finally {
      await gateway.stop('SIGKILL');
    }
    expect(await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000, 50), 'children still running').to.equal(true);
  });

  it('a gateway started on the same data dir stops what a killed gateway and its killed reaper left, and nothing else', async () => {
    const { gateway, children, reaper } = await gatewayWithSessions();
    await gateway.stop('SIGKILL');
    if (reaper !== undefined) process.kill(reaper, 'SIGKILL');
    const stubborn = children.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--ignore-sigterm') || readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('setInterval'));
    await new Promise((r) => setTimeout(r, 500));
    expect(stubborn.filter(isAlive), 'leftovers of the killed gateway').to.have.length(3);

    // A process that only looks like a leftover: a record names it with another start time, or
    // another command line (a reused pid).
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
    strays.push(bystander.pid!);
    adopt(bystander.pid);
    expect(await waitFor(() => readFileSync(`/proc/${bystander.pid}/cmdline`, 'utf8').includes('setInterval'), 5000)).to.equal(true);
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const start = startTicks(bystander.pid!);
    mkdirSync(join(work, 'data/mcp-children'), { recursive: true });
    writeFileSync(
      join(work, 'data/mcp-children/1-deadbeef.json'),
      JSON.stringify({
        owner: { pid: 999_999_999, start: 1 },
        boot,
        children: [
          { pgid: bystander.pid, start: start - 1, command: `${process.execPath} -e setInterval(() => {}, 1000)` },
          { pgid: bystander.pid, start, command: 'node /somewhere/else.mjs' },
        ],
      }),
    );

    const config = join(work, 'config.yaml');
    const restarted = await spawnGateway({ TOLLGATE_ADMIN_KEY: ADMIN_KEY }, ['--config', config]);
    try {
      // SIGTERM (ignored), then SIGKILL after stop_term_wait (3 s); the wait only bounds a hang.
      expect(await waitFor(() => stubborn.every((pid) => !isAlive(pid)), 20_000, 50), 'leftovers still running').to.equal(true);
      expect(await restarted.logged('stopping servers a gateway that died left running'), restarted.output()).to.equal(true);
      expect(isAlive(bystander.pid!), 'an unrelated process was killed').to.equal(true);
    } finally {
      await restarted.stop();
      bystander.kill('SIGKILL');
    }
  });
});
