/**
 * The buffered line writer behind the access log and file-logger: chunks, the periodic flush, the
 * bound on what waits, and close.
 */
import { expect } from 'chai';
import { mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter, openLogFile, reopenLogFiles } from '../../core/line-writer.js';
import { waitFor } from '../helpers/processes.js';

describe('line writer', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-lines-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a full chunk at once, the rest within flushMs, and everything on close, in order', async () => {
    const file = join(dir, 'a.log');
    const writer = new LineWriter(openSync(file, 'a'), { ownsFd: true, chunkBytes: 100, flushMs: 200 });
    for (let i = 0; i < 20; i++) writer.write(`line ${String(i).padStart(4, '0')}\n`);
    expect(await waitFor(() => readFileSync(file, 'utf8').split('\n').length > 5, 1000)).to.equal(true);
    writer.write('last\n');
    expect(await waitFor(() => readFileSync(file, 'utf8').endsWith('last\n'), 1000)).to.equal(true);
    writer.write('after close starts\n');
    await writer.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).to.have.length(22);
    expect(lines.slice(0, 20)).to.deep.equal([...Array(20).keys()].map((i) => `line ${String(i).padStart(4, '0')}`));
  });

  it('reopens a file opened by path: lines after the reopen go to the new file, none lost or doubled', async () => {
    const file = join(dir, 'rotate/r.log');
    const writer = openLogFile(file, { chunkBytes: 64, flushMs: 50 });
    for (let i = 0; i < 30; i++) writer.write(`before ${i}\n`);
    renameSync(file, `${file}.1`);
    // Mid-stream: a write may be in flight on the old descriptor.
    writer.reopen();
    for (let i = 0; i < 30; i++) writer.write(`after ${i}\n`);
    await writer.close();
    const old = readFileSync(`${file}.1`, 'utf8').trim().split('\n');
    const fresh = readFileSync(file, 'utf8').trim().split('\n');
    expect([...old, ...fresh]).to.deep.equal([...[...Array(30).keys()].map((i) => `before ${i}`), ...[...Array(30).keys()].map((i) => `after ${i}`)]);
    expect(fresh.every((l) => l.startsWith('after') || l.startsWith('before'))).to.equal(true);
    expect(fresh.at(-1)).to.equal('after 29');
    // Closed writers are forgotten: nothing left to reopen for this file.
    expect(reopenLogFiles().reopened).to.not.include(file);
  });

  it('keeps each write to whole lines within maxWriteBytes (atomic pipe writes for stdout)', async () => {
    const file = join(dir, 'c.log');
    const writer = new LineWriter(openSync(file, 'a'), { ownsFd: true, chunkBytes: 40, maxWriteBytes: 40 });
    for (let i = 0; i < 50; i++) writer.write(`${String(i).padStart(9, '0')}\n`);
    writer.write(`${'x'.repeat(99)}\n`);
    await writer.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).to.have.length(51);
    expect(lines[49]).to.equal('000000049');
    expect(lines[50]).to.have.length(99);
  });

  it('drops and counts lines past maxBufferedBytes, and after close', async () => {
    let dropped = 0;
    const writer = new LineWriter(openSync(join(dir, 'b.log'), 'a'), { ownsFd: true, chunkBytes: 1 << 20, maxBufferedBytes: 50, onDrop: (n) => (dropped += n) });
    for (let i = 0; i < 10; i++) writer.write('0123456789\n');
    expect(dropped).to.equal(6);
    await writer.close();
    writer.write('late\n');
    expect(dropped).to.equal(7);
    expect(readFileSync(join(dir, 'b.log'), 'utf8')).to.equal('0123456789\n'.repeat(4));
  });

  it('reports a failing descriptor and counts its lines as dropped, without throwing', async () => {
    let dropped = 0;
    const errors: string[] = [];
    const readOnly = openSync(join(dir, 'a.log'), 'r');
    const writer = new LineWriter(readOnly, { ownsFd: true, onDrop: (n) => (dropped += n), onError: (err) => errors.push(err.code ?? '') });
    writer.write('x\n');
    writer.write('y\n');
    await writer.close();
    expect(dropped).to.equal(2);
    expect(errors).to.deep.equal(['EBADF']);
  });
});
