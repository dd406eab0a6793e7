/**
 * Signals a supervisor, a terminal or logrotate may send to a real `tollgate start` process
 * (issue 10, item 5; bin/signals.ts): none of them drops a request in flight; SIGHUP and SIGUSR1
 * reopen log files, SIGUSR2 and SIGPIPE are ignored, SIGQUIT stops gracefully like SIGTERM.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_KEY = 'signals-admin-key-0123456789abcdef';

describe('tollgate start: signals', () => {
  let dir: string;
  let upstream: TestUpstream;

  before(async () => {
    // A response that takes about a second to stream: signals arrive in the middle of it.
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let ticks = 0;
      const timer = setInterval(() => {
        res.write(`tick ${ticks}\n`);
        if (++ticks === 10) {
          clearInterval(timer);
          res.end('done\n');
        }
      }, 100);
      res.once('close', () => clearInterval(timer));
    });
  });
  after(() => upstream.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-signals-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function start(): Promise<GatewayProcess> {
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `access_log:\n  path: ${JSON.stringify(join(dir, 'logs', 'access.log'))}\n`);
    const gw = await spawnGateway({ TOLLGATE_DATA_DIR: dir, TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_LOG_LEVEL: 'info' }, ['--config', config]);
    await gw.admin('PUT', '/routes/stream', { uri: '/stream', upstream: { nodes: { [upstream.address]: 1 } } });
    await gw.admin('PUT', '/routes/quick', { uri: '/quick', plugins: {}, upstream: { nodes: { [upstream.address]: 1 } } });
    return gw;
  }

  function streamed(gw: GatewayProcess): Promise<{ status: number; text: string }> {
    return request(`${gw.url}/stream`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
  }

  it('SIGHUP, SIGUSR1, SIGUSR2 and SIGPIPE neither stop the gateway nor cut a response in flight', async () => {
    const gw = await start();
    try {
      const inFlight = streamed(gw);
      await new Promise((r) => setTimeout(r, 150));
      for (const signal of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGPIPE'] as const) {
        gw.child.kill(signal);
        await new Promise((r) => setTimeout(r, 100));
      }
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(res.text).to.match(/tick 9\ndone\n$/);
      expect(gw.child.exitCode, gw.output()).to.equal(null);
      expect(gw.child.signalCode).to.equal(null);
      expect((await streamed(gw)).status).to.equal(200);
      // SIGUSR1 reopened logs; it did not open Node's inspector.
      expect(await gw.logged(/"signal":"SIGUSR1".*log files reopened/), gw.output()).to.equal(true);
      expect(await gw.logged(/"signal":"SIGUSR2".*signal ignored/), gw.output()).to.equal(true);
      expect(gw.output()).to.not.include('Debugger listening');
    } finally {
      await gw.stop('SIGKILL');
    }
  });

  it('SIGHUP reopens the access log file after logrotate moved it away', async () => {
    const gw = await start();
    const log = join(dir, 'logs', 'access.log');
    try {
      await (await request(`${gw.url}/quick?before`)).body.text();
      expect(await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('/quick'), 5000)).to.equal(true);
      renameSync(log, `${log}.1`);
      gw.child.kill('SIGHUP');
      expect(await waitFor(() => existsSync(log), 3000)).to.equal(true, 'a new access.log');
      await (await request(`${gw.url}/stream`)).body.text();
      expect(await waitFor(() => readFileSync(log, 'utf8').includes('/stream'), 5000)).to.equal(true);
      expect(readFileSync(`${log}.1`, 'utf8')).to.include('/quick').and.not.include('/stream');
    } finally {
      await gw.stop('SIGKILL');
    }
  });

  it('SIGQUIT drains the response in flight, then exits 0, like SIGTERM', async () => {
    const gw = await start();
    try {
      const inFlight = streamed(gw);
      await new Promise((r) => setTimeout(r, 200));
      const exit = gw.stop('SIGQUIT');
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(res.text).to.match(/done\n$/);
      expect(await exit).to.equal(0);
    } finally {
      await gw.stop('SIGKILL');
    }
  });
});
