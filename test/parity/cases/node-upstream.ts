/** apache/apisix t/node: upstream.t, timeout-upstream.t, rr-balance.t, upstream-retries.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { UP_1980 } from './common.js';

const putUp = (body: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/upstreams/1', body, status });
const ROUTE_UP1 = (uri = '/hello'): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: { uri, upstream_id: '1' }, status: 201 });
const balance = (nodes: Record<string, number>, sortedBodies: string[]): Step[] => [
  { admin: 'PUT /apisix/admin/routes/1', body: { uri: '/server_port', upstream: { type: 'roundrobin', nodes } }, status: 201 },
  { req: 'GET /server_port', repeat: sortedBodies.length, status: 200, sortedBodies },
];
const times = (n: number, port: string) => Array.from({ length: n }, () => port);
const DEAD = { '127.0.0.1:1': 1, '127.0.0.2:1': 1, '127.0.0.3:1': 1, '127.0.0.4:1': 1 };
const SLOW = { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' };

export default {
  area: 'node/upstream',
  cases: [
    { src: 't/node/upstream.t#1', name: 'set upstream with invalid parameters (no nodes)', steps: [putUp({ type: 'roundrobin', desc: 'new upstream' }, 400)] },
    { src: 't/node/upstream.t#2-4', name: 'route to a stored upstream: /not_found', steps: [putUp({ ...UP_1980, desc: 'new upstream' }), ROUTE_UP1(), { req: 'GET /not_found', status: 404, error: '404 Route Not Found' }] },
    { src: 't/node/upstream.t#5', name: 'route to a stored upstream: hit', steps: [putUp({ ...UP_1980, desc: 'new upstream' }), ROUTE_UP1(), { req: 'GET /hello', status: 200, text: 'hello world\n' }] },
    {
      src: 't/node/upstream.t#6-9',
      name: 'delete an upstream in use, then the route, then the upstream twice',
      steps: [
        putUp(UP_1980),
        ROUTE_UP1(),
        { admin: 'DELETE /apisix/admin/upstreams/1', status: 400, error: 'can not delete this upstream, route [1] is still using it now' },
        { admin: 'DELETE /apisix/admin/routes/1', status: 200 },
        { admin: 'DELETE /apisix/admin/upstreams/1', status: 200 },
        { admin: 'DELETE /apisix/admin/upstreams/1', status: 404 },
      ],
    },
    {
      src: 't/node/upstream.t#10-12',
      name: "pass_host node: the node's address is the Host",
      note: 'APISIX uses a test.com node resolved by a mock; 127.0.0.1 stands in',
      steps: [putUp({ ...UP_1980, pass_host: 'node' }), ROUTE_UP1('/echo'), { req: 'GET /echo', status: 200, resHeaders: { host: '127.0.0.1:1980' } }],
    },
    { src: 't/node/upstream.t#13-15', name: 'pass_host rewrite: upstream_host is the Host', steps: [putUp({ ...UP_1980, pass_host: 'rewrite', upstream_host: 'test.com' }), ROUTE_UP1('/echo'), { req: 'GET /echo', status: 200, resHeaders: { host: 'test.com' } }] },
    {
      src: 't/node/timeout-upstream.t#1,2',
      name: 'upstream timeout: 504',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], upstream: { ...SLOW, timeout: { connect: 0.5, send: 0.5, read: 0.5 } }, uri: '/mysleep' }, status: 201 }, { req: 'GET /mysleep?seconds=1', status: 504 }],
    },
    {
      src: 't/node/timeout-upstream.t#3,4',
      name: "the route's timeout overrides the upstream's",
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], timeout: { connect: 0.5, send: 0.5, read: 0.5 }, upstream: { ...SLOW, timeout: { connect: 2, send: 2, read: 2 } }, uri: '/mysleep' }, status: 201 },
        { req: 'GET /mysleep?seconds=1', status: 504 },
      ],
    },
    {
      src: 't/node/timeout-upstream.t#5,6',
      name: 'a route inheriting hosts from its service times out',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { desc: 'test-service', hosts: ['foo.com'] }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], service_id: '1', upstream: { ...SLOW, timeout: { connect: 0.5, send: 0.5, read: 0.5 } }, uri: '/mysleep' }, status: 201 },
        { req: 'GET /mysleep?seconds=1', headers: { host: 'foo.com' }, status: 504 },
      ],
    },
    { src: 't/node/rr-balance.t#1,2', name: 'round robin over two nodes', steps: balance({ '127.0.0.1:1980': 1, '127.0.0.1:1981': 1 }, [...times(6, '1980'), ...times(6, '1981')]) },
    { src: 't/node/rr-balance.t#3,4', name: 'round robin over three nodes', steps: balance({ '127.0.0.1:1980': 1, '127.0.0.1:1981': 1, '127.0.0.1:1982': 1 }, [...times(4, '1980'), ...times(4, '1981'), ...times(4, '1982')]) },
    { src: 't/node/rr-balance.t#5,6', name: 'weighted round robin (3:2:1)', steps: balance({ '127.0.0.1:1980': 3, '127.0.0.1:1981': 2, '127.0.0.1:1982': 1 }, [...times(6, '1980'), ...times(4, '1981'), ...times(2, '1982')]) },
    { src: 't/node/rr-balance.t#7,8', name: 'a node of weight 0 gets nothing', steps: balance({ '127.0.0.1:1980': 3, '127.0.0.1:1981': 0, '127.0.0.1:1982': 1 }, [...times(9, '1980'), ...times(3, '1982')]) },
    {
      src: 't/node/upstream-retries.t#1-5',
      name: 'four dead nodes, default retries: 502',
      steps: [putUp({ nodes: DEAD, type: 'roundrobin' }), ROUTE_UP1(), { req: 'GET /not_found', status: 404 }, { req: 'GET /hello', status: 502 }, { req: 'GET /hello', status: 502 }],
    },
    { src: 't/node/upstream-retries.t#6,7', name: 'retries = 1: 502', steps: [putUp({ nodes: DEAD, type: 'roundrobin', retries: 1 }), ROUTE_UP1(), { req: 'GET /hello', status: 502 }] },
    { src: 't/node/upstream-retries.t#8,9', name: 'retries = 0: 502', steps: [putUp({ nodes: DEAD, type: 'roundrobin', retries: 0 }), ROUTE_UP1(), { req: 'GET /hello', status: 502 }] },
    {
      src: 't/node/upstream-retries.t#10,11',
      name: 'retries > number of nodes: 502',
      steps: [putUp({ nodes: { '127.0.0.1:1': 1, '127.0.0.2:1': 1 }, type: 'roundrobin', retries: 3 }), ROUTE_UP1(), { req: 'GET /hello', status: 502 }],
    },
  ],
} satisfies CaseFile;
