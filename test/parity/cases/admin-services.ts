/** apache/apisix t/admin/services.t and services2.t — service CRUD, validation, PATCH, stored data. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const put = (body: unknown, path = '/apisix/admin/services/1') => ({ admin: `PUT ${path}`, body });
const S = { upstream: UP_8080, desc: 'new service' };
const LC = { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } };
const chash = (extra: Record<string, unknown>) => ({ upstream: { nodes: { '127.0.0.1:8080': 1 }, type: 'chash', ...extra }, desc: 'new service' });
const LABELS = { build: '16', env: 'production', version: 'v2' };
const up = (nodes: Record<string, number>) => ({ nodes, type: 'roundrobin' });

export default {
  area: 'admin/services',
  cases: [
    { src: 't/admin/services.t#1', name: 'set service(id: 1)', steps: [{ ...put(S), status: 201, json: { value: { ...S, create_time: '$number', update_time: '$number' }, key: '/apisix/services/1' } }] },
    { src: 't/admin/services.t#2', name: 'get service(id: 1)', steps: [{ ...put(S), status: 201 }, { admin: 'GET /apisix/admin/services/1', status: 200, json: { value: S, key: '/apisix/services/1' } }] },
    { src: 't/admin/services.t#3', name: 'delete service(id: 1)', steps: [{ ...put(S), status: 201 }, { admin: 'DELETE /apisix/admin/services/1', status: 200 }] },
    { src: 't/admin/services.t#4', name: 'delete service(id: not_found)', steps: [{ admin: 'DELETE /apisix/admin/services/not_found', status: 404 }] },
    {
      src: 't/admin/services.t#5',
      name: 'post service + delete',
      steps: [
        { admin: 'POST /apisix/admin/services', body: { upstream: UP_8080 }, status: 201, json: { value: { upstream: UP_8080, create_time: '$number', update_time: '$number' } }, saveId: 'id' },
        { admin: 'DELETE /apisix/admin/services/{id}', status: 200 },
      ],
    },
    { src: 't/admin/services.t#6', name: 'uri + upstream', steps: [{ ...put({ upstream: UP_8080 }), status: 201, json: { value: { upstream: UP_8080 } } }] },
    { src: 't/admin/services.t#7', name: 'uri + plugins', steps: [{ ...put({ plugins: LC }), status: 201, json: { value: { plugins: LC } } }] },
    { src: 't/admin/services.t#8', name: 'invalid service id', steps: [{ ...put({ plugins: LC }, '/apisix/admin/services/invalid_id$'), status: 400 }] },
    { src: 't/admin/services.t#9', name: 'invalid id', steps: [{ ...put({ id: 3, plugins: {} }), status: 400, error: 'wrong service id' }] },
    { src: 't/admin/services.t#10', name: 'id in the rule', steps: [{ ...put({ id: '1', plugins: {} }, '/apisix/admin/services'), status: 201, json: { value: { plugins: {} }, key: '/apisix/services/1' } }] },
    {
      src: 't/admin/services.t#11',
      name: 'integer id less than 1',
      steps: [{ ...put({ id: -100, plugins: {} }, '/apisix/admin/services'), status: 400, error: 'invalid configuration: property "id" validation failed: object matches none of the required' }],
    },
    {
      src: 't/admin/services.t#12',
      name: 'invalid service id: string value',
      steps: [{ ...put({ id: 'invalid_id$', plugins: {} }, '/apisix/admin/services'), status: 400, error: 'invalid configuration: property "id" validation failed: object matches none of the required' }],
    },
    {
      src: 't/admin/services.t#13',
      name: 'invalid upstream_id',
      steps: [{ ...put({ id: 1, upstream_id: 'invalid$' }, '/apisix/admin/services'), status: 400, error: 'invalid configuration: property "upstream_id" validation failed: object matches none of the required' }],
    },
    {
      src: 't/admin/services.t#14',
      name: 'not exist upstream_id',
      steps: [{ ...put({ id: 1, upstream_id: '9999999999' }, '/apisix/admin/services'), status: 400, error: 'failed to fetch upstream info by upstream id [9999999999], response code: 404' }],
    },
    { src: 't/admin/services.t#15', name: 'wrong service id (POST /services/1)', steps: [{ admin: 'POST /apisix/admin/services/1', body: { plugins: {} }, status: 400, error: 'wrong service id, do not need it' }] },
    { src: 't/admin/services.t#16', name: 'wrong service id (POST with an id)', steps: [{ admin: 'POST /apisix/admin/services', body: { id: 1, plugins: {} }, status: 400, error: 'wrong service id, do not need it' }] },
    {
      src: 't/admin/services.t#17',
      name: 'patch service(whole)',
      steps: [
        { ...put(S), status: 201 },
        { sleep: 1100 },
        { admin: 'PATCH /apisix/admin/services/1', body: { upstream: UP_8080, desc: 'new 20 service' }, status: 200, json: { value: { upstream: UP_8080, desc: 'new 20 service' }, key: '/apisix/services/1' } },
      ],
    },
    {
      src: 't/admin/services.t#18',
      name: 'patch service(new desc)',
      steps: [{ ...put(S), status: 201 }, { admin: 'PATCH /apisix/admin/services/1', body: { desc: 'new 19 service' }, status: 200, json: { value: { upstream: UP_8080, desc: 'new 19 service' } } }],
    },
    {
      src: 't/admin/services.t#19',
      name: 'patch service(new nodes)',
      steps: [
        { ...put(S), status: 201 },
        {
          admin: 'PATCH /apisix/admin/services/1',
          body: { upstream: up({ '127.0.0.1:8081': 3, '127.0.0.1:8082': 4 }) },
          status: 200,
          json: { value: { upstream: up({ '127.0.0.1:8080': 1, '127.0.0.1:8081': 3, '127.0.0.1:8082': 4 }) } },
        },
      ],
    },
    {
      src: 't/admin/services.t#20',
      name: 'patch service(whole - sub path)',
      steps: [{ ...put(S), status: 201 }, { admin: 'PATCH /apisix/admin/services/1/', body: { upstream: UP_8080, desc: 'new 22 service' }, status: 200, json: { value: { desc: 'new 22 service' } } }],
    },
    {
      src: 't/admin/services.t#21',
      name: 'patch service(new desc - sub path)',
      steps: [{ ...put(S), status: 201 }, { admin: 'PATCH /apisix/admin/services/1/desc', body: '"new 23 service"', status: 200, json: { value: { upstream: UP_8080, desc: 'new 23 service' } } }],
    },
    {
      src: 't/admin/services.t#22',
      name: 'patch service(new nodes - sub path)',
      steps: [
        { ...put(S), status: 201 },
        {
          admin: 'PATCH /apisix/admin/services/1/upstream',
          body: up({ '127.0.0.2:8081': 3, '127.0.0.3:8082': 4 }),
          status: 200,
          json: { value: { upstream: { nodes: { $exact: { '127.0.0.2:8081': 3, '127.0.0.3:8082': 4 } } } } },
        },
      ],
    },
    { src: 't/admin/services.t#23', name: 'upstream(type:chash, default hash_on: vars, missing key)', steps: [{ ...put(chash({})), status: 400, error: 'missing key' }] },
    { src: 't/admin/services.t#24', name: 'upstream(type:chash, hash_on: header, missing key)', steps: [{ ...put(chash({ hash_on: 'header' })), status: 400, error: 'missing key' }] },
    { src: 't/admin/services.t#25', name: 'upstream(type:chash, hash_on: cookie, missing key)', steps: [{ ...put(chash({ hash_on: 'cookie' })), status: 400, error: 'missing key' }] },
    { src: 't/admin/services.t#26', name: 'upstream(type:chash, hash_on: consumer, missing key is ok)', steps: [{ ...put(chash({ hash_on: 'consumer' })), status: 201 }] },
    {
      src: 't/admin/services.t#27',
      name: 'set service(id: 1 + test service name)',
      steps: [{ ...put({ upstream: UP_8080, name: 'test service name' }), status: 201, json: { value: { name: 'test service name' }, key: '/apisix/services/1' } }],
    },
    { src: 't/admin/services.t#28', name: 'invalid string id', steps: [{ ...put({ upstream: UP_8080 }, '/apisix/admin/services/*invalid'), status: 400 }] },
    { src: 't/admin/services.t#29', name: 'set empty service (allow empty `service` object)', steps: [{ ...put('{}'), status: 201, json: { value: { id: '1' } } }] },
    {
      src: 't/admin/services.t#30',
      name: 'patch content to the empty service',
      steps: [
        { ...put('{}'), status: 201 },
        {
          admin: 'PATCH /apisix/admin/services/1',
          body: { desc: 'empty service', plugins: LC, upstream: { nodes: { '127.0.0.1:80': 1 }, type: 'roundrobin' } },
          status: 200,
          json: { value: { desc: 'empty service', plugins: LC, upstream: { type: 'roundrobin', nodes: { '127.0.0.1:80': 1 } }, id: '1' } },
        },
      ],
    },
    {
      src: 't/admin/services.t#31',
      name: 'set service(with labels)',
      steps: [{ ...put({ ...S, labels: LABELS }), status: 201, json: { value: { ...S, labels: LABELS }, key: '/apisix/services/1' } }],
    },
    {
      src: 't/admin/services.t#32',
      name: 'patch service(change labels)',
      steps: [
        { ...put({ ...S, labels: LABELS }), status: 201 },
        { admin: 'PATCH /apisix/admin/services/1', body: { labels: { build: '17' } }, status: 200, json: { value: { labels: { build: '17', env: 'production', version: 'v2' }, desc: 'new service' } } },
      ],
    },
    {
      src: 't/admin/services.t#33',
      name: 'invalid format of label value: set service',
      steps: [
        {
          ...put({ ...S, labels: { env: ['production', 'release'] } }),
          status: 400,
          error: 'invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table',
        },
      ],
    },
    { src: 't/admin/services.t#34', name: 'create service with create_time and update_time', steps: [{ ...put({ upstream: UP_8080, create_time: 1602883670, update_time: 1602893670 }), status: 400, errorLike: '^the property is forbidden:' }] },
    {
      src: 't/admin/services.t#35',
      name: 'create service and the built-in resource with create_time and update_time',
      steps: [{ ...put({ upstream: { ...UP_8080, create_time: 1602883670, update_time: 1602893670 } }), status: 400, errorLike: '^the property is forbidden:' }],
    },
    {
      src: 't/admin/services.t#36',
      name: "limit the length of service's name",
      steps: [{ ...put({ name: '1'.repeat(257) }), status: 400, error: 'invalid configuration: property "name" validation failed: string too long, expected at most 256, got 257' }],
    },
    { src: 't/admin/services.t#37', name: 'allow dot in the id', steps: [{ ...put(S, '/apisix/admin/services/a.b'), status: 201, json: { value: S, key: '/apisix/services/a.b' } }] },

    {
      src: 't/admin/services2.t#1',
      name: 'not unwanted data, POST',
      steps: [
        { admin: 'POST /apisix/admin/services', body: { upstream: UP_8080 }, status: 201, json: { value: { $exact: { upstream: UP_8080 }, $ignore: ['create_time', 'update_time', 'id'] } } },
      ],
    },
    {
      src: 't/admin/services2.t#2',
      name: 'not unwanted data, PUT',
      steps: [{ ...put({ upstream: UP_8080 }), status: 201, json: { key: '/apisix/services/1', value: { $exact: { id: '1', upstream: UP_8080 }, $ignore: ['create_time', 'update_time'] } } }],
    },
    {
      src: 't/admin/services2.t#3',
      name: 'not unwanted data, PATCH',
      steps: [
        { ...put({ upstream: UP_8080 }), status: 201 },
        {
          admin: 'PATCH /apisix/admin/services/1',
          body: { upstream: UP_8080 },
          status: 200,
          json: { key: '/apisix/services/1', value: { $exact: { id: '1', upstream: UP_8080 }, $ignore: ['create_time', 'update_time'] } },
        },
      ],
    },
    {
      src: 't/admin/services2.t#4',
      name: 'not unwanted data, GET',
      steps: [
        { ...put({ upstream: UP_8080 }), status: 201 },
        { admin: 'GET /apisix/admin/services/1', status: 200, json: { key: '/apisix/services/1', value: { $exact: { id: '1', upstream: UP_8080 }, $ignore: ['create_time', 'update_time'] } } },
      ],
    },
    {
      src: 't/admin/services2.t#5',
      name: 'not unwanted data, DELETE',
      steps: [{ ...put({ upstream: UP_8080 }), status: 201 }, { admin: 'DELETE /apisix/admin/services/1', status: 200, json: { $exact: { deleted: '1', key: '/apisix/services/1' } } }],
    },
    {
      src: 't/admin/services2.t#6-10',
      name: 'a service used by a route is not deleted until the route is',
      steps: [
        { ...put({ upstream: UP_8080 }), status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { service_id: 1, uri: '/index.html' }, status: 201 },
        { admin: 'DELETE /apisix/admin/services/1', status: 400, error: 'can not delete this service directly, route [1] is still using it now' },
        { admin: 'DELETE /apisix/admin/routes/1', status: 200 },
        { admin: 'DELETE /apisix/admin/services/1', status: 200 },
      ],
    },
  ],
} satisfies CaseFile;
