/**
 * The embedded catalog's change log on a real disk, through real gateway processes: a torn last
 * line (a crash mid-append, a full disk) is cut on start and later writes survive; a write the
 * disk refuses is answered with an error, never acknowledged, and leaves a log the next start
 * reads whole. The full disk is RLIMIT_FSIZE on the gateway process (`prlimit --fsize`): the
 * kernel stops the write part-way, exactly where a full filesystem would, without root or a mount.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, spawnGateway, type GatewayProcess, type SpawnGatewayOptions } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KEY = 'durability-admin-key-0123456789';

describe('embedded catalog durability (real gateway processes, real files)', function () {
  this.timeout(120_000);
  let upstream: TestUpstream;
  let dir: string;
  let gateway: GatewayProcess | undefined;
  const logFile = () => join(dir, 'catalog.json.log');

  const start = async (options: SpawnGatewayOptions = {}) => {
    // Under a file size limit tsx must not write its compile cache: it would leave files cut at
    // the limit, which every later start on this machine would load. Elsewhere the cache saves
    // each start a full compile of the sources.
    const cache: Record<string, string> = options.wrapper ? { TSX_DISABLE_CACHE: '1' } : {};
    gateway = await spawnGateway({ TOLLGATE_DATA_DIR: dir, TOLLGATE_ADMIN_KEY: KEY, ...cache }, [], options);
    return gateway;
  };
  const stop = async () => {
    await gateway?.stop();
    gateway = undefined;
  };
  const route = (id: string) => ({ uri: `/d/${id}`, upstream: { nodes: { [upstream.address]: 1 } } });
  const put = (gw: GatewayProcess, id: string) => gw.admin('PUT', `/routes/${id}`, route(id));
  const logLines = (gw: GatewayProcess) =>
    gw
      .output()
      .split('\n')
      .slice(0, -1) // a line still arriving
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  /** Every log line must be a whole JSON line ending in a newline: what the next start reads. */
  const expectCleanLog = () => {
    const text = readFileSync(logFile(), 'utf8');
    if (text === '') return;
    expect(text.endsWith('\n'), 'the log ends with a complete line').to.equal(true);
    for (const line of text.slice(0, -1).split('\n')) expect(() => JSON.parse(line), line).to.not.throw();
  };
  const expectServed = async (gw: GatewayProcess, ids: readonly string[]) => {
    for (const id of ids) expect((await gw.admin('GET', `/routes/${id}`)).status, `route ${id} in the catalog`).to.equal(200);
    // And compiled into the data plane, not only stored.
    for (const id of ids) expect((await http('GET', `${gw.url}/d/${id}`)).status, `route ${id} served`).to.equal(200);
  };

  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-durability-'));
  });
  afterEach(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a torn tail written by hand is cut on start: 20 later PUTs all survive the next restart', async () => {
    const first = await start();
    for (const id of ['a', 'b', 'c']) expect((await put(first, id)).status).to.equal(201);
    await stop();
    const torn = '{"rev":4,"kind":"routes","id":"torn","record":{"value":{"uri":"/d/to';
    appendFileSync(logFile(), torn);
    const before = statSync(logFile()).size;

    const second = await start();
    expect(await second.logged(/cut a torn tail.*\n/), second.output()).to.equal(true);
    const cut = logLines(second).find((l) => /cut a torn tail/.test(String(l.msg)));
    expect(cut, 'the cut is logged').to.include({ cut_bytes: Buffer.byteLength(torn), kept_bytes: before - Buffer.byteLength(torn), kept_lines: 3 });
    const ids = Array.from({ length: 20 }, (_, i) => `after${i}`);
    for (const id of ids) expect((await put(second, id)).status).to.equal(201);
    await stop();
    expectCleanLog();

    const third = await start();
    await expectServed(third, ['a', 'b', 'c', ...ids]);
    expect((await third.admin('GET', '/routes/torn')).status).to.equal(404);
  });

  it('recovers the writes an older version appended after a torn fragment (fragment and line on one row)', async () => {
    const first = await start();
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect((await put(first, id)).status).to.equal(201);
    await stop();
    // What the old code left: a torn fragment of an unacknowledged write, then the next
    // acknowledged lines appended straight after it, which that version never read again. And a
    // line damaged from outside (not a torn tail: a newline follows it).
    const lines = readFileSync(logFile(), 'utf8').split('\n').filter(Boolean);
    const fragment = lines[3].slice(0, 37);
    const damaged = 'not a log line';
    writeFileSync(logFile(), `${lines[0]}\n${damaged}\n${lines.slice(1, 3).join('\n')}\n${fragment}${lines.slice(3).join('\n')}\n`);

    const second = await start();
    expect(await second.logged(/repaired the catalog log[^]*repaired the catalog log.*\n/), second.output()).to.equal(true);
    const repairs = logLines(second).filter((l) => /repaired the catalog log/.test(String(l.msg)));
    expect(repairs.map((l) => l.skipped_bytes)).to.deep.equal([damaged.length, fragment.length]);
    await expectServed(second, ['a', 'b', 'c', 'd', 'e']);
    expect((await put(second, 'f')).status).to.equal(201);
    await stop();
    expectCleanLog();
    const third = await start();
    await expectServed(third, ['a', 'b', 'c', 'd', 'e', 'f']);
    expect(third.output()).to.not.match(/repaired|torn/);
  });

  it('a full disk: refused writes answer 503 with error_msg and are never acknowledged; acknowledged ones survive', async function () {
    if (spawnSync('prlimit', ['--version']).status !== 0) this.skip();
    // 8 KiB for every file the gateway writes: the change log fills after a few dozen routes.
    const limit = 8192;
    const full = await start({ wrapper: ['prlimit', `--fsize=${limit}`, '--'] });
    const acknowledged: string[] = [];
    const refused: string[] = [];
    for (let i = 0; i < 200 && refused.length < 5; i++) {
      const res = await put(full, `full${i}`);
      if (res.status === 201) {
        expect(refused, 'no write is acknowledged after the disk refused one').to.have.length(0);
        acknowledged.push(`full${i}`);
      } else {
        expect(res.status).to.equal(503);
        expect(res.json.error_msg).to.match(/catalog store unavailable.*EFBIG/);
        refused.push(`full${i}`);
      }
    }
    expect(acknowledged.length).to.be.greaterThan(5);
    expect(refused).to.have.length(5);
    // Still serving what it had, and saying it cannot write.
    await expectServed(full, acknowledged);
    for (const id of refused) expect((await full.admin('GET', `/routes/${id}`)).status).to.equal(404);
    const ready = await http('GET', `${full.statusUrl}/status/ready`);
    expect(ready.json.status).to.equal('degraded');
    expect(ready.json.catalog.lastError).to.match(/EFBIG/);
    await stop();
    expectCleanLog();
    expect(statSync(logFile()).size).to.be.at.most(limit);

    // Space again: everything acknowledged is there, nothing refused is, and new writes stick.
    const roomy = await start();
    await expectServed(roomy, acknowledged);
    for (const id of refused) expect((await roomy.admin('GET', `/routes/${id}`)).status).to.equal(404);
    const later = Array.from({ length: 10 }, (_, i) => `later${i}`);
    for (const id of later) expect((await put(roomy, id)).status).to.equal(201);
    await stop();
    const again = await start();
    await expectServed(again, [...acknowledged, ...later]);
  });
});
