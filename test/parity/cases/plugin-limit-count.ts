/** apache/apisix t/plugin/limit-count.t and limit-count2.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route, UP_1980 } from './common.js';

const lc = (conf: Record<string, unknown>, extra: Record<string, unknown> = { methods: ['GET'] }, uri = '/hello', id = '1'): Step => ({
  admin: `PUT /apisix/admin/routes/${id}`,
  body: route(uri, { 'limit-count': conf }, extra),
  status: 201,
});
const BASE = { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' };
const hello = (status: number[], headers?: Record<string, string>): Step => ({ req: 'GET /hello', repeat: status.length, status, ...(headers ? { headers } : {}) });
const ERR_ONE_OF = 'failed to check the configuration of plugin limit-count err: value should match only one schema, but matches none';
const ERR_COUNT = 'failed to check the configuration of plugin limit-count err: property "count" validation failed: value should match only one schema, but matches none';
const bad = (admin: string, conf: Record<string, unknown>, error: string, uri = true): Step => ({ admin, body: { plugins: { 'limit-count': conf }, ...(uri ? { uri: '/hello', upstream: UP_1980 } : {}) }, status: 400, error });
const alternate = (status: number[]): Step[] => status.map((s, i) => ({ req: i % 2 === 0 ? 'GET /hello' : 'GET /hello_chunked', status: s }));

export default {
  area: 'plugin/limit-count',
  cases: [
    { src: 't/plugin/limit-count.t#1', name: 'sanity', steps: [lc(BASE)] },
    { src: 't/plugin/limit-count.t#2', name: 'set key empty', steps: [lc({ count: 2, time_window: 60, rejected_code: 503 })] },
    { src: 't/plugin/limit-count.t#3,4', name: 'up the limit', steps: [lc(BASE), hello([200, 200, 503, 503])] },
    {
      src: 't/plugin/limit-count.t#5',
      name: 'up the limit (other uris are 404, the limit holds)',
      steps: [lc(BASE), hello([200, 200]), { req: 'GET /hello1', status: 404 }, { req: 'GET /hello', status: 503 }, { req: 'GET /hello2', status: 404 }, hello([503, 503])],
    },
    { src: 't/plugin/limit-count.t#6,7', name: 'up the limit (count 3)', steps: [lc({ ...BASE, count: 3 }), hello([200, 200, 200, 503])] },
    { src: 't/plugin/limit-count.t#8', name: 'invalid route: missing count', steps: [bad('PUT /apisix/admin/routes/1', { time_window: 60, rejected_code: 503 }, ERR_ONE_OF)] },
    { src: 't/plugin/limit-count.t#9', name: 'invalid route: wrong count', steps: [bad('PUT /apisix/admin/routes/1', { ...BASE, count: -100 }, ERR_COUNT)] },
    { src: 't/plugin/limit-count.t#10', name: 'invalid route: wrong count + POST method', steps: [bad('POST /apisix/admin/routes', { ...BASE, count: -100 }, ERR_COUNT)] },
    { src: 't/plugin/limit-count.t#11', name: 'invalid service: missing count', steps: [bad('PUT /apisix/admin/services/1', { time_window: 60, rejected_code: 503 }, ERR_ONE_OF, false)] },
    { src: 't/plugin/limit-count.t#12', name: 'invalid service: wrong count', steps: [bad('PUT /apisix/admin/services/1', { ...BASE, count: -100 }, ERR_COUNT, false)] },
    { src: 't/plugin/limit-count.t#13', name: 'invalid service: wrong count + POST method', steps: [bad('POST /apisix/admin/services', { ...BASE, count: -100 }, ERR_COUNT, false)] },
    {
      src: 't/plugin/limit-count.t#14,15',
      name: 'set route without id in post body, up the limit',
      steps: [{ admin: 'POST /apisix/admin/routes', body: route('/hello', { 'limit-count': { ...BASE, time_window: 61 } }), status: 201 }, hello([200, 200, 503, 503])],
    },
    { src: 't/plugin/limit-count.t#16,17', name: 'disable plugin', steps: [lc(BASE), hello([200, 200]), { admin: 'PUT /apisix/admin/routes/1', body: route('/hello'), status: 200 }, hello([200, 200, 200, 200])] },
    { src: 't/plugin/limit-count.t#18,19', name: 'set route(key: server_addr)', steps: [lc({ ...BASE, key: 'server_addr' }), hello([200, 200, 503, 503])] },
    {
      src: 't/plugin/limit-count.t#20,21',
      name: 'when the count is changed, check the limit is correct',
      steps: [lc({ count: 2, time_window: 80, key: 'remote_addr' }), hello([200, 200, 503]), { ...lc({ count: 1, time_window: 80, key: 'remote_addr' }), status: 200 }, hello([200, 503])],
    },
    {
      src: 't/plugin/limit-count.t#22',
      name: 'when the count is changed, check the limit is correct (from 1 to 2)',
      steps: [
        lc({ count: 1, time_window: 82, key: 'remote_addr' }),
        hello([200, 503]),
        { ...lc({ count: 2, time_window: 82, key: 'remote_addr' }), status: 200 },
        hello([200, 200, 503]),
      ],
    },
    {
      src: 't/plugin/limit-count.t#23',
      name: 'when the count is not changed, the counter is kept (from 2 to 2)',
      steps: [lc({ count: 2, time_window: 83, key: 'remote_addr' }), hello([200, 200, 503]), { ...lc({ count: 2, time_window: 83, key: 'remote_addr' }), status: 200 }, hello([503, 503, 503])],
    },
    {
      src: 't/plugin/limit-count.t#24-26',
      name: 'limit by consumer_name',
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'consumer_jack', plugins: { 'key-auth': { key: 'auth-jack' } } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'key-auth': {}, 'limit-count': { ...BASE, key: 'consumer_name' } }), status: 201 },
        hello([200, 200, 503, 503], { apikey: 'auth-jack' }),
      ],
    },
    {
      src: 't/plugin/limit-count.t#27-29',
      name: 'limit-count on a service, key service_id',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { plugins: { 'limit-count': { ...BASE, key: 'service_id' } }, upstream: UP_1980 }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], uri: '/hello', service_id: 1 }, status: 201 },
        hello([200, 200, 503, 503]),
      ],
    },
    {
      src: 't/plugin/limit-count.t#30-32',
      name: 'limit-count on the route of an empty service, key service_id',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: {}, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], plugins: { 'limit-count': { ...BASE, time_window: 91, key: 'service_id' } }, upstream: UP_1980, uri: '/hello', service_id: 1 }, status: 201 },
        hello([200, 200, 503, 503]),
      ],
    },
    { src: 't/plugin/limit-count.t#35,36', name: "use 'remote_addr' as default key", steps: [lc({ count: 2, time_window: 95, rejected_code: 503 }), hello([200, 200, 503, 503])] },
    {
      src: 't/plugin/limit-count.t#41',
      name: 'check_schema failed (the `count` attribute is equal to 0)',
      steps: [{ ...bad('PUT /apisix/admin/routes/1', { ...BASE, count: 0 }, ''), error: undefined, errorLike: 'property "count" validation failed: value should match only one schema, but matches none' }],
    },
    {
      src: 't/plugin/limit-count.t#42',
      name: 'check_schema failed (the `time_window` attribute is equal to 0)',
      steps: [{ ...bad('PUT /apisix/admin/routes/1', { ...BASE, time_window: 0 }, ''), error: undefined, errorLike: 'property "time_window" validation failed: value should match only one schema, but matches none' }],
    },

    {
      src: 't/plugin/limit-count2.t#1',
      name: 'invalid route: wrong rejected_msg type',
      steps: [bad('PUT /apisix/admin/routes/1', { count: 1, time_window: 600, rejected_code: 503, rejected_msg: true, key: 'remote_addr' }, 'failed to check the configuration of plugin limit-count err: property "rejected_msg" validation failed: wrong type: expected string, got boolean')],
    },
    {
      src: 't/plugin/limit-count2.t#2',
      name: 'invalid route: wrong rejected_msg length',
      steps: [bad('PUT /apisix/admin/routes/1', { count: 1, time_window: 600, rejected_code: 503, rejected_msg: '', key: 'remote_addr' }, 'failed to check the configuration of plugin limit-count err: property "rejected_msg" validation failed: string too short, expected at least 1, got 0')],
    },
    {
      src: 't/plugin/limit-count2.t#3-5',
      name: 'rejected_msg',
      steps: [
        lc({ count: 1, time_window: 600, rejected_code: 503, rejected_msg: 'Requests are too frequent, please try again later.', key: 'remote_addr' }, {}),
        { req: 'GET /hello', status: 200 },
        { req: 'GET /hello', status: 503, error: 'Requests are too frequent, please try again later.' },
      ],
    },
    { src: 't/plugin/limit-count2.t#6,7', name: 'exceed the burst when key_type is var', steps: [lc({ ...BASE, key: 'http_a', key_type: 'var' }, {}), hello([200, 200, 503, 503], { a: '1' })] },
    { src: 't/plugin/limit-count2.t#8', name: 'bypass empty key when key_type is var (client IP instead)', steps: [lc({ ...BASE, key: 'http_a', key_type: 'var' }, {}), hello([200, 200, 503, 503])] },
    {
      src: 't/plugin/limit-count2.t#9-11',
      name: 'key_type var_combination',
      steps: [lc({ ...BASE, key: '$http_a $http_b', key_type: 'var_combination' }, {}), hello([200, 200, 503, 503], { a: '1' }), { req: 'GET /hello', headers: { a: '1' }, status: 503 }, { req: 'GET /hello', headers: { a: '2' }, status: 200 }],
    },
    { src: 't/plugin/limit-count2.t#12', name: 'var_combination: request when key is missing', steps: [lc({ ...BASE, key: '$http_a $http_b', key_type: 'var_combination' }, {}), hello([200, 200, 503, 503])] },
    { src: 't/plugin/limit-count2.t#13,14', name: 'var_combination: request when key is invalid', steps: [lc({ ...BASE, key: 'abcdefgh', key_type: 'var_combination' }, {}), hello([200, 200, 503, 503])] },
    {
      src: 't/plugin/limit-count2.t#15,16',
      name: 'limit count in group: hit multiple paths',
      steps: [
        lc({ count: 2, time_window: 60, rejected_code: 503, group: 'services_1' }, {}, '/hello', '1'),
        lc({ count: 2, time_window: 60, rejected_code: 503, group: 'services_1' }, {}, '/hello_chunked', '2'),
        ...alternate([200, 200, 503, 503]),
      ],
    },
    {
      src: 't/plugin/limit-count2.t#17,18',
      name: 'limit count in group, configuration is from services',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, group: 'afafafhao' } }, upstream: UP_1980 }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { service_id: '1', uri: '/hello' }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { service_id: '1', uri: '/hello_chunked' }, status: 201 },
        ...alternate([200, 200, 503, 503]),
      ],
    },
    {
      src: 't/plugin/limit-count2.t#19',
      name: 'configuration from the same group should be the same',
      steps: [
        lc({ count: 2, time_window: 60, rejected_code: 503, group: 'afafafhao' }, {}, '/hello', '1'),
        { ...lc({ count: 1, time_window: 60, rejected_code: 503, group: 'afafafhao' }, {}, '/hello_chunked', '2'), status: 400, error: 'failed to check the configuration of plugin limit-count err: group conf mismatched' },
      ],
    },
    {
      src: 't/plugin/limit-count2.t#20,21',
      name: 'group with constant key',
      steps: [
        lc({ count: 2, time_window: 60, rejected_code: 503, key_type: 'constant', group: 'afafafhao2' }, {}, '/hello', '1'),
        lc({ count: 2, time_window: 60, rejected_code: 503, key_type: 'constant', group: 'afafafhao2' }, {}, '/hello_chunked', '2'),
        ...alternate([200, 200, 503, 503]),
      ],
    },
  ],
} satisfies CaseFile;
