import { expect } from 'chai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

describe('plugin proxy-rewrite', () => {
  let gw: TestGateway;
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway();
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  const route = (id: string, uri: string, conf: unknown) =>
    gw.admin('PUT', `/routes/${id}`, { uri, upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'proxy-rewrite': conf } });

  describe('schema', () => {
    it('refuses unknown fields, odd regex_uri pairs and invalid patterns', async () => {
      expect((await route('bad1', '/b1', { colour: 'red' })).status).to.equal(400);
      expect((await route('bad2', '/b2', { regex_uri: ['^/a', '/b', '^/c'] })).json.error_msg).to.match(/pairs/);
      expect((await route('bad3', '/b3', { regex_uri: ['^/(a', '/b'] })).json.error_msg).to.match(/regex_uri\[0\] pattern "\^\/\(a" is refused: missing closing \)/);
      expect((await route('bad4', '/b4', { uri: 'no-slash' })).status).to.equal(400);
    });

    it('refuses, naming the field and the reason, what a linear-time engine cannot run', async () => {
      const refused = async (regex_uri: string[], why: RegExp) => {
        const res = await route('rx-bad', '/rx-bad', { regex_uri });
        expect(res.status, JSON.stringify(regex_uri)).to.equal(400);
        expect(res.json.error_msg).to.match(why);
      };
      await refused(['^/(a)\\1$', '/x'], /regex_uri\[0\] .*backreferences .* not supported: patterns run on RE2/);
      await refused(['^/(?<n>a)\\k<n>$', '/x'], /regex_uri\[0\] .*backreferences/);
      await refused(['^/a(?=b)', '/x'], /regex_uri\[0\] .*lookaround .* not supported/);
      await refused(['^/a(?!b)', '/x'], /lookaround/);
      await refused(['^/ok', '/ok', '(?<=a)b', '/x'], /regex_uri\[2\] .*lookaround/);
      await refused(['^/(.{600})$', '/x'], /regex_uri\[0\] .*compiles to \d+ RE2 instructions, more than limits.max_regex_program \(500\)/);
      // Replacements: ngx.re.sub's syntax, and only the groups the pattern has.
      await refused(['^/(a)', '/$2'], /regex_uri\[1\] replacement "\/\$2" is refused: refers to group \$2, but the pattern has 1 group/);
      await refused(['^/(?<id>a)', '/$id'], /regex_uri\[1\] .*must be followed by a group number/);
      await refused(['^/a', '/price$'], /regex_uri\[1\]/);
      // Nothing refused was stored.
      expect((await gw.admin('GET', '/routes/rx-bad')).status).to.equal(404);
    });

    it('takes a larger pattern when limits.max_regex_program allows it', async () => {
      const roomy = await startTestGateway({ overrides: { limits: { max_regex_program: 2000 } } });
      try {
        const put = await roomy.admin('PUT', '/routes/big', { uri: '/big/*', upstream: { nodes: { [upstream.address]: 1 } }, plugins: { 'proxy-rewrite': { regex_uri: ['^/big/(.{600})$', '/long'] } } });
        expect(put.status, put.text).to.equal(201);
        expect((await roomy.get(`/big/${'b'.repeat(600)}`)).json.url).to.equal('/long');
      } finally {
        await roomy.stop();
      }
    });
  });

  describe('happy path', () => {
    it('replaces the path with uri, interpolating variables and keeping the query', async () => {
      await route('u', '/users/:id', { uri: '/internal/users?source=$arg_by' });
      expect((await gw.get('/users/7?by=name')).json.url).to.equal('/internal/users?source=name&by=name');
      await route('u2', '/plain/*', { uri: '/fixed' });
      expect((await gw.get('/plain/x?q=1')).json.url).to.equal('/fixed?q=1');
    });

    it("appends the client's query to a query the new uri brings", async () => {
      await route('uq', '/with-query', { uri: '/target?fixed=1' });
      expect((await gw.get('/with-query?mine=2')).json.url).to.equal('/target?fixed=1&mine=2');
    });

    it('applies the first matching regex_uri pair', async () => {
      await route('rx', '/v1/*', { regex_uri: ['^/v1/admin/(.*)', '/blocked/$1', '^/v1/(.*)', '/api/v1/$1'] });
      expect((await gw.get('/v1/items/3')).json.url).to.equal('/api/v1/items/3');
      expect((await gw.get('/v1/admin/x')).json.url).to.equal('/blocked/x');
    });

    it("expands replacements as APISIX does (ngx.re.sub): $0, ${N}, $$, named groups by number", async () => {
      await route('rx-sub', '/sub/*', { regex_uri: ['^/sub/(?P<kind>[a-z]+)/(\\d+)$', '/v2/${1}s/$2/$$/from$0', '^/sub/(x)?y$', '/opt($1)'] });
      expect((await gw.get('/sub/user/42')).json.url).to.equal('/v2/users/42/$/from/sub/user/42');
      // A group that took no part inserts nothing.
      expect((await gw.get('/sub/y')).json.url).to.equal('/opt()');
      // Only the first match is replaced; the rest of the path stays.
      await route('rx-first', '/first/*', { regex_uri: ['o', '0'] });
      expect((await gw.get('/first/foo')).json.url).to.equal('/first/f0o');
    });

    it('sets the method and Host', async () => {
      await route('m', '/method', { method: 'POST', host: 'backend.internal' });
      const res = await gw.get('/method');
      expect(res.json.method).to.equal('POST');
      expect(res.json.headers.host).to.equal('backend.internal');
    });

    it('adds, sets and removes headers, with variables', async () => {
      await route('h', '/headers', { headers: { set: { 'X-Route': '$route_id', 'X-Client': '$remote_addr' }, add: { 'X-Tag': 'added' }, remove: ['X-Drop'] } });
      const res = await gw.get('/headers', { 'x-drop': 'secret', 'x-tag': 'original' });
      expect(res.json.headers['x-route']).to.equal('h');
      expect(res.json.headers['x-client']).to.equal('127.0.0.1');
      expect(res.json.headers['x-tag']).to.equal('original, added');
      expect(res.json.headers).to.not.have.property('x-drop');
    });

    it('keeps a credential that key-auth hid out of the rewritten query', async () => {
      await gw.admin('PUT', '/consumers', { username: 'rewriter', plugins: { 'key-auth': { key: 'rewriter-key' } } });
      await gw.admin('PUT', '/routes/hidden', {
        uri: '/hidden',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: { 'key-auth': { query: 'apikey', hide_credentials: true }, 'proxy-rewrite': { uri: '/elsewhere' } },
      });
      const res = await gw.get('/hidden?apikey=rewriter-key&keep=1');
      expect(res.status).to.equal(200);
      expect(res.json.url).to.equal('/elsewhere?keep=1');
    });

    it('removes a header set to "" (APISIX proxy-rewrite.t TEST 19, 20)', async () => {
      await route('empty', '/empty', { headers: { 'X-Api-Engine': 'APISIX', 'X-Api-Test': '' } });
      const res = await gw.get('/empty', { 'x-api-test': 'foo', 'x-api-engine': 'bar' });
      expect(res.json.headers['x-api-engine']).to.equal('APISIX');
      expect(res.json.headers).to.not.have.property('x-api-test');
    });

    it('sends no header whose variables resolve to nothing (APISIX proxy-rewrite.t TEST 38, 39)', async () => {
      await route('novar', '/novar', { headers: { set: { 'X-Api': '$helle', Name: '$arg_world', 'X-Key': '$http_key', Version: 'fixed' }, add: { 'X-Added': '$arg_none' } } });
      const res = await gw.get('/novar', { 'x-added': 'client' });
      expect(res.json.headers).to.not.have.any.keys('x-api', 'name', 'x-key');
      expect(res.json.headers.version).to.equal('fixed');
      // An add that resolves to nothing adds nothing: the client's value arrives alone.
      expect(res.json.headers['x-added']).to.equal('client');
    });

    it('lets set beat add, and remove beat both, on the same header (APISIX proxy-rewrite3.t TEST 19, 20)', async () => {
      await route('order', '/order', { headers: { add: { 'X-Both': 'added', 'X-Gone': 'added' }, set: { 'X-Both': 'set', 'X-Gone': 'set' }, remove: ['X-Gone'] } });
      const res = await gw.get('/order', { 'x-both': 'client', 'x-gone': 'client' });
      expect(res.json.headers['x-both']).to.equal('set');
      expect(res.json.headers).to.not.have.property('x-gone');
    });

    it('sends the X-Forwarded-Proto, -Host and -Port a route sets, and none it removes (APISIX proxy-rewrite2.t)', async () => {
      await route('xf', '/xf', { headers: { set: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '10080' }, remove: ['X-Forwarded-Host'] } });
      const res = await gw.get('/xf', { 'x-forwarded-proto': 'grpc' });
      expect(res.json.headers['x-forwarded-proto']).to.equal('https');
      expect(res.json.headers['x-forwarded-port']).to.equal('10080');
      expect(res.json.headers).to.not.have.property('x-forwarded-host');
    });

    it('appends the client address to an X-Forwarded-For a route sets; Host and X-Real-IP stay the gateway\'s', async () => {
      await route('xff', '/xff', { headers: { set: { 'X-Forwarded-For': '22.22.22.22', 'X-Real-IP': '6.6.6.6', Host: 'evil.example' } } });
      const res = await gw.get('/xff');
      expect(res.json.headers['x-forwarded-for']).to.equal('22.22.22.22, 127.0.0.1');
      expect(res.json.headers['x-real-ip']).to.equal('127.0.0.1');
      expect(res.json.headers.host).to.not.equal('evil.example');
    });

    it('accepts the legacy flat headers map as set', async () => {
      await route('flat', '/flat', { headers: { 'X-Flat': 'yes' } });
      expect((await gw.get('/flat')).json.headers['x-flat']).to.equal('yes');
    });
  });

  describe('rejections: header edits and paths that could never be sent', () => {
    const refused = async (conf: unknown, why: RegExp) => {
      const res = await route('bad-edit', '/bad-edit', conf);
      expect(res.status, JSON.stringify(conf)).to.equal(400);
      expect(res.json.error_msg).to.match(why);
      expect((await gw.admin('GET', '/routes/bad-edit')).status, 'nothing stored').to.equal(404);
    };

    it('refuses header names that are not HTTP tokens, naming the field', async () => {
      await refused({ headers: { set: { 'X Bad': 'v' } } }, /headers\.set\["X Bad"\]: .*not a valid header name/);
      await refused({ headers: { add: { 'X-A\r\nX-B': 'v' } } }, /headers\.add\["X-A\\r\\nX-B"\]: .*not a valid header name/);
      await refused({ headers: { remove: ['X(1)'] } }, /headers\.remove\[0\]: .*not a valid header name/);
      await refused({ headers: { 'Ünicode': 'v' } }, /headers\["Ünicode"\]: .*not a valid header name/);
    });

    it('refuses header values with CR, LF, NUL or other control characters, naming the field', async () => {
      await refused({ headers: { set: { 'X-A': 'one\r\nX-Injected: two' } } }, /headers\.set\["X-A"\]: value .*control character/);
      await refused({ headers: { add: { 'X-A': 'nul\u0000' } } }, /headers\.add\["X-A"\]: value .*control character/);
      await refused({ headers: { 'X-A': 'bell\u0007' } }, /headers\["X-A"\]: value .*control character/);
      await refused({ headers: { set: { 'X-A': 'snow\u2603' } } }, /headers\.set\["X-A"\]: value .*cannot be sent in a header/);
      // A tab is allowed in a header value.
      expect((await route('tab-ok', '/tab-ok', { headers: { set: { 'X-Tab': 'a\tb' } } })).status).to.equal(201);
    });

    it('refuses a uri or a regex_uri replacement that would put CR, LF, NUL or a space in the request line', async () => {
      await refused({ uri: '/a\r\nX-Injected: 1' }, /uri: .*control character/);
      await refused({ uri: '/a\u0000b' }, /uri: .*control character/);
      await refused({ uri: '/a b' }, /uri: .*" " at offset 2 must be percent-encoded/);
      await refused({ uri: '/a%zz' }, /uri: .*malformed percent-escape/);
      await refused({ regex_uri: ['^/(.*)', '/$1\r\nX: y'] }, /regex_uri\[1\] replacement .*control character/);
      await refused({ regex_uri: ['^/(.*)', '/$1#frag'] }, /regex_uri\[1\] replacement .*"#" at offset 3 must be percent-encoded/);
    });
  });

  describe('request values pasted into the upstream request (issue 10, item 9)', () => {
    it('keeps $arg_ values encoded: no path traversal out of the template, no extra query parameters', async () => {
      await route('trav', '/files', { uri: '/api/v1/public/$arg_file' });
      upstream.seen.length = 0;
      for (const file of ['..%2F..%2Fadmin', '../../admin', '..%2f..%2fadmin', '%2e%2e%2F%2e%2e%2Fadmin', 'docs/..%2F..%2F..%2Fadmin']) {
        const res = await gw.get(`/files?file=${file}`);
        expect(res.status, file).to.equal(400);
        expect(res.json.error_msg, file).to.match(/rewritten path leaves/);
      }
      expect(upstream.seen.map((r) => r.url), 'nothing reached the upstream').to.deep.equal([]);

      expect((await gw.get('/files?file=docs/readme.txt')).json.url).to.equal('/api/v1/public/docs/readme.txt?file=docs/readme.txt');
      // Dot segments that stay inside the prefix are resolved, never sent.
      expect((await gw.get('/files?file=docs/../notes.txt')).json.url).to.match(/^\/api\/v1\/public\/notes\.txt\?/);
      // What would change the URL's structure stays encoded: ?, #, %, spaces, ";" (Tomcat's "..;/").
      expect((await gw.get('/files?file=a%3Fb%23c%20d%25e')).json.url).to.match(/^\/api\/v1\/public\/a%3Fb%23c%20d%25e\?/);
      expect((await gw.get('/files?file=..;/admin')).json.url).to.match(/^\/api\/v1\/public\/..%3B\/admin\?/);
      // A double-encoded slash is one segment, encoded once more: the upstream decodes it to "%2F", not "/".
      expect((await gw.get('/files?file=..%252F..%252Fadmin')).json.url).to.match(/^\/api\/v1\/public\/..%252F..%252Fadmin\?/);

      await route('q', '/search', { uri: '/find?q=$arg_q' });
      expect((await gw.get('/search?q=a%26admin%3Dtrue')).json.url).to.equal('/find?q=a%26admin%3Dtrue&q=a%26admin%3Dtrue');
    });

    it('keeps a regex_uri capture inside the replacement\'s prefix', async () => {
      await route('cap', '/f*', { regex_uri: ['^/f([^/]*)$', '/files/$1/data'] });
      upstream.seen.length = 0;
      const res = await gw.get('/f..');
      expect(res.status).to.equal(400);
      expect(upstream.seen).to.deep.equal([]);
      expect((await gw.get('/freport')).json.url).to.equal('/files/report/data');
    });

    it('percent-encodes what a header cannot carry when a variable fills a header value', async () => {
      await route('hv', '/hv', { headers: { set: { 'X-File': '$arg_file' }, add: { 'X-Cookie': '$cookie_c' } } });
      const res = await gw.get('/hv?file=a%0D%0AX-Injected:%20yes%00%E4%B8%AD%09tab', { cookie: 'c=x%0Ay' });
      expect(res.status).to.equal(200);
      expect(res.json.headers['x-file']).to.equal('a%0D%0AX-Injected: yes%00%E4%B8%AD\ttab');
      expect(res.json.headers).to.not.have.property('x-injected');
      expect(res.json.headers['x-cookie']).to.equal('x%0Ay');
    });
  });
});
