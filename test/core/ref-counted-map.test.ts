/**
 * The one reference-counted map: a value is shared by every holder of its key, disposed when the
 * last lets go (or, lingering, a while after, unless someone comes back), and a release counts once.
 */
import { expect } from 'chai';
import { RefCountedMap } from '../../core/ref-counted-map.js';

describe('RefCountedMap', () => {
  it('shares one value per key and disposes it when the last holder lets go, counting each release once', () => {
    const disposed: string[] = [];
    let created = 0;
    const map = new RefCountedMap<string>((value) => disposed.push(value));
    const a = map.acquire('k', () => `v${++created}`);
    const b = map.acquire('k', () => `v${++created}`);
    expect([a.value, b.value, created]).to.deep.equal(['v1', 'v1', 1]);
    a.release();
    a.release();
    expect(disposed).to.deep.equal([]);
    b.release();
    expect(disposed).to.deep.equal(['v1']);
    expect(map.acquire('k', () => `v${++created}`).value).to.equal('v2');
  });

  it('with lingerMs keeps a released value for a holder that comes back, and disposes it after', async () => {
    const disposed: string[] = [];
    const map = new RefCountedMap<string>((value) => disposed.push(value), { lingerMs: 30 });
    map.acquire('k', () => 'file').release();
    const back = map.acquire('k', () => 'another file');
    expect(back.value).to.equal('file');
    back.release();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(disposed).to.deep.equal(['file']);
    expect(map.size).to.equal(0);
  });

  it('clear disposes every value at once, with its own disposal when given', () => {
    const disposed: string[] = [];
    const map = new RefCountedMap<string>((value) => disposed.push(`release ${value}`), { lingerMs: 10_000 });
    map.acquire('a', () => 'a');
    map.acquire('b', () => 'b').release();
    map.clear((value) => disposed.push(`shutdown ${value}`));
    expect(disposed).to.deep.equal(['shutdown a', 'shutdown b']);
    expect(map.size).to.equal(0);
  });
});
