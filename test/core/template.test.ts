/**
 * The one `$var` template language (core/template.ts): its forms, checked against APISIX's own
 * `resolve_var` cases (t/core/utils.t TEST 6), and the places that used to read templates each
 * their own way, through a real gateway: a `${var}` that proxy-rewrite, api-breaker and
 * response-rewrite left as text, a chash `vars_combinations` key that dropped it, a `log_format`
 * that knew only a whole `$name`, and variables only the loggers knew (`$status`).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileTemplate, type VarSource } from '../../core/template.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const vars = (values: Record<string, unknown>): VarSource => ({ var: (name) => values[name] });

describe('$var templates', () => {
  describe('the language', () => {
    it("renders APISIX's resolve_var cases as APISIX does", () => {
      const source = vars({ you: 'John', me: 'David' });
      const cases: Array<[string, string]> = [
        ['', ''],
        ['xx', 'xx'],
        ['$me', 'David'],
        ['$me run', 'David run'],
        ['talk with $me', 'talk with David'],
        ['tell $me to', 'tell David to'],
        ['$you and $me', 'John and David'],
        ['$eva and $me', ' and David'],
        ['$you and \\$me', 'John and \\$me'],
        ['${you}_${me}', 'John_David'],
        ['${you}${me}', 'JohnDavid'],
        ['${you}$me', 'JohnDavid'],
        ['${you??}$me', 'JohnDavid'],
        ['${you??Rose}$me', 'JohnDavid'],
        ['${she??Rose}$me', 'RoseDavid'],
        ['${she ??Rose}$me', 'RoseDavid'],
        ['${she?? Rose}$me', 'RoseDavid'],
        ['${she ?? Rose}$me', 'RoseDavid'],
        ['${she   ??     Rose}$me', 'RoseDavid'],
        ['${ she ?? Rose }$me', 'RoseDavid'],
        ['${you ?? Rose}$he??', 'John??'],
        ['${you ?? Rose}$he??Jack', 'John??Jack'],
      ];
      for (const [template, expected] of cases) expect(compileTemplate(template).render(source), template).to.equal(expected);
    });

    it('keeps a $ that starts no reference as text; a dot ends a name', () => {
      const source = vars({ arg_file: 'report', host: 'example.com' });
      expect(compileTemplate('costs $ 5, $-, ${, ${}').render(source)).to.equal('costs $ 5, $-, ${, ${}');
      expect(compileTemplate('/files/$arg_file.json').render(source)).to.equal('/files/report.json');
      expect(compileTemplate('$host.').render(source)).to.equal('example.com.');
    });

    it('treats an empty value as none: it renders as nothing, and a default stands in for it', () => {
      const source = vars({ empty: '', zero: 0 });
      expect(compileTemplate('[$empty]').render(source)).to.equal('[]');
      expect(compileTemplate('[${empty ?? none}]').render(source)).to.equal('[none]');
      expect(compileTemplate('[$zero]').render(source)).to.equal('[0]');
    });

    it('says when no variable resolved (a limit key then falls back), and renders a constant as itself', () => {
      const source = vars({ consumer_name: 'jack' });
      expect(compileTemplate('$consumer_name:${mcp_tool}').renderIfResolved(source)).to.equal('jack:');
      expect(compileTemplate('$remote_user:${mcp_tool}').renderIfResolved(source)).to.equal(undefined);
      expect(compileTemplate('${mcp_tool ?? all}').renderIfResolved(source)).to.equal('all');
      expect(compileTemplate('everyone').renderIfResolved(source)).to.equal('everyone');
    });

    it('escapes values and defaults for where they land, never the template’s own text', () => {
      const escape = (value: string) => encodeURIComponent(value);
      expect(compileTemplate('/a b/$arg_x/${arg_y ?? c d}').render(vars({ arg_x: '../x?y' }), escape)).to.equal('/a b/..%2Fx%3Fy/c%20d');
    });

    it('knows what it names, and the text before the first name', () => {
      const template = compileTemplate('/api/v1/$arg_a/${arg_b ?? x}');
      expect(template.variables).to.deep.equal(['arg_a', 'arg_b']);
      expect(template.literalPrefix).to.equal('/api/v1/');
      expect(compileTemplate('/static').isConstant).to.equal(true);
    });

    it('gives a template that is one variable its value as the source has it', () => {
      expect(compileTemplate('$status').value(vars({ status: 200 }))).to.equal(200);
      expect(compileTemplate('${status}').value(vars({ status: 200 }))).to.equal(200);
      expect(compileTemplate('$status').value(vars({}))).to.equal(undefined);
      expect(compileTemplate('$status/$host').value(vars({ status: 200, host: 'h' }))).to.equal('200/h');
    });
  });

  describe('every user of templates reads the same language (was: four readers that disagreed)', () => {
    let gw: TestGateway;
    let upstream: TestUpstream;
    let other: TestUpstream;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-template-'));
      upstream = await startUpstream(undefined, 'one');
      other = await startUpstream(undefined, 'two');
      gw = await startTestGateway();
    });
    after(async () => {
      await gw.stop();
      await upstream.close();
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const route = async (id: string, body: Record<string, unknown>) => {
      const res = await gw.admin('PUT', `/routes/${id}`, body);
      expect(res.status, res.text).to.be.oneOf([200, 201]);
    };

    it('proxy-rewrite reads ${var} and defaults in its uri and headers (it left them as text)', async () => {
      await route('rewrite', {
        uri: '/rewrite',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: {
          'proxy-rewrite': {
            uri: '/users/${arg_user}/${arg_page ?? 1}',
            headers: { set: { 'x-user': 'user-${arg_user}', 'x-tier': '${http_x_tier ?? free}' } },
          },
        },
      });
      const res = await gw.get('/rewrite?user=ann');
      expect(res.status).to.equal(200);
      expect(res.json.url).to.equal('/users/ann/1?user=ann');
      expect(res.json.headers['x-user']).to.equal('user-ann');
      expect(res.json.headers['x-tier']).to.equal('free');
    });

    it('response-rewrite sees $status like every other template (only it and the loggers knew it)', async () => {
      await route('status', {
        uri: '/status',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: { 'response-rewrite': { headers: { set: { 'x-answer': '${status} from ${upstream_addr ?? nowhere}' } } } },
      });
      const res = await gw.get('/status');
      expect(res.headers['x-answer']).to.equal(`200 from ${upstream.address}`);
    });

    it('a chash vars_combinations key reads ${var} (the proxy dropped it: every client hashed alike)', async () => {
      await route('sticky', {
        uri: '/sticky',
        upstream: { type: 'chash', hash_on: 'vars_combinations', key: '${arg_user}', nodes: { [upstream.address]: 1, [other.address]: 1 } },
      });
      const served = async (user: string) => (await gw.get(`/sticky?user=${user}`)).json.upstream as string;
      const first = new Map<string, string>();
      for (let i = 0; i < 20; i++) first.set(`u${i}`, await served(`u${i}`));
      // Each user sticks to one node, and users spread over both: the key is the user, not a constant.
      for (const [user, node] of first) expect(await served(user)).to.equal(node);
      expect(new Set(first.values()).size).to.equal(2);
    });

    it('a log_format value is a template: ${var}, several variables, defaults; measurements stay numbers', async () => {
      const file = join(dir, 'format.log');
      await route('logged', {
        uri: '/logged',
        upstream: { nodes: { [upstream.address]: 1 } },
        plugins: {
          'file-logger': {
            path: file,
            log_format: { route: '${route_id}', where: '$host:$server_port', who: '${consumer_name ?? anonymous}', status: '$status', fixed: 'x$y' },
          },
        },
      });
      expect((await gw.get('/logged')).status).to.equal(200);
      expect(await waitFor(() => readFileSync(file, 'utf8').includes('\n'), 3000)).to.equal(true);
      const entry = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]);
      expect(entry).to.deep.equal({ route: 'logged', where: `127.0.0.1:${new URL(gw.url).port}`, who: 'anonymous', status: 200, fixed: 'x$y', route_id: 'logged' });
    });
  });
});
