/** apache/apisix t/admin/routes.t — route CRUD and validation through the Admin API. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const R1 = { methods: ['GET'], upstream: UP_8080, desc: 'new route', uri: '/index.html' };

export default {
  area: 'admin/routes',
  cases: [
    {
      src: 't/admin/routes.t#1',
      name: 'set route(id: 1)',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', body: R1, status: 201, json: { value: R1, key: '/apisix/routes/1' } }],
    },
    {
      src: 't/admin/routes.t#2',
      name: 'get route(id: 1)',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: R1, status: 201 },
        { admin: 'GET /apisix/admin/routes/1', status: 200, json: { value: R1, key: '/apisix/routes/1' } },
      ],
    },
    {
      src: 't/admin/routes.t#3',
      name: 'delete route(id: 1)',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: R1, status: 201 },
        { admin: 'DELETE /apisix/admin/routes/1', status: 200 },
      ],
    },
    {
      src: 't/admin/routes.t#4',
      name: 'delete route(id: not_found)',
      steps: [{ admin: 'DELETE /apisix/admin/routes/not_found', status: 404 }],
    },
    {
      src: 't/admin/routes.t#5',
      name: 'post route + delete',
      steps: [
        {
          admin: 'POST /apisix/admin/routes',
          body: { methods: ['GET'], upstream: UP_8080, uri: '/index.html' },
          status: 201,
          json: { value: { methods: ['GET'], uri: '/index.html', upstream: UP_8080, create_time: '$number', update_time: '$number' } },
          saveId: 'id',
        },
        { admin: 'DELETE /apisix/admin/routes/{id}', status: 200 },
      ],
    },
    {
      src: 't/admin/routes.t#6',
      name: 'uri + upstream',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { upstream: UP_8080, uri: '/index.html' },
          status: 201,
          json: { value: { uri: '/index.html', upstream: UP_8080, create_time: '$number', update_time: '$number' } },
        },
      ],
    },
    {
      src: 't/admin/routes.t#7',
      name: 'uri + plugins',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } }, uri: '/index.html' },
          status: 201,
          json: { value: { uri: '/index.html', plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } } } },
        },
      ],
    },
    {
      src: 't/admin/routes.t#8',
      name: 'invalid route: duplicate method',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET', 'GET'], upstream: UP_8080, uri: '/index.html' }, status: 400, errorLike: '' }],
    },
    {
      src: 't/admin/routes.t#9',
      name: 'invalid method',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { methods: ['invalid_method'], uri: '/index.html' },
          status: 400,
          error: 'invalid configuration: property "methods" validation failed: failed to validate item 1: matches none of the enum values',
        },
      ],
    },
    {
      src: 't/admin/routes.t#10',
      name: 'invalid service id',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { service_id: 'invalid_id$', uri: '/index.html' },
          status: 400,
          error: 'invalid configuration: property "service_id" validation failed: object matches none of the required',
        },
      ],
    },
    {
      src: 't/admin/routes.t#11',
      name: 'service id: not exist',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { service_id: '99999999999999', uri: '/index.html' },
          status: 400,
          error: 'failed to fetch service info by service id [99999999999999], response code: 404',
        },
      ],
    },
    {
      src: 't/admin/routes.t#12',
      name: 'invalid id',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { id: 3, uri: '/index.html' }, status: 400, error: 'wrong route id' }],
    },
    {
      src: 't/admin/routes.t#13',
      name: 'id in the rule',
      steps: [{ admin: 'PUT /apisix/admin/routes', body: { id: '1', plugins: {}, uri: '/index.html' }, status: 201 }],
    },
    {
      src: 't/admin/routes.t#14',
      name: 'integer id less than 1',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes',
          body: { id: -100, uri: '/index.html' },
          status: 400,
          error: 'invalid configuration: property "id" validation failed: object matches none of the required',
        },
      ],
    },
    {
      src: 't/admin/routes.t#15',
      name: 'invalid upstream_id',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { upstream_id: 'invalid$', uri: '/index.html' },
          status: 400,
          error: 'invalid configuration: property "upstream_id" validation failed: object matches none of the required',
        },
      ],
    },
    {
      src: 't/admin/routes.t#16',
      name: 'not exist upstream_id',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { upstream_id: '99999999', uri: '/index.html' },
          status: 400,
          error: 'failed to fetch upstream info by upstream id [99999999], response code: 404',
        },
      ],
    },
    {
      src: 't/admin/routes.t#17',
      name: 'wrong route id, do not need it (POST with an id in the body)',
      steps: [{ admin: 'POST /apisix/admin/routes', body: { id: 1, plugins: {}, uri: '/index.html' }, status: 400, error: 'wrong route id, do not need it' }],
    },
    {
      src: 't/admin/routes.t#18',
      name: 'wrong route id, do not need it (POST /routes/1)',
      steps: [{ admin: 'POST /apisix/admin/routes/1', body: { plugins: {}, uri: '/index.html' }, status: 400, error: 'wrong route id, do not need it' }],
    },
    {
      src: 't/admin/routes.t#19',
      name: 'limit-count with `disable` option',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr', _meta: { disable: true } } }, uri: '/index.html' },
          status: 201,
        },
      ],
    },
    {
      src: 't/admin/routes.t#20',
      name: 'host: *.foo.com',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { host: '*.foo.com', upstream: UP_8080, uri: '/index.html' },
          status: 201,
          json: { value: { host: '*.foo.com', uri: '/index.html', upstream: UP_8080 }, key: '/apisix/routes/1' },
        },
      ],
    },
    {
      src: 't/admin/routes.t#21',
      name: 'invalid host: a.*.foo.com',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { host: 'a.*.foo.com', upstream: UP_8080, uri: '/index.html' },
          status: 400,
          errorLike: '^invalid configuration: property "host" validation failed: failed to match pattern ',
        },
      ],
    },
    {
      src: 't/admin/routes.t#22',
      name: 'invalid host: *.a.*.foo.com',
      steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { host: '*.a.*.foo.com', upstream: UP_8080, uri: '/index.html' },
          status: 400,
          errorLike: '^invalid configuration: property "host" validation failed: failed to match pattern ',
        },
      ],
    },
    {
      src: 't/admin/routes.t#23',
      name: 'list all routes',
      steps: [
        { admin: 'PUT /apisix/admin/routes/del_init_dir_1', body: { upstream: UP_8080, uri: '/index.html' }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/del_init_dir_2', body: { upstream: UP_8080, uri: '/index.html' }, status: 201 },
        { admin: 'GET /apisix/admin/routes', status: 200, like: 'del_init_dir_1.*del_init_dir_2' },
      ],
    },
  ],
} satisfies CaseFile;
