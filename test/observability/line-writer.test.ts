/**
 * The buffered line writer behind the access log and file-logger: chunks, the periodic flush, the
 * bound on what waits, and close.
 */
import { expect } from 'chai';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter } from '../../core/line-writer.js';
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
