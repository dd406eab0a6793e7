import { expect } from 'chai';
import { isoTime } from '../../core/iso-time.js';

describe('isoTime (the access log timestamp)', () => {
  it('gives exactly what Date#toISOString gives, across second boundaries, centuries and cache switches', () => {
    const now = Date.now();
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, -1, -999, -1000, -1001, 1.5, 9.99, 99.7, 253402300799999, 253402300800000, -62198755200000];
    for (let i = 0; i < 2000; i++) times.push(now + i * 7, now - i * 997, Math.floor(Math.random() * 8.64e15 * 2) - 8.64e15);
    // Back and forth between two seconds: the cached prefix must follow each switch.
    for (let i = 0; i < 10; i++) times.push(now + 1000 * (i % 2));
    for (const t of times) expect(isoTime(t), String(t)).to.equal(new Date(t).toISOString());
  });

  it('stamps the current time by default', () => {
    const before = Date.now();
    const stamped = Date.parse(isoTime());
    expect(stamped).to.be.within(before, Date.now());
  });
});
