/** apache/apisix t/admin/routes2.t and routes3.t — route validation, stored data, PATCH. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const put = (body: Record<string, unknown>) => ({ admin: 'PUT /apisix/admin/routes/1', body });
const bad = (body: Record<string, unknown>, errorLike: string) => ({ ...put(body), status: 400, errorLike });
const R = { methods: ['GET'], upstream: UP_8080, desc: 'new route', uri: '/index.html' };
const PATCHED = { methods: ['GET'], upstream: UP_8080, uri: '/index.html' };
const FILTER_FUNC = 'Tollgate never runs code taken from config (style.md): filter_func is refused as an unknown field';

export default {
  area: 'admin/routes',
  cases: [
    { src: 't/admin/routes2.t#1', name: 'invalid route: bad remote_addrs', steps: [bad({ ...R, remote_addrs: [''] }, 'property "remote_addrs" validation failed:')] },
    { src: 't/admin/routes2.t#2', name: 'invalid route: bad remote_addrs cidr', steps: [bad({ ...R, remote_addrs: ['/16'] }, 'property "remote_addrs" validation failed:')] },
    {
      src: 't/admin/routes2.t#3',
      name: 'valid route with remote_addrs',
      steps: [{ ...put({ ...R, remote_addrs: ['::1/16', '::1', '::', '1.1.1.1', '1.1.1.1/32'] }), status: 201 }],
    },
    {
      src: 't/admin/routes2.t#4',
      name: 'invalid route: bad vars operator',
      steps: [{ ...put({ ...R, vars: [['remote_addr', '=', '127.0.0.1']] }), status: 400, error: "failed to validate the 'vars' expression: invalid operator '='" }],
    },
    {
      src: 't/admin/routes2.t#5',
      name: 'not unwanted data, POST',
      steps: [
        {
          admin: 'POST /apisix/admin/routes',
          body: { methods: ['GET'], upstream: UP_8080, uri: '/not_unwanted_data_post' },
          status: 201,
          json: {
            value: {
              $exact: { methods: ['GET'], upstream: UP_8080, uri: '/not_unwanted_data_post' },
              $ignore: ['create_time', 'update_time', 'id'],
            },
          },
        },
      ],
    },
    {
      src: 't/admin/routes2.t#6',
      name: 'not unwanted data, PUT',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes',
          body: { id: 1, methods: ['GET'], upstream: UP_8080, uri: '/index.html' },
          status: 201,
          json: { key: '/apisix/routes/1', value: { $exact: { id: 1, methods: ['GET'], upstream: UP_8080, uri: '/index.html' }, $ignore: ['create_time', 'update_time'] } },
        },
      ],
    },
    {
      src: 't/admin/routes2.t#7',
      name: 'not unwanted data, PATCH',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: PATCHED, status: 201 },
        {
          admin: 'PATCH /apisix/admin/routes/1',
          body: { methods: ['GET'], upstream: UP_8080, uri: '/index' },
          status: 200,
          json: { key: '/apisix/routes/1', value: { $exact: { id: '1', methods: ['GET'], upstream: UP_8080, uri: '/index' }, $ignore: ['create_time', 'update_time'] } },
        },
      ],
    },
    {
      src: 't/admin/routes2.t#8',
      name: 'not unwanted data, GET',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], upstream: UP_8080, uri: '/index' }, status: 201 },
        {
          admin: 'GET /apisix/admin/routes/1',
          status: 200,
          json: {
            key: '/apisix/routes/1',
            createdIndex: '$any',
            modifiedIndex: '$any',
            value: { $exact: { id: '1', methods: ['GET'], upstream: UP_8080, uri: '/index' }, $ignore: ['create_time', 'update_time'] },
          },
        },
      ],
    },
    {
      src: 't/admin/routes2.t#9',
      name: 'not unwanted data, DELETE',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: PATCHED, status: 201 },
        { admin: 'DELETE /apisix/admin/routes/1', status: 200, json: { $exact: { deleted: '1', key: '/apisix/routes/1' } } },
      ],
    },
    { src: 't/admin/routes2.t#10', name: 'invalid route: empty remote_addrs', steps: [bad({ ...PATCHED, remote_addrs: [] }, 'property "remote_addrs" validation failed:')] },
    { src: 't/admin/routes2.t#11', name: 'invalid route: empty uris', steps: [bad({ methods: ['GET'], upstream: UP_8080, uris: [] }, 'property "uris" validation failed:')] },
    { src: 't/admin/routes2.t#12', name: 'invalid route: empty hosts', steps: [bad({ methods: ['GET'], upstream: UP_8080, hosts: [], uri: '/' }, 'property "hosts" validation failed:')] },
    { src: 't/admin/routes2.t#13', name: 'invalid route: uris & uri', steps: [bad({ methods: ['GET'], upstream: UP_8080, uris: ['/'], uri: '/' }, 'value should match only one schema')] },
    {
      src: 't/admin/routes2.t#14',
      name: 'enable remote_addrs and remote_addr together',
      steps: [{ ...put({ uri: '/index.html', upstream: UP_8080, remote_addr: '127.0.0.1', remote_addrs: ['127.0.0.1'] }), status: 400, error: 'only one of remote_addr or remote_addrs is allowed' }],
    },
    {
      src: 't/admin/routes2.t#15',
      name: 'labels in Chinese',
      steps: [{ ...put({ ...PATCHED, labels: { 您好: '世界' } }), status: 201, json: { value: { ...PATCHED, labels: { 您好: '世界' } }, key: '/apisix/routes/1' } }],
    },
    { src: 't/admin/routes2.t#16', name: 'labels value with whitespace', steps: [bad({ ...PATCHED, labels: { 您好: '世 界' } }, 'invalid configuration: property "labels" validation failed')] },
    {
      src: 't/admin/routes2.t#17',
      name: 'route with plugin_config_id (not found)',
      steps: [{ ...put({ ...PATCHED, plugin_config_id: 'not_found' }), status: 400, error: 'failed to fetch plugin config info by plugin config id [not_found], response code: 404' }],
    },
    { src: 't/admin/routes2.t#18', name: 'valid route with timeout', steps: [{ ...put({ ...PATCHED, timeout: { connect: 3, send: 3, read: 3 } }), status: 201 }] },

    { src: 't/admin/routes3.t#1', name: 'list empty resources', steps: [{ admin: 'GET /apisix/admin/routes', status: 200, json: { $exact: { list: [], total: 0 } } }] },
    {
      src: 't/admin/routes3.t#2',
      name: 'remote_addr: 127.0.0.1',
      steps: [{ ...put({ remote_addr: '127.0.0.1', upstream: UP_8080, uri: '/index.html' }), status: 201, json: { value: { remote_addr: '127.0.0.1', uri: '/index.html' }, key: '/apisix/routes/1' } }],
    },
    {
      src: 't/admin/routes3.t#3',
      name: 'remote_addr: 127.0.0.1/24',
      steps: [{ ...put({ remote_addr: '127.0.0.0/24', upstream: UP_8080, uri: '/index.html' }), status: 201, json: { value: { remote_addr: '127.0.0.0/24' } } }],
    },
    {
      src: 't/admin/routes3.t#4',
      name: 'remote_addr: 127.0.0.33333',
      steps: [
        {
          ...put({ remote_addr: '127.0.0.33333', upstream: UP_8080, uri: '/index.html' }),
          status: 400,
          error: 'invalid configuration: property "remote_addr" validation failed: object matches none of the required',
        },
      ],
    },
    {
      src: 't/admin/routes3.t#5',
      name: 'all method',
      steps: [{ ...put({ methods: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'], upstream: UP_8080, uri: '/index.html' }), status: 201 }],
    },
    {
      src: 't/admin/routes3.t#6',
      name: 'patch route(new uri): create_time kept, update_time changed',
      steps: [
        { ...put(PATCHED), status: 201 },
        { sleep: 1100 },
        { admin: 'PATCH /apisix/admin/routes/1', body: { uri: '/patch_test' }, status: 200, json: { value: { uri: '/patch_test' }, key: '/apisix/routes/1' } },
      ],
    },
    {
      src: 't/admin/routes3.t#7',
      name: 'patch route(multi): a null node is removed',
      steps: [
        { ...put({ ...PATCHED, uri: '/patch_test' }), status: 201 },
        {
          admin: 'PATCH /apisix/admin/routes/1',
          body: { methods: ['GET'], upstream: { nodes: { '127.0.0.1:8080': null, '127.0.0.2:8080': 1 }, type: 'roundrobin' }, desc: 'new route' },
          status: 200,
          json: { value: { methods: ['GET'], uri: '/patch_test', desc: 'new route', upstream: { nodes: { $exact: { '127.0.0.2:8080': 1 } }, type: 'roundrobin' } }, key: '/apisix/routes/1' },
        },
      ],
    },
    {
      src: 't/admin/routes3.t#8',
      name: 'patch route(new methods)',
      steps: [
        { ...put(PATCHED), status: 201 },
        {
          admin: 'PATCH /apisix/admin/routes/1',
          body: { methods: ['GET', 'DELETE', 'PATCH', 'POST', 'PUT'] },
          status: 200,
          json: { value: { methods: { $exact: ['GET', 'DELETE', 'PATCH', 'POST', 'PUT'] } } },
        },
      ],
    },
    {
      src: 't/admin/routes3.t#9',
      name: 'patch route(minus methods)',
      steps: [
        { ...put({ ...PATCHED, methods: ['GET', 'DELETE', 'PATCH', 'POST', 'PUT'] }), status: 201 },
        { admin: 'PATCH /apisix/admin/routes/1', body: { methods: ['GET', 'POST'] }, status: 200, json: { value: { methods: { $exact: ['GET', 'POST'] } } } },
      ],
    },
    {
      src: 't/admin/routes3.t#10',
      name: 'patch route(new methods - sub path way)',
      steps: [
        { ...put(PATCHED), status: 201 },
        { admin: 'PATCH /apisix/admin/routes/1/methods', body: '["POST"]', status: 200, json: { value: { methods: { $exact: ['POST'] } }, key: '/apisix/routes/1' } },
      ],
    },
    {
      src: 't/admin/routes3.t#11',
      name: 'patch route(new uri - sub path way)',
      steps: [
        { ...put(PATCHED), status: 201 },
        { admin: 'PATCH /apisix/admin/routes/1/uri', body: '"/patch_uri_test"', status: 200, json: { value: { uri: '/patch_uri_test' }, key: '/apisix/routes/1' } },
      ],
    },
    {
      src: 't/admin/routes3.t#12',
      name: 'patch route(whole, trailing slash)',
      steps: [
        { ...put({ ...PATCHED, uri: '/patch_uri_test' }), status: 201 },
        { admin: 'PATCH /apisix/admin/routes/1/', body: R, status: 200, json: { value: R, key: '/apisix/routes/1' } },
      ],
    },
    {
      src: 't/admin/routes3.t#13',
      name: 'multiple hosts',
      steps: [{ ...put({ uri: '/index.html', hosts: ['foo.com', '*.bar.com'], upstream: UP_8080, desc: 'new route' }), status: 201, json: { value: { hosts: ['foo.com', '*.bar.com'] } } }],
    },
    {
      src: 't/admin/routes3.t#14',
      name: 'enable hosts and host together',
      steps: [{ ...put({ uri: '/index.html', host: 'xxx.com', hosts: ['foo.com', '*.bar.com'], upstream: UP_8080 }), status: 400, error: 'only one of host or hosts is allowed' }],
    },
    {
      src: 't/admin/routes3.t#15',
      name: 'multiple remote_addrs',
      steps: [
        {
          ...put({ uri: '/index.html', remote_addrs: ['127.0.0.1', '192.0.0.1/8', '::1', 'fe80::/32'], upstream: UP_8080 }),
          status: 201,
          json: { value: { remote_addrs: ['127.0.0.1', '192.0.0.1/8', '::1', 'fe80::/32'] } },
        },
      ],
    },
    {
      src: 't/admin/routes3.t#16',
      name: 'multiple vars',
      steps: [{ ...put({ uri: '/index.html', vars: [['arg_name', '==', 'json'], ['arg_age', '>', 18]], upstream: UP_8080 }), status: 201, json: { value: { vars: [['arg_name', '==', 'json'], ['arg_age', '>', 18]] } } }],
    },
    {
      src: 't/admin/routes3.t#17',
      name: 'filter function',
      deliberate: FILTER_FUNC,
      steps: [{ ...put({ uri: '/index.html', filter_func: "function(vars) return vars.arg_name == 'json' end", upstream: UP_8080 }), status: 201 }],
    },
    {
      src: 't/admin/routes3.t#18',
      name: 'filter function (invalid)',
      deliberate: FILTER_FUNC,
      steps: [
        {
          ...put({ uri: '/index.html', filter_func: 'function(vars) ', upstream: UP_8080 }),
          status: 400,
          error: `failed to load 'filter_func' string: [string "return function(vars) "]:1: 'end' expected near '<eof>'`,
        },
      ],
    },
    { src: 't/admin/routes3.t#19', name: 'Support for multiple URIs', steps: [{ ...put({ uris: ['/index.html', '/index2.html'], upstream: UP_8080 }), status: 201 }] },
    { src: 't/admin/routes3.t#20', name: 'set route(parameters with boolean values: enable_websocket)', steps: [{ ...put({ uri: '/index.html', enable_websocket: true, upstream: UP_8080 }), status: 201 }] },
    {
      src: 't/admin/routes3.t#21',
      name: 'patch route(modify the boolean value of parameters to false)',
      steps: [
        { ...put({ uri: '/index.html', enable_websocket: true, upstream: UP_8080 }), status: 201 },
        { admin: 'PATCH /apisix/admin/routes/1/enable_websocket', body: 'false', status: 200, json: { value: { enable_websocket: false }, key: '/apisix/routes/1' } },
      ],
    },
  ],
} satisfies CaseFile;
