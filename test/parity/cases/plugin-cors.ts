/** apache/apisix t/plugin/cors.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const cors = (conf: Record<string, unknown>, uri = '/hello', status = 201, extra: Record<string, unknown> = {}): Step => ({
  admin: 'PUT /apisix/admin/routes/1',
  body: route(uri, { cors: conf, ...extra }),
  status,
});
const SPECIFIED = { allow_origins: 'http://sub.domain.com,http://sub2.domain.com', allow_methods: 'GET,POST', allow_headers: 'headr1,headr2', expose_headers: 'ex-headr1,ex-headr2', max_age: 50, allow_credential: true };
const SPECIFIED_HEADERS = (origin: string) => ({
  'access-control-allow-origin': origin,
  vary: { $re: 'Origin' },
  'access-control-allow-methods': 'GET,POST',
  'access-control-allow-headers': 'headr1,headr2',
  'access-control-expose-headers': 'ex-headr1,ex-headr2',
  'access-control-max-age': '50',
  'access-control-allow-credentials': 'true',
});
const NO_CORS = {
  'access-control-allow-origin': null,
  'access-control-allow-methods': null,
  'access-control-allow-headers': null,
  'access-control-expose-headers': null,
  'access-control-max-age': null,
  'access-control-allow-credentials': null,
};
const ALL_METHODS = 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE';
const WILD = { allow_origins: '**', allow_methods: '**', allow_headers: 'request-h', expose_headers: 'expose-h', allow_credential: true };
const overwrite = (name: string, value: string, want: string): Step[] => [cors(WILD, '/headers'), { req: `GET /headers?${name}=${value}`, headers: { origin: 'https://sub.domain.com' }, status: 200, resHeaders: { [name.toLowerCase()]: want } }];
const credential = (field: string, n: number) => ({
  src: `t/plugin/cors.t#${n}`,
  name: `should not set * to ${field} when allow_credential is true`,
  steps: [{ ...cors({ [field]: '*', allow_credential: true }, '/hello', 400), errorLike: '^failed to check the configuration of plugin cors err: you can not' }],
});

export default {
  area: 'plugin/cors',
  cases: [
    { src: 't/plugin/cors.t#1', name: 'sanity', steps: [cors({ allow_origins: 'http://test.com', allow_methods: '', allow_headers: '', expose_headers: '', max_age: 600, allow_credential: true })] },
    {
      src: 't/plugin/cors.t#2',
      name: 'wrong value of key',
      steps: [{ ...cors({ allow_origins: 'http://test.com', allow_methods: '', allow_headers: '', expose_headers: '', max_age: '600', allow_credential: true }, '/hello', 400), errorLike: 'property "max_age" validation failed: wrong type: expected integer, got string' }],
    },
    { src: 't/plugin/cors.t#3', name: 'add plugin', steps: [cors({})] },
    {
      src: 't/plugin/cors.t#4',
      name: 'update plugin (an unknown field, madx_age, is accepted)',
      deliberate: 'plugin schemas refuse unknown fields: a misspelt option would otherwise be stored and silently do nothing',
      steps: [cors({ allow_origins: '**', allow_methods: '**', allow_headers: 'request-h', expose_headers: 'expose-h', madx_age: 5, allow_credential: true })],
    },
    {
      src: 't/plugin/cors.t#6,7',
      name: 'cors default',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { cors: {} }, { methods: ['GET'] }), status: 201 },
        {
          req: 'GET /hello',
          status: 200,
          text: 'hello world\n',
          resHeaders: { 'access-control-allow-origin': '*', vary: null, 'access-control-allow-methods': '*', 'access-control-allow-headers': '*', 'access-control-expose-headers': null, 'access-control-max-age': '5', 'access-control-allow-credentials': null },
        },
      ],
    },
    { src: 't/plugin/cors.t#8,9', name: 'cors specified', steps: [cors(SPECIFIED), { req: 'GET /hello', headers: { origin: 'http://sub2.domain.com' }, status: 200, resHeaders: SPECIFIED_HEADERS('http://sub2.domain.com') }] },
    { src: 't/plugin/cors.t#10', name: 'cors specified no match origin', steps: [cors(SPECIFIED), { req: 'GET /hello', headers: { origin: 'http://sub3.domain.com' }, status: 200, resHeaders: NO_CORS }] },
    {
      src: 't/plugin/cors.t#11,12',
      name: 'cors force wildcard',
      steps: [
        cors({ allow_origins: '**', allow_methods: '**', allow_headers: '**', expose_headers: '*' }),
        {
          req: 'GET /hello',
          headers: { origin: 'https://sub.domain.com', 'access-control-request-headers': 'req-header1,req-header2' },
          status: 200,
          resHeaders: { 'access-control-allow-origin': 'https://sub.domain.com', vary: 'Origin', 'access-control-allow-methods': ALL_METHODS, 'access-control-allow-headers': 'req-header1,req-header2', 'access-control-expose-headers': '*', 'access-control-max-age': '5', 'access-control-allow-credentials': null },
        },
      ],
    },
    {
      src: 't/plugin/cors.t#13',
      name: 'cors force wildcard no origin',
      steps: [
        cors({ allow_origins: '**', allow_methods: '**', allow_headers: '**', expose_headers: '*' }),
        { req: 'GET /hello', status: 200, resHeaders: { 'access-control-allow-origin': '*', 'access-control-allow-methods': ALL_METHODS, 'access-control-allow-headers': null, 'access-control-expose-headers': '*', 'access-control-max-age': '5' } },
      ],
    },
    { src: 't/plugin/cors.t#14', name: 'options return directly', steps: [cors({ allow_origins: '**', allow_methods: '**', allow_headers: '**', expose_headers: '*' }), { req: 'OPTIONS /hello', status: 200, text: '' }] },
    {
      src: 't/plugin/cors.t#15,16',
      name: 'auth failed still work',
      steps: [
        cors({ allow_origins: '**', allow_methods: '**', allow_headers: '*', expose_headers: '*' }, '/hello', 201, { 'key-auth': {} }),
        {
          req: 'GET /hello',
          headers: { origin: 'https://sub.domain.com' },
          status: 401,
          message: 'Missing API key in request',
          resHeaders: { 'access-control-allow-origin': 'https://sub.domain.com', 'access-control-allow-methods': ALL_METHODS, 'access-control-allow-headers': '*', 'access-control-expose-headers': '*', 'access-control-max-age': '5' },
        },
      ],
    },
    { src: 't/plugin/cors.t#17,18', name: 'overwrite upstream (Access-Control-Allow-Origin)', steps: overwrite('Access-Control-Allow-Origin', 'https://sub.domain.com', 'https://sub.domain.com') },
    { src: 't/plugin/cors.t#19', name: 'overwrite upstream (Access-Control-Allow-Methods)', steps: overwrite('Access-Control-Allow-Methods', 'methods', ALL_METHODS) },
    { src: 't/plugin/cors.t#20', name: 'overwrite upstream (Access-Control-Allow-Headers)', steps: overwrite('Access-Control-Allow-Headers', 'a-headers', 'request-h') },
    { src: 't/plugin/cors.t#21', name: 'overwrite upstream (Access-Control-Expose-Headers)', steps: overwrite('Access-Control-Expose-Headers', 'e-headers', 'expose-h') },
    { src: 't/plugin/cors.t#22', name: 'overwrite upstream (Access-Control-Max-Age)', steps: overwrite('Access-Control-Max-Age', '10', '5') },
    { src: 't/plugin/cors.t#23', name: 'not overwrite upstream (Access-Control-Allow-Credentials)', steps: overwrite('Access-Control-Allow-Credentials', 'false', 'true') },
    credential('allow_origins', 24),
    credential('allow_methods', 25),
    credential('allow_headers', 26),
    credential('expose_headers', 27),
    {
      src: 't/plugin/cors.t#28,29',
      name: 'regex specified',
      steps: [cors({ ...SPECIFIED, allow_origins_by_regex: ['.*\\.test.com$'] }), { req: 'GET /hello', headers: { origin: 'http://a.test.com' }, status: 200, resHeaders: SPECIFIED_HEADERS('http://a.test.com') }],
    },
    { src: 't/plugin/cors.t#28,30', name: 'regex specified not match', steps: [cors({ ...SPECIFIED, allow_origins_by_regex: ['.*\\.test.com$'] }), { req: 'GET /hello', headers: { origin: 'http://a.test2.com' }, status: 200, resHeaders: NO_CORS }] },
    {
      src: 't/plugin/cors.t#31,32',
      name: 'multiple regex specified match',
      steps: [cors({ ...SPECIFIED, allow_origins_by_regex: ['.*\\.test.com$', '.*\\.example.org$'] }), { req: 'GET /hello', headers: { origin: 'http://foo.example.org' }, status: 200, resHeaders: SPECIFIED_HEADERS('http://foo.example.org') }],
    },
    {
      src: 't/plugin/cors.t#31,33',
      name: 'multiple regex specified not match',
      steps: [cors({ ...SPECIFIED, allow_origins_by_regex: ['.*\\.test.com$', '.*\\.example.org$'] }), { req: 'GET /hello', headers: { origin: 'http://foo.example.com' }, status: 200, resHeaders: NO_CORS }],
    },
    {
      src: 't/plugin/cors.t#34,35',
      name: 'origin is not affected by proxy_rewrite plugins',
      steps: [
        cors({ ...SPECIFIED, allow_origins: 'http://sub.domain.com' }, '/hello', 201, { 'proxy-rewrite': { headers: { Origin: 'http://example.com' } } }),
        { req: 'GET /hello', headers: { origin: 'http://sub.domain.com' }, status: 200, resHeaders: SPECIFIED_HEADERS('http://sub.domain.com') },
      ],
    },
    {
      src: 't/plugin/cors.t#36,37',
      name: 'request without Origin header does not error out',
      steps: [cors({ allow_origins: 'http://sub.domain.com', allow_methods: 'GET,POST', allow_headers: 'headr1,headr2', expose_headers: 'ex-headr1,ex-headr2', allow_credential: true, allow_origins_by_regex: ['.*\\.test.com$'] }), { req: 'GET /hello', status: 200, resHeaders: { 'access-control-allow-origin': null } }],
    },
  ],
} satisfies CaseFile;
