/**
 * core/regex.ts: configured patterns run on RE2 (linear time). The behaviour through a gateway
 * is in test/plugins/proxy-rewrite.test.ts and test/faults/catastrophic-regex.test.ts; here the
 * engine's guarantees and the guard that keeps RegExp away from configured patterns.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RE2JS } from 're2js';
import { LinearRegex, RegexError, Replacement } from '../../core/regex.js';
import { REPO_ROOT } from '../helpers/gateway.js';

const LIMIT = 500;

describe('core: configured regular expressions (LinearRegex)', () => {
  it('matches a pattern that backtracks catastrophically in time linear in the input', () => {
    const regex = LinearRegex.compile('^/rx/(a|a)*$', LIMIT);
    for (const n of [28, 1000, 10_000]) {
      const started = performance.now();
      expect(regex.exec(`/rx/${'a'.repeat(n)}b`)).to.equal(null);
      expect(performance.now() - started, `${n} characters`).to.be.below(200);
    }
    expect(regex.exec('/rx/aaa')?.captures).to.deep.equal(['/rx/aaa', 'a']);
  });

  it('refuses backreferences, lookaround and oversized programs with the reason', () => {
    const reason = (source: string, limit = LIMIT) => {
      try {
        LinearRegex.compile(source, limit);
        return 'compiled';
      } catch (err) {
        expect(err).to.be.instanceOf(RegexError);
        return (err as Error).message;
      }
    };
    expect(reason('(a)\\1')).to.match(/^backreferences/);
    expect(reason('(?<n>a)\\k<n>')).to.match(/^backreferences/);
    for (const look of ['a(?=b)', 'a(?!b)', '(?<=a)b', '(?<!a)b']) expect(reason(look), look).to.match(/^lookaround/);
    expect(reason('(a')).to.equal('missing closing ): `(a`');
    expect(reason('^/(.{100})$', 50)).to.match(/compiles to \d+ RE2 instructions, more than limits.max_regex_program \(50\)/);
  });

  it('expands replacements with ngx.re.sub syntax, refusing what it does not define', () => {
    const regex = LinearRegex.compile('^/(?P<a>x)(y)?', LIMIT);
    expect(regex.replaceFirst('/x/rest', Replacement.parse('[$0|${1}|$2|$$]', regex.groupCount))).to.equal('[/x|x||$]/rest');
    expect(regex.replaceFirst('/nope', Replacement.parse('/', regex.groupCount))).to.equal(undefined);
    expect(() => Replacement.parse('$3', regex.groupCount)).to.throw(RegexError, /refers to group \$3, but the pattern has 2 groups/);
    expect(() => Replacement.parse('$a', regex.groupCount)).to.throw(RegexError, /group number/);
    expect(() => Replacement.parse('x$', regex.groupCount)).to.throw(RegexError, /group number/);
  });

  it('answers a path prefix and the rest (`^/api/(.*)`, the usual regex_uri) exactly as RE2 does, without running it', () => {
    const patterns = ['^/with-plugins/(.*)', '^/api/v1/(.*)$', '^(.*)', '^(.*)$', '^/a\\.b\\-c\\/(.*)', '^/ä/(.*)', '^/x y/(.*)'];
    const inputs = ['/with-plugins/plain', '/with-plugins/', '/with-plugins', '/WITH-plugins/x', '/api/v1/x\ny', '/api/v1/', '/api/v1/x\n', '', '\n',
      '/a.b-c/z', '/aXb-c/z', '/ä/ü', '/x y/1\n2\n3', '/with-plugins/\ud800x', '/with-plugins/a\r\nb'];
    let compared = 0;
    for (const source of patterns) {
      for (const dotAll of [false, true]) {
        const regex = LinearRegex.compile(source, LIMIT, { dotAll });
        const re2 = RE2JS.compile(source, dotAll ? RE2JS.DOTALL : 0);
        for (const input of inputs) {
          const expected = re2.exec(input) as (string[] & { index: number }) | null;
          const label = `${source} ${dotAll ? '(s) ' : ''}on ${JSON.stringify(input)}`;
          expect(regex.test(input), label).to.equal(re2.test(input));
          const match = regex.exec(input);
          if (!expected) expect(match, label).to.equal(null);
          else expect(match && { index: match.index, end: match.end, captures: [...match.captures] }, label).to.deep.equal({ index: expected.index, end: expected.index + expected[0].length, captures: [...expected] });
          compared += 1;
        }
      }
    }
    expect(compared).to.equal(patterns.length * 2 * inputs.length);
    // Not the shape: a flag or a second group leaves the pattern to RE2 (same answers, its way).
    expect(LinearRegex.compile('^/api/(.*)', LIMIT, { caseInsensitive: true }).exec('/API/x')?.captures).to.deep.equal(['/API/x', 'x']);
    expect(LinearRegex.compile('^/api/(.*)$', LIMIT, { multiLine: true }).exec('/api/x\ny')?.captures).to.deep.equal(['/api/x', 'x']);
    expect(LinearRegex.compile('^/api/(.*)/(.*)', LIMIT).exec('/api/a/b')?.captures).to.deep.equal(['/api/a/b', 'a', 'b']);
  });

  it('is the only way configured patterns are compiled: no RegExp( call in core/, routes/, plugins/, examples/plugins/', () => {
    const offenders: string[] = [];
    for (const dir of ['core', 'routes', 'plugins', 'examples/plugins']) {
      for (const file of sourceFiles(join(REPO_ROOT, dir))) {
        const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
        if (/\bRegExp\s*\(/.test(code)) offenders.push(relative(REPO_ROOT, file));
      }
    }
    expect(offenders, 'use LinearRegex (core/regex.ts) for patterns from configuration').to.deep.equal([]);
  });
});

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|js|mjs|cjs)$/.test(name) && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}
