/** apache/apisix t/node/vars.t — route `vars` over arguments, cookies, headers and form bodies. */
import type { CaseFile } from '../suite.js';
import type { ParityCase, Step } from '../types.js';
import { UP_1980 } from './common.js';

const withVars = (vars: unknown[]): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: { uri: '/hello', vars, upstream: UP_1980 }, status: 201 });
const MISS = { status: 404, error: '404 Route Not Found' };
const HIT = { status: 200, text: 'hello world\n' };
const c = (tests: string, name: string, vars: unknown[], request: Step): ParityCase => ({ src: `t/node/vars.t#${tests}`, name, steps: [withVars(vars), request] });
const ARG = [['arg_k', '==', 'v']];
const COOKIE = [['cookie_k', '==', 'v']];
const HEADER = [['http_k', '==', 'v']];
const ALL = [['http_k', '==', 'header'], ['cookie_k', '==', 'cookie'], ['arg_k', '==', 'uri_arg']];
const POST = [['post_arg_k', '==', 'post_form']];

export default {
  area: 'node/vars',
  cases: [
    c('1,2', 'arg_k: /not_found', ARG, { req: 'GET /not_found', ...MISS }),
    c('1,3', 'arg_k: another value', ARG, { req: 'GET /hello?k=not-hit', ...MISS }),
    c('1,4', 'arg_k: hit', ARG, { req: 'GET /hello?k=v', ...HIT }),
    c('5,6', 'cookie_k: no cookie', COOKIE, { req: 'GET /hello', ...MISS }),
    c('5,7', 'cookie_k: another value', COOKIE, { req: 'GET /hello', headers: { cookie: 'k=not-hit; kkk=vvv;' }, ...MISS }),
    c('5,8', 'cookie_k: hit', COOKIE, { req: 'GET /hello', headers: { cookie: 'k=v; kkk=vvv;' }, ...HIT }),
    c('9,10', 'http_k: no header', HEADER, { req: 'GET /hello', ...MISS }),
    c('9,11', 'http_k: another value', HEADER, { req: 'GET /hello', headers: { k: 'not-hit' }, ...MISS }),
    c('9,12', 'http_k: hit', HEADER, { req: 'GET /hello', headers: { k: 'v' }, ...HIT }),
    c('13,14', 'uri arg + header + cookie: nothing', ALL, { req: 'GET /hello', ...MISS }),
    c('13,15', 'uri arg + header + cookie: the header only', ALL, { req: 'GET /hello', headers: { k: 'header' }, ...MISS }),
    c('13,16', 'uri arg + header + cookie: all three', ALL, { req: 'GET /hello?k=uri_arg', headers: { cookie: 'k=cookie', k: 'header' }, ...HIT }),
    c('17,18', 'post_arg_k: a GET request', POST, { req: 'GET /hello', ...MISS }),
    c('17,19', 'post_arg_k: a body that is not a form', POST, { req: 'POST /hello', body: '123', ...MISS }),
    c('17,20', 'post_arg_k: wrong content type', POST, { req: 'POST /hello', body: 'k=post_form', headers: { 'content-type': 'multipart/form-data' }, ...MISS }),
    c('17,21', 'post_arg_k: hit', POST, { req: 'POST /hello', body: 'k=post_form', headers: { 'content-type': 'application/x-www-form-urlencoded' }, ...HIT }),
  ],
} satisfies CaseFile;
