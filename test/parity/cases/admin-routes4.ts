/** apache/apisix t/admin/routes4.t — ttl, priority, chash keys, ids, body limits, labels, timestamps. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const put = (body: Record<string, unknown>, path = '/apisix/admin/routes/1') => ({ admin: `PUT ${path}`, body });
const B = { upstream: UP_8080, uri: '/index.html' };
const chash = (extra: Record<string, unknown>) => ({ methods: ['GET'], upstream: { nodes: { '127.0.0.1:8080': 1 }, type: 'chash', ...extra }, desc: 'new route', uri: '/index.html' });
const LABELS = { build: '16', env: 'production', version: 'v2' };

export default {
  area: 'admin/routes',
  cases: [
    {
      src: 't/admin/routes4.t#1',
      name: 'set route with ttl',
      steps: [
        { ...put(B, '/apisix/admin/routes/1?ttl=1'), status: 201 },
        { admin: 'GET /apisix/admin/routes/1?ttl=1', status: 200, json: { value: { uri: '/index.html' }, key: '/apisix/routes/1' } },
        { sleep: 2500 },
        { admin: 'GET /apisix/admin/routes/1', status: 404, message: 'Key not found' },
      ],
    },
    {
      src: 't/admin/routes4.t#2',
      name: 'post route with ttl',
      steps: [
        { admin: 'POST /apisix/admin/routes?ttl=1', body: { methods: ['GET'], ...B }, status: 201, saveId: 'id' },
        { sleep: 2500 },
        { admin: 'GET /apisix/admin/routes/{id}', status: 404, message: 'Key not found' },
      ],
    },
    { src: 't/admin/routes4.t#3', name: 'invalid argument: ttl', steps: [{ ...put(B, '/apisix/admin/routes?ttl=xxx'), status: 400, error: 'invalid argument ttl: should be a number' }] },
    { src: 't/admin/routes4.t#4', name: 'set route(id: 1, check priority)', steps: [{ ...put({ ...B, methods: ['GET'], priority: 0 }), status: 201, json: { value: { priority: 0 }, key: '/apisix/routes/1' } }] },
    { src: 't/admin/routes4.t#5', name: 'set route(id: 1 + priority: 1)', steps: [{ ...put({ ...B, methods: ['GET'], priority: 1 }), status: 201, json: { value: { priority: 1 }, key: '/apisix/routes/1' } }] },
    { src: 't/admin/routes4.t#6', name: 'upstream(type:chash, default hash_on: vars, missing key)', steps: [{ ...put(chash({})), status: 400, error: 'missing key' }] },
    { src: 't/admin/routes4.t#7', name: 'upstream(type:chash, hash_on: header, missing key)', steps: [{ ...put(chash({ hash_on: 'header' })), status: 400, error: 'missing key' }] },
    { src: 't/admin/routes4.t#8', name: 'upstream(type:chash, hash_on: cookie, missing key)', steps: [{ ...put(chash({ hash_on: 'cookie' })), status: 400, error: 'missing key' }] },
    { src: 't/admin/routes4.t#9', name: 'upstream(type:chash, hash_on: consumer, missing key is ok)', steps: [{ ...put(chash({ hash_on: 'consumer' })), status: 201 }] },
    { src: 't/admin/routes4.t#10', name: 'set route(id: 1 + name: test name)', steps: [{ ...put({ ...B, methods: ['GET'], name: 'test name' }), status: 201, json: { value: { name: 'test name' }, key: '/apisix/routes/1' } }] },
    {
      src: 't/admin/routes4.t#11,12',
      name: 'string id, and its delete',
      steps: [
        { ...put(B, '/apisix/admin/routes/a-b-c-ABC_0123'), status: 201 },
        { admin: 'DELETE /apisix/admin/routes/a-b-c-ABC_0123', status: 200 },
      ],
    },
    { src: 't/admin/routes4.t#13', name: 'invalid string id', steps: [{ ...put(B, '/apisix/admin/routes/*invalid'), status: 400 }] },
    {
      src: 't/admin/routes4.t#14',
      name: 'Verify Response Content-Type=application/json',
      steps: [{ admin: 'GET /apisix/admin/routes/1?ttl=1', status: 404, resHeaders: { 'content-type': { $re: '^application/json' } } }],
    },
    {
      src: 't/admin/routes4.t#15',
      name: 'set route with size 36k',
      steps: [{ ...put({ upstream: { nodes: { ['a'.repeat(1024 * 35)]: 1 }, type: 'roundrobin' }, uri: '/index.html' }), status: 201 }],
    },
    {
      src: 't/admin/routes4.t#16',
      name: 'route size more than 1.5 MiB',
      steps: [
        {
          ...put({ ...B, desc: 'a'.repeat(1024 * 1024 * 1.6) }),
          status: 400,
          error: 'invalid request body: request size 1678025 is greater than the maximum size 1572864 allowed',
        },
      ],
    },
    {
      src: 't/admin/routes4.t#17',
      name: 'uri + plugins + script failed',
      steps: [
        {
          ...put({
            plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } },
            script: 'local _M = {} \n function _M.access(api_ctx) \n ngx.log(ngx.INFO,"hit access phase") \n end \nreturn _M',
            uri: '/index.html',
          }),
          status: 400,
          error: "invalid configuration: value wasn't supposed to match schema",
        },
      ],
    },
    {
      src: 't/admin/routes4.t#18',
      name: 'invalid route: multi nodes with `node` mode to pass host',
      steps: [{ ...put({ methods: ['GET', 'GET'], upstream: { nodes: { 'apisix.com:8080': 1, 'test.com:8080': 1 }, pass_host: 'node' }, uri: '/index.html' }), status: 400 }],
    },
    {
      src: 't/admin/routes4.t#19',
      name: 'set route(with labels)',
      steps: [{ ...put({ ...B, methods: ['GET'], labels: LABELS }), status: 201, json: { value: { methods: ['GET'], uri: '/index.html', upstream: UP_8080, labels: LABELS }, key: '/apisix/routes/1' } }],
    },
    {
      src: 't/admin/routes4.t#20',
      name: 'patch route(change labels)',
      steps: [
        { ...put({ ...B, methods: ['GET'], labels: LABELS }), status: 201 },
        { admin: 'PATCH /apisix/admin/routes/1', body: { labels: { build: '17' } }, status: 200, json: { value: { labels: { env: 'production', version: 'v2', build: '17' } }, key: '/apisix/routes/1' } },
      ],
    },
    {
      src: 't/admin/routes4.t#21',
      name: 'invalid format of label value: set route',
      steps: [
        {
          ...put({ methods: ['GET'], uri: '/index.html', labels: { env: ['production', 'release'] } }),
          status: 400,
          error: 'invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table',
        },
      ],
    },
    {
      src: 't/admin/routes4.t#22',
      name: 'create route with create_time and update_time',
      steps: [{ ...put({ ...B, create_time: 1602883670, update_time: 1602893670 }), status: 400, errorLike: '^the property is forbidden:' }],
    },
  ],
} satisfies CaseFile;
