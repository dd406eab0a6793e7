/**
 * Route matching as APISIX's radixtree_host_uri router does it: exact before prefix, longest
 * prefix first, priority within a uri, hosts before host-less routes, then methods and addresses.
 */
import { expect } from 'chai';
import { compileExpression } from '../../core/expr.js';
import { bodyNeedsOf, type RequestVariables } from '../../core/request.js';
import { RouteMatcher, compileTemplate, type MatcherEntry } from '../../routes/matcher.js';

function matcher(entries: Array<Partial<MatcherEntry<string>> & { value: string }>) {
  return new RouteMatcher(entries.map((e) => ({ uris: ['/'], priority: 0, ...e })));
}

const hit = (m: RouteMatcher<string>, path: string, method = 'GET', host = '', ip = '127.0.0.1') => m.match(method, host, path, ip)?.value;

/** A matcher entry's `vars`, compiled as the route compiler does. */
function withVars(rule: unknown[]): Pick<MatcherEntry<string>, 'vars' | 'bodyNeeds'> {
  const vars = compileExpression(rule, { maxRegexProgram: 500 });
  return { vars, bodyNeeds: bodyNeedsOf(vars.variables) };
}

/** Request variables from a plain map; `bodyRead` says whether post_arg_* and mcp_* have their values yet. */
function variables(values: Record<string, string>, bodyRead = true): RequestVariables {
  return { var: (name) => values[name], hasBodyFor: () => bodyRead };
}

