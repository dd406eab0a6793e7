import { expect } from 'chai';
import { canonicalJson } from '../../plugins/kit/canonical-json.js';

// Keys of the MCP list cache, of pooled 2026-07-28 servers (per capability set) and of limiter
// counters (a config's version): equal values must meet whatever order their keys came in.
describe('canonicalJson', () => {
  it('gives one text for equal values written in another key order, nested in objects and arrays', () => {
    const a = { sampling: {}, roots: { listChanged: true }, list: [{ b: 1, a: [2, { y: 1, x: 2 }] }] };
    const b = { list: [{ a: [2, { x: 2, y: 1 }], b: 1 }], roots: { listChanged: true }, sampling: {} };
    expect(canonicalJson(a)).to.equal(canonicalJson(b));
    expect(JSON.parse(canonicalJson(a))).to.deep.equal(a);
  });

  it('tells different values apart, array order included', () => {
    expect(canonicalJson({ a: [1, 2] })).to.not.equal(canonicalJson({ a: [2, 1] }));
    expect(canonicalJson({ a: 1 })).to.not.equal(canonicalJson({ a: '1' }));
    expect(canonicalJson(['tools/list', {}, undefined])).to.equal('["tools/list",{},null]');
    expect(canonicalJson(undefined)).to.equal('null');
  });
});
