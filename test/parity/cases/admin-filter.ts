/** apache/apisix t/admin/filter.t — list paging and filters. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';

const UP = { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' };
const eleven = (kind: 'routes' | 'services', body: (i: number) => Record<string, unknown>): Step[] =>
  Array.from({ length: 11 }, (_, k) => ({ admin: `PUT /apisix/admin/${kind}/${k + 1}`, body: body(k + 1), status: 201 }));
const routes = eleven('routes', (i) => ({ upstream: UP, uri: `/hello${i}` }));
const names = (kind: 'routes' | 'services') => eleven(kind, (i) => ({ upstream: UP, name: String(i), ...(kind === 'routes' ? { uri: String(i) } : {}) }));
const ONE_TEN_ELEVEN = { $len: 3 };
const URI_SLASH = 'a route uri that does not start with "/" can never match a request: Tollgate refuses it on write';
const withRefs = (both: boolean): Step[] => [
  { admin: 'PUT /apisix/admin/services/1', body: { upstream: UP }, status: 201 },
  { admin: 'PUT /apisix/admin/upstreams/1', body: UP, status: 201 },
  ...Array.from({ length: 11 }, (_, k): Step => {
    const i = k + 1;
    const route = i % 2 === 0 ? { uri: `/hello${i}`, service_id: '1' } : { uri: `/hello${i}`, upstream_id: '1', ...(both ? { service_id: '1' } : {}) };
    return { admin: `PUT /apisix/admin/routes/${i}`, body: route, status: 201 };
  }),
];

export default {
  area: 'admin/filter',
  cases: [
    { src: 't/admin/filter.t#1', name: 'bad page_size (page_size must be between 10 and 500)', steps: [{ admin: 'GET /apisix/admin/routes/?page=1&page_size=2', status: 400, plainError: 'page_size must be between 10 and 500' }] },
    { src: 't/admin/filter.t#2', name: 'ignore bad page and would use default value 1', steps: [...routes, { admin: 'GET /apisix/admin/routes/?page=-1&page_size=10', status: 200, json: { list: { $len: 10 } } }] },
    {
      src: 't/admin/filter.t#3',
      name: 'sort by createdIndex',
      note: 'ids 1..11 sort by creation, not by id text ("10" < "2")',
      steps: [
        ...routes,
        { admin: 'GET /apisix/admin/routes/?page=1&page_size=10', status: 200, json: { list: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'].map((id) => ({ value: { id } })) } },
      ],
    },
    {
      src: 't/admin/filter.t#4',
      name: 'routes pagination',
      steps: [
        ...routes,
        { admin: 'GET /apisix/admin/routes/?page=1&page_size=10', status: 200, json: { list: { $len: 10 } } },
        { admin: 'GET /apisix/admin/routes/?page=2&page_size=10', status: 200, json: { list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/routes/?page=3&page_size=10', status: 200, json: { list: { $len: 0 } } },
      ],
    },
    {
      src: 't/admin/filter.t#5',
      name: 'services pagination',
      steps: [
        ...eleven('services', () => ({ upstream: UP })),
        { admin: 'GET /apisix/admin/services/?page=1&page_size=10', status: 200, json: { list: { $len: 10 } } },
        { admin: 'GET /apisix/admin/services/?page=2&page_size=10', status: 200, json: { list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/services/?page=3&page_size=10', status: 200, json: { list: { $len: 0 } } },
      ],
    },
    {
      src: 't/admin/filter.t#6',
      name: 'only search name or labels',
      steps: [
        ...eleven('services', (i) => ({ upstream: UP, name: String(i), labels: { [i]: String(i) } })),
        { admin: 'GET /apisix/admin/services/?name=1', status: 200, json: { list: ONE_TEN_ELEVEN } },
        { admin: 'GET /apisix/admin/services/?label=1', status: 200, json: { list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/services/?label=1', status: 200, json: { list: [{ value: { id: '1' } }] } },
      ],
    },
    { src: 't/admin/filter.t#7', name: 'services filter', steps: [...names('services'), { admin: 'GET /apisix/admin/services/?name=1', status: 200, json: { list: ONE_TEN_ELEVEN } }] },
    { src: 't/admin/filter.t#8', name: 'routes filter (routes whose uri is "1".."11")', deliberate: URI_SLASH, steps: [...names('routes'), { admin: 'GET /apisix/admin/routes/?name=1', status: 200, json: { list: ONE_TEN_ELEVEN } }] },
    { src: 't/admin/filter.t#9', name: 'filter with pagination', steps: [...names('services'), { admin: 'GET /apisix/admin/services/?name=1&page=1&page_size=10', status: 200, json: { list: ONE_TEN_ELEVEN } }] },
    { src: 't/admin/filter.t#10', name: 'routes filter with uri', deliberate: URI_SLASH, steps: [...names('routes'), { admin: 'GET /apisix/admin/routes/?uri=1', status: 200, json: { list: ONE_TEN_ELEVEN } }] },
    {
      src: 't/admin/filter.t#11',
      name: 'match labels (keys only)',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP, uri: '/hello', labels: { env: 'production' } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { upstream: UP, uri: '/hello2', labels: { env2: 'production' } }, status: 201 },
        { admin: 'GET /apisix/admin/routes/?label=env', status: 200, json: { list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/routes/?label=env', status: 200, json: { list: [{ value: { id: '1' } }] } },
        { admin: 'GET /apisix/admin/routes/?label=production', status: 200, json: { list: { $len: 0 } } },
      ],
    },
    {
      src: 't/admin/filter.t#12',
      name: 'match uris',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP, uris: ['/hello', '/world'] }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { upstream: UP, uris: ['/foo', '/bar'] }, status: 201 },
        { admin: 'GET /apisix/admin/routes/?uri=world', status: 200, json: { list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/routes/?uri=world', status: 200, json: { list: [{ value: { id: '1' } }] } },
      ],
    },
    {
      src: 't/admin/filter.t#13',
      name: 'match uris & labels',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP, uris: ['/hello', '/world'], labels: { env: 'production' } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { upstream: UP, uris: ['/hello', '/world'], labels: { build: '16' } }, status: 201 },
        { admin: 'GET /apisix/admin/routes/?uri=world&label=env', status: 200, json: { list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/routes/?uri=world&label=env', status: 200, json: { list: [{ value: { id: '1' } }] } },
      ],
    },
    {
      src: 't/admin/filter.t#14',
      name: 'match uri & labels',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP, uri: '/hello', labels: { env: 'production' } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { upstream: UP, uri: '/hello', labels: { env2: 'production' } }, status: 201 },
        { admin: 'GET /apisix/admin/routes/?uri=hello&label=env', status: 200, json: { list: { $len: 1 } } },
      ],
    },
    {
      src: 't/admin/filter.t#15',
      name: 'filtered data total (an empty label matches nothing)',
      steps: [
        ...routes,
        { admin: 'GET /apisix/admin/routes', status: 200, json: { total: 11, list: { $len: 11 } } },
        { admin: 'GET /apisix/admin/routes/?label=', status: 200, json: { total: 0, list: { $len: 0 } } },
      ],
    },
    {
      src: 't/admin/filter.t#16',
      name: 'pagination data total',
      steps: [
        ...routes,
        { admin: 'GET /apisix/admin/routes?page=1&page_size=10', status: 200, json: { total: 11, list: { $len: 10 } } },
        { admin: 'GET /apisix/admin/routes?page=10&page_size=10', status: 200, json: { total: 11, list: { $len: 0 } } },
      ],
    },
    {
      src: 't/admin/filter.t#17',
      name: 'filter by route service_id/upstream_id',
      steps: [
        ...withRefs(false),
        { admin: 'GET /apisix/admin/routes?filter=service_id=1', status: 200, json: { list: { $len: 5 } } },
        // APISIX's test checks every item has service_id 1 (and an even id); items come in key order ("10" first).
        { admin: 'GET /apisix/admin/routes?filter=service_id=1', status: 200, json: { list: Array.from({ length: 5 }, () => ({ value: { service_id: '1' } })) } },
        { admin: 'GET /apisix/admin/routes?filter=upstream_id=1', status: 200, json: { list: { $len: 6 } } },
      ],
    },
    {
      src: 't/admin/filter.t#19',
      name: 'filter by route (both service_id/upstream_id)',
      steps: [
        ...withRefs(true),
        { admin: 'GET /apisix/admin/routes?filter=service_id%3D1', status: 200, json: { list: { $len: 11 } } },
        { admin: 'GET /apisix/admin/routes?filter=service_id%3D1%26upstream_id%3D1', status: 200, json: { list: { $len: 6 } } },
      ],
    },
  ],
} satisfies CaseFile;