describe('route matcher', () => {
  describe('uris', () => {
    const m = matcher([
      { value: 'foo-prefix', uris: ['/blog/foo/*'] },
      { value: 'a-prefix', uris: ['/blog/foo/a/*'] },
      { value: 'c-prefix', uris: ['/blog/foo/c/*'] },
      { value: 'bar-exact', uris: ['/blog/foo/bar'] },
    ]);

    it('follows the APISIX documentation example', () => {
      expect(hit(m, '/blog/foo/bar')).to.equal('bar-exact');
      expect(hit(m, '/blog/foo/a/b/c')).to.equal('a-prefix');
      expect(hit(m, '/blog/foo/gloo')).to.equal('foo-prefix');
      expect(hit(m, '/blog/bar')).to.equal(undefined);
    });

    it('a /prefix/* route does not match the bare prefix without its slash', () => {
      expect(hit(m, '/blog/foo')).to.equal(undefined);
      expect(hit(m, '/blog/foo/')).to.equal('foo-prefix');
    });

    it('matches any of several uris', () => {
      const multi = matcher([{ value: 'multi', uris: ['/one', '/two/*'] }]);
      expect(hit(multi, '/one')).to.equal('multi');
      expect(hit(multi, '/two/x')).to.equal('multi');
      expect(hit(multi, '/three')).to.equal(undefined);
    });

    it('captures :params and a trailing *name', () => {
      const p = matcher([
        { value: 'user', uris: ['/user/:name'] },
        { value: 'action', uris: ['/user/:user/*action'] },
        { value: 'nested', uris: ['/org/:org/repo/:repo'] },
      ]);
      expect(p.match('GET', '', '/user/john', '')).to.deep.equal({ value: 'user', params: { name: 'john' }, uri: '/user/:name', host: undefined });
      expect(hit(p, '/user/')).to.equal(undefined);
      expect(hit(p, '/user')).to.equal(undefined);
      expect(p.match('GET', '', '/user/john/edit/now', '')).to.deep.equal({ value: 'action', params: { user: 'john', action: 'edit/now' }, uri: '/user/:user/*action', host: undefined });
      expect(p.match('GET', '', '/org/acme/repo/tollgate', '')?.params).to.deep.equal({ org: 'acme', repo: 'tollgate' });
      expect(hit(p, '/org/acme/repo/tollgate/extra')).to.equal(undefined);
      expect(hit(p, '/org/acme/wrong/tollgate')).to.equal(undefined);
    });

    it('refuses a * that is not at the end', () => {
      expect(() => compileTemplate('/a/*/b')).to.throw(/only allowed at the end/);
    });
  });

  describe('precedence', () => {
    it('an exact uri wins over a prefix even with a lower priority', () => {
      const m = matcher([
        { value: 'prefix', uris: ['/api/*'], priority: 100 },
        { value: 'exact', uris: ['/api/users'], priority: 0 },
      ]);
      expect(hit(m, '/api/users')).to.equal('exact');
    });

    it('within one uri, higher priority wins, then the route added first', () => {
      const m = matcher([
        { value: 'low', uris: ['/x'], priority: 1 },
        { value: 'high', uris: ['/x'], priority: 5 },
        { value: 'high-later', uris: ['/x'], priority: 5 },
      ]);
      expect(hit(m, '/x')).to.equal('high');
    });

    it('falls back to a shorter prefix when the longer one rejects the method', () => {
      const m = matcher([
        { value: 'outer', uris: ['/a/*'] },
        { value: 'inner-post', uris: ['/a/b/*'], methods: ['POST'] },
      ]);
      expect(hit(m, '/a/b/c', 'POST')).to.equal('inner-post');
      expect(hit(m, '/a/b/c', 'GET')).to.equal('outer');
    });
  });

  describe('vars', () => {
    const m = matcher([
      { value: 'beta', uris: ['/api/*'], priority: 10, ...withVars([['http_x_beta', '==', 'on']]) },
      { value: 'v2', uris: ['/api/*'], priority: 5, ...withVars([['arg_version', '>=', 2]]) },
      { value: 'default', uris: ['/api/*'] },
      { value: 'short', uris: ['/*'], ...withVars([['cookie_team', 'in', ['red', 'blue']]]) },
    ]);
    const at = (path: string, values: Record<string, string>) => m.match('GET', '', path, '127.0.0.1', variables(values))?.value;

    it('a route matches only when its vars hold; candidates are tried by priority', () => {
      expect(at('/api/x', { http_x_beta: 'on', arg_version: '3' })).to.equal('beta');
      expect(at('/api/x', { http_x_beta: 'off', arg_version: '3' })).to.equal('v2');
      expect(at('/api/x', { arg_version: '1' })).to.equal('default');
    });

    it('when every route of a uri refuses, the next shorter prefix is tried (radixtree)', () => {
      const only = matcher([
        { value: 'inner', uris: ['/a/b/*'], ...withVars([['arg_k', '==', 'v']]) },
        { value: 'outer', uris: ['/a/*'], ...withVars([['http_k', '~~', '^v']]) },
      ]);
      const at2 = (values: Record<string, string>) => only.match('GET', '', '/a/b/c', '', variables(values))?.value;
      expect(at2({ arg_k: 'v' })).to.equal('inner');
      expect(at2({ http_k: 'value' })).to.equal('outer');
      expect(at2({})).to.equal(undefined);
    });

    it('evaluates no rule when a lookup has no request: every variable is missing', () => {
      expect(hit(m, '/api/x')).to.equal('default');
      expect(hit(m, '/other')).to.equal(undefined);
    });

    it('stops at a candidate whose vars read the body until the body is read, and tries none after it', () => {
      const body = matcher([
        { value: 'cheap-miss', uris: ['/form'], priority: 9, ...withVars([['arg_k', '==', 'v']]) },
        { value: 'form', uris: ['/form'], priority: 5, ...withVars([['post_arg_kind', '==', 'order']]) },
        { value: 'fallback', uris: ['/form'] },
      ]);
      const waiting = body.match('POST', '', '/form', '', variables({}, false));
      expect(waiting?.value).to.equal('form');
      expect(waiting?.needsBody).to.deep.equal({ form: true, jsonRpc: false });
      expect(body.match('POST', '', '/form', '', variables({ post_arg_kind: 'order' }))).to.deep.equal({ value: 'form', params: {}, uri: '/form', host: undefined });
      expect(body.match('POST', '', '/form', '', variables({ post_arg_kind: 'refund' }))?.value).to.equal('fallback');
      // A cheaper check that fails first spares the read: the method is compared before the rule.
      const byMethod = matcher([{ value: 'form', uris: ['/form'], methods: ['POST'], ...withVars([['post_arg_a', '==', '1']]) }]);
      expect(byMethod.match('GET', '', '/form', '', variables({}, false))).to.equal(undefined);
    });

    it('knows which variables wait for the body: post_arg_* and the mcp_* ones', () => {
      expect(bodyNeedsOf(['arg_a', 'http_b', 'cookie_c', 'remote_addr'])).to.equal(undefined);
      expect(bodyNeedsOf(['post_arg_a'])).to.deep.equal({ form: true, jsonRpc: false });
      expect(bodyNeedsOf(['mcp_tool', 'arg_a'])).to.deep.equal({ form: false, jsonRpc: true });
    });
  });

  describe('hosts, methods, addresses', () => {
    const m = matcher([
      { value: 'exact-host', uris: ['/*'], hosts: ['api.example.com'] },
      { value: 'wildcard', uris: ['/*'], hosts: ['*.example.com'] },
      { value: 'deeper-wildcard', uris: ['/*'], hosts: ['*.eu.example.com'] },
      { value: 'any', uris: ['/*'] },
      { value: 'internal', uris: ['/internal'], remoteAddrs: ['10.0.0.0/8'] },
    ]);

    it('prefers the exact host, then the most specific wildcard, then host-less routes', () => {
      expect(hit(m, '/x', 'GET', 'api.example.com')).to.equal('exact-host');
      expect(hit(m, '/x', 'GET', 'web.example.com')).to.equal('wildcard');
      expect(hit(m, '/x', 'GET', 'a.b.example.com')).to.equal('wildcard');
      expect(hit(m, '/x', 'GET', 'fr.eu.example.com')).to.equal('deeper-wildcard');
      expect(hit(m, '/x', 'GET', 'example.com')).to.equal('any');
      expect(hit(m, '/x', 'GET', 'other.org')).to.equal('any');
    });

    it('says which of its uri and host patterns matched (APISIX matched_uri, matched_host)', () => {
      const several = matcher([{ value: 'r', uris: ['/a/*', '/b/:id'], hosts: ['api.example.com', '*.example.org'] }]);
      const pick = (path: string, host: string) => {
        const found = several.match('GET', host, path, '');
        return found && [found.uri, found.host];
      };
      expect(pick('/b/7', 'x.example.org')).to.deep.equal(['/b/:id', '*.example.org']);
      expect(pick('/a/deep/er', 'api.example.com')).to.deep.equal(['/a/*', 'api.example.com']);
      expect(m.match('GET', 'other.org', '/x', '')).to.include({ uri: '/*', host: undefined });
    });

    it('checks remote addresses against CIDRs', () => {
      expect(hit(m, '/internal', 'GET', '', '10.1.2.3')).to.equal('internal');
      expect(hit(m, '/internal', 'GET', '', '192.168.1.1')).to.equal('any');
    });

    it('checks methods', () => {
      const only = matcher([{ value: 'get', uris: ['/r'], methods: ['GET', 'HEAD'] }]);
      expect(hit(only, '/r', 'GET')).to.equal('get');
      expect(hit(only, '/r', 'DELETE')).to.equal(undefined);
    });
  });

  describe('scale', () => {
    it('finds the right route among 10,000', () => {
      const entries = [];
      for (let i = 0; i < 10_000; i++) {
        entries.push({ value: `r${i}`, uris: [i % 2 === 0 ? `/svc${i}/*` : `/svc${i}/items/:id`], priority: 0 });
      }
      const big = new RouteMatcher(entries);
      expect(hit(big, '/svc4242/anything/deep')).to.equal('r4242');
      expect(big.match('GET', '', '/svc4243/items/9', '')).to.deep.equal({ value: 'r4243', params: { id: '9' }, uri: '/svc4243/items/:id', host: undefined });
      expect(hit(big, '/svc10001/x')).to.equal(undefined);
    });
  });
});
