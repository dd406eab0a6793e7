/** apache/apisix t/plugin/proxy-rewrite.t and proxy-rewrite2.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const pr = (conf: Record<string, unknown>, uri = '/hello', extra: Record<string, unknown> = {}, status = 201): Step => ({
  admin: 'PUT /apisix/admin/routes/1',
  body: route(uri, { 'proxy-rewrite': conf }, extra),
  status,
});
/** APISIX's proxy-rewrite2.t runs with trusted_addresses: [127.0.0.1]; Tollgate's name for it. */
const RAW_URI = 'Tollgate always forwards the normalized path the route matched: the raw request URI (use_real_request_uri_unsafe) could reach paths no route allows';
const TRUSTED = { gateway: { trusted_proxies: ['127.0.0.1'] } };
const echo = (conf?: Record<string, unknown>): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route('/echo', conf ? { 'proxy-rewrite': conf } : {}), status: 201 });

export default {
  area: 'plugin/proxy-rewrite',
  cases: [
    { src: 't/plugin/proxy-rewrite.t#1', name: 'sanity', steps: [pr({ uri: '/apisix/home', host: 'apisix.iresty.com' })] },
    { src: 't/plugin/proxy-rewrite.t#2,3', name: 'add and update plugin', steps: [pr({ uri: '/test/add', host: 'apisix.iresty.com' }), { ...pr({ uri: '/test/update', host: 'apisix.iresty.com' }), status: 200 }] },
    { src: 't/plugin/proxy-rewrite.t#4', name: 'disable plugin', steps: [pr({ uri: '/test/add' }), { admin: 'PUT /apisix/admin/routes/1', body: route('/hello'), status: 200 }, { req: 'GET /hello', status: 200, text: 'hello world\n' }] },
    {
      src: 't/plugin/proxy-rewrite.t#5,6',
      name: 'rewrite host',
      steps: [pr({ uri: '/plugin_proxy_rewrite', host: 'apisix.iresty.com' }, '/hello', { methods: ['GET'] }), { req: 'GET /hello', status: 200, text: 'uri: /plugin_proxy_rewrite\nhost: apisix.iresty.com\nscheme: http\n' }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#9,10',
      name: 'rewrite headers',
      steps: [
        pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api-Version': 'v2' } }),
        { req: 'GET /hello', headers: { 'x-api-version': 'v1' }, status: 200, lines: ['uri: /uri/plugin_proxy_rewrite', 'host: localhost', 'x-api-version: v2', 'x-real-ip: 127.0.0.1'] },
      ],
    },
    {
      src: 't/plugin/proxy-rewrite.t#11,12',
      name: 'add headers',
      steps: [pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api-Engine': 'apisix' } }), { req: 'GET /hello', status: 200, lines: ['uri: /uri/plugin_proxy_rewrite', 'host: localhost', 'x-api-engine: apisix', 'x-real-ip: 127.0.0.1'] }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#13,14',
      name: 'rewrite empty headers',
      steps: [pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api-Test': 'hello' } }), { req: 'GET /hello', headers: { 'x-api-test': '' }, status: 200, lines: ['x-api-test: hello'] }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#15,16',
      name: 'rewrite uri args',
      steps: [pr({ uri: '/plugin_proxy_rewrite_args' }), { req: 'GET /hello?q=apisix&a=iresty', status: 200, text: 'uri: /plugin_proxy_rewrite_args\na: iresty\nq: apisix\n' }],
    },
    { src: 't/plugin/proxy-rewrite.t#17,18', name: 'rewrite uri empty args', steps: [pr({ uri: '/plugin_proxy_rewrite_args' }), { req: 'GET /hello', status: 200, text: 'uri: /plugin_proxy_rewrite_args\n' }] },
    {
      src: 't/plugin/proxy-rewrite.t#19,20',
      name: 'remove header (a header set to "")',
      steps: [
        pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api-Engine': 'APISIX', 'X-Api-Test': '' } }),
        { req: 'GET /hello', headers: { 'x-api-test': 'foo', 'x-api-engine': 'bar' }, status: 200, lines: ['x-api-engine: APISIX'], noLines: ['x-api-test: foo', 'x-api-test: '] },
      ],
    },
    {
      src: 't/plugin/proxy-rewrite.t#21,22',
      name: 'rewrite uri using regex_uri',
      steps: [pr({ regex_uri: ['^/test/(.*)/(.*)/(.*)', '/$1_$2_$3'] }, '/test/*'), { req: 'GET /test/plugin/proxy/rewrite', status: 200, text: 'uri: /plugin_proxy_rewrite\nhost: localhost\nscheme: http\n' }],
    },
    { src: 't/plugin/proxy-rewrite.t#23', name: 'regex_uri that does not match: the uri is kept (404 upstream)', steps: [pr({ regex_uri: ['^/test/(.*)/(.*)/(.*)', '/$1_$2_$3'] }, '/test/*'), { req: 'GET /test/not/found', status: 404 }] },
    {
      src: 't/plugin/proxy-rewrite.t#24,25',
      name: 'using both uri and regex_uri: uri wins',
      steps: [pr({ uri: '/hello', regex_uri: ['^/test/(.*)', '/${1}1'] }, '/test/*'), { req: 'GET /test/hello', status: 200, text: 'hello world\n' }],
    },
    { src: 't/plugin/proxy-rewrite.t#26', name: 'invalid regex_uri (one element)', steps: [pr({ regex_uri: ['^/test/(.*)'] }, '/test/*', { methods: ['GET'] }, 400)] },
    { src: 't/plugin/proxy-rewrite.t#27', name: 'invalid regex syntax for the first element', steps: [pr({ regex_uri: ['[^/test/(.*)', '/$1'] }, '/test/*', { methods: ['GET'] }, 400)] },
    { src: 't/plugin/proxy-rewrite.t#28', name: 'invalid regex syntax for the second element', steps: [pr({ regex_uri: ['^/test/(.*)', '/$`1'] }, '/test/*', { methods: ['GET'] }, 400)] },
    { src: 't/plugin/proxy-rewrite.t#29', name: 'invalid uri', steps: [pr({ uri: 'hello' }, '/hello', {}, 400)] },
    { src: 't/plugin/proxy-rewrite.t#31', name: 'invalid header field', steps: [{ ...pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api:Version': 'v2' } }, '/hello', {}, 400), errorLike: 'header field: X-Api:Version' }] },
    { src: 't/plugin/proxy-rewrite.t#32', name: 'invalid header value', steps: [pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api-Version': 'v2\r\n' } }, '/hello', {}, 400)] },
    {
      src: 't/plugin/proxy-rewrite.t#33,34',
      name: 'rewrite uri with args',
      steps: [pr({ uri: '/plugin_proxy_rewrite_args?q=apisix' }), { req: 'GET /hello?a=iresty', status: 200, lines: ['q: apisix', 'a: iresty'] }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#35',
      name: 'the plugin conf is stored without dirty data',
      steps: [
        pr({ uri: '/uri/plugin_proxy_rewrite', headers: { 'X-Api': 'v2' } }),
        { admin: 'GET /apisix/admin/routes/1', status: 200, json: { value: { plugins: { $exact: { 'proxy-rewrite': { headers: { 'X-Api': 'v2' }, uri: '/uri/plugin_proxy_rewrite' } } } } } },
      ],
    },
    {
      src: 't/plugin/proxy-rewrite.t#36,37',
      name: 'header supports nginx variables',
      steps: [
        pr({ uri: '/uri', headers: { 'x-api': '$remote_addr', name: '$arg_name', 'x-key': '$http_key' } }),
        { req: 'GET /hello?name=Bill', headers: { key: 'X-APISIX' }, status: 200, lines: ['uri: /uri', 'host: localhost', 'key: X-APISIX', 'name: Bill', 'x-api: 127.0.0.1', 'x-key: X-APISIX', 'x-real-ip: 127.0.0.1'] },
      ],
    },
    {
      src: 't/plugin/proxy-rewrite.t#38,39',
      name: 'a nginx variable that does not exist yields no header',
      steps: [
        pr({ uri: '/uri', headers: { 'x-api': '$helle', name: '$arg_world', 'x-key': '$http_key', Version: 'nginx_var_does_not_exist' } }),
        { req: 'GET /hello', status: 200, text: 'uri: /uri\nhost: localhost\nversion: nginx_var_does_not_exist\nx-real-ip: 127.0.0.1\n' },
      ],
    },
    { src: 't/plugin/proxy-rewrite.t#40,41', name: 'rewrite uri based on ctx.var', steps: [pr({ uri: '/$arg_new_uri' }, '/test'), { req: 'GET /test?new_uri=hello', status: 200, text: 'hello world\n' }] },
    { src: 't/plugin/proxy-rewrite.t#42', name: 'host with port', steps: [pr({ host: 'test.com:6443' })] },
    {
      src: 't/plugin/proxy-rewrite.t#43,44',
      name: 'rewrite host with port',
      steps: [pr({ uri: '/uri', host: 'test.com:6443' }, '/hello', { methods: ['GET'] }), { req: 'GET /hello', status: 200, lines: ['uri: /uri', 'host: test.com:6443', 'x-real-ip: 127.0.0.1'] }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#45,46',
      deliberate: RAW_URI,
      name: 'rewrite uri args with unsafe allowed',
      steps: [pr({ uri: '/plugin_proxy_rewrite_args', use_real_request_uri_unsafe: true }), { req: 'GET /hello?q=apisix&a=iresty', status: 200, text: 'uri: /plugin_proxy_rewrite_args\na: iresty\nq: apisix\n' }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#49,50',
      deliberate: RAW_URI,
      name: "merge conf.uri query with incoming query (use '&', not double '?')",
      steps: [pr({ uri: '/plugin_proxy_rewrite_args?x=1', use_real_request_uri_unsafe: true }), { req: 'GET /hello?q=apisix', status: 200, text: 'uri: /plugin_proxy_rewrite_args\nq: apisix\nx: 1\n' }],
    },
    {
      src: 't/plugin/proxy-rewrite.t#51,52',
      deliberate: RAW_URI,
      name: 'query string reaches upstream exactly once without conf.uri',
      steps: [pr({ use_real_request_uri_unsafe: true }, '/plugin_proxy_rewrite_args'), { req: 'GET /plugin_proxy_rewrite_args?q=apisix', status: 200, text: 'uri: /plugin_proxy_rewrite_args\nq: apisix\n' }],
    },

    { src: 't/plugin/proxy-rewrite2.t#2', name: 'default X-Forwarded-Proto', config: TRUSTED, steps: [echo(), { req: 'GET /echo', status: 200, resHeaders: { 'x-forwarded-proto': 'http' } }] },
    {
      src: 't/plugin/proxy-rewrite2.t#3',
      name: 'pass X-Forwarded-Proto (trusted client)',
      config: TRUSTED,
      steps: [echo(), { req: 'GET /echo', headers: { 'x-forwarded-proto': 'https' }, status: 200, resHeaders: { 'x-forwarded-proto': 'https' } }],
    },
    {
      src: 't/plugin/proxy-rewrite2.t#4',
      name: 'customize X-Forwarded-Proto',
      config: TRUSTED,
      steps: [echo({ headers: { 'X-Forwarded-Proto': 'https' } }), { req: 'GET /echo', headers: { 'x-forwarded-proto': 'grpc' }, status: 200, resHeaders: { 'x-forwarded-proto': 'https' } }],
    },
    {
      src: 't/plugin/proxy-rewrite2.t#7',
      name: 'customize X-Forwarded-Port',
      config: TRUSTED,
      steps: [echo({ headers: { 'X-Forwarded-Port': '10080' } }), { req: 'GET /echo', headers: { 'x-forwarded-port': '8080' }, status: 200, resHeaders: { 'x-forwarded-port': '10080' } }],
    },
    {
      src: 't/plugin/proxy-rewrite2.t#9',
      name: 'remove X-Forwarded-Host, no trusted_addresses',
      steps: [echo({ headers: { remove: ['X-Forwarded-Host'] } }), { req: 'GET /echo', status: 200, resHeaders: { 'x-forwarded-host': null } }],
    },
    {
      src: 't/plugin/proxy-rewrite2.t#11',
      name: 'customize X-Forwarded-Host',
      config: TRUSTED,
      steps: [echo({ headers: { 'X-Forwarded-Host': 'my-upstream.example.com' } }), { req: 'GET /echo', headers: { 'x-forwarded-host': 'client.example.com' }, status: 200, resHeaders: { 'x-forwarded-host': 'my-upstream.example.com' } }],
    },
  ],
} satisfies CaseFile;
