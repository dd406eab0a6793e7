/** apache/apisix t/router: radixtree-uri-sanity, -uri-priority, -method, -uri-keep-end-slash, -uri-multiple, -uri-with-parameter, -host-uri-priority. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { UP_1980 } from './common.js';

const up = (port: number) => ({ nodes: { [`127.0.0.1:${port}`]: 1 }, type: 'roundrobin' });
const put = (id: string, body: Record<string, unknown>, port = 1980): Step => ({ admin: `PUT /apisix/admin/routes/${id}`, body: { upstream: up(port), ...body }, status: 201 });
const MISS = (path: string, headers?: Record<string, string>): Step => ({ req: `GET ${path}`, ...(headers ? { headers } : {}), status: 404, error: '404 Route Not Found' });
const HELLO = (headers?: Record<string, string>): Step => ({ req: 'GET /hello', ...(headers ? { headers } : {}), status: 200, text: 'hello world\n' });
const port = (path: string, p: string, headers?: Record<string, string>): Step => ({ req: `GET ${path}`, ...(headers ? { headers } : {}), status: 200, text: p });
const HOST_ROUTE = put('1', { methods: ['GET'], host: 'foo.com', uri: '/hello' });
const PRIO = (a: number | undefined, b: number | undefined): Step[] => [
  put('1', { uri: '/server_port', host: 'test.com', ...(a === undefined ? {} : { priority: a }) }, 1981),
  put('2', { uri: '/server_port', host: 'test.com', ...(b === undefined ? {} : { priority: b }) }, 1980),
];
const PARAM = put('1', { uri: '/name/:name/bar' });
const MULTI = [put('1', { uri: '/server_port' }), put('2', { uri: '/server_port/*' }, 1981), put('3', { uri: '/server_port/hello' }, 1982)];

export default {
  area: 'router',
  cases: [
    { src: 't/router/radixtree-uri-sanity.t#1,2', name: 'host route: /not_found', steps: [HOST_ROUTE, MISS('/not_found')] },
    { src: 't/router/radixtree-uri-sanity.t#1,3', name: 'host route: no host', steps: [HOST_ROUTE, MISS('/hello')] },
    { src: 't/router/radixtree-uri-sanity.t#1,4', name: 'host route: other host', steps: [HOST_ROUTE, MISS('/hello', { host: 'not_found.com' })] },
    { src: 't/router/radixtree-uri-sanity.t#1,5', name: 'host route: hit', steps: [HOST_ROUTE, HELLO({ host: 'foo.com' })] },
    { src: 't/router/radixtree-uri-sanity.t#6-8', name: 'a route without host matches any host', steps: [put('1', { methods: ['GET'], uri: '/server_port' }, 1981), MISS('/hello'), port('/server_port', '1981', { host: 'anydomain.com' })] },
    { src: 't/router/radixtree-uri-sanity.t#9-11', name: 'a second route', steps: [put('2', { methods: ['GET'], uri: '/hello' }, 1981), MISS('/hello2'), HELLO({ host: 'anydomain.com' })] },
    { src: 't/router/radixtree-uri-sanity.t#13,14', name: 'exact uri: hit', steps: [put('1', { uri: '/hello' }), HELLO()] },
    { src: 't/router/radixtree-uri-sanity.t#15', name: 'exact uri: a trailing slash misses', steps: [put('1', { uri: '/hello' }), MISS('/hello/')] },
    { src: 't/router/radixtree-uri-priority.t#1,2', name: 'prefix route with priority 2', steps: [put('1', { uri: '/server_port*', priority: 2 }), port('/server_port/aa', '1980')] },
    { src: 't/router/radixtree-uri-priority.t#3,4', name: 'the same prefix with a lower priority loses', steps: [put('1', { uri: '/server_port*', priority: 2 }), put('2', { uri: '/server_port*', priority: 1 }, 1981), port('/server_port/aa', '1980')] },
    { src: 't/router/radixtree-uri-priority.t#5,6', name: 'the same prefix with a higher priority wins', steps: [put('1', { uri: '/server_port*', priority: 2 }), put('2', { uri: '/server_port*', priority: 3 }, 1981), port('/server_port/aa', '1981')] },
    { src: 't/router/radixtree-method.t#1,2', name: 'route without PURGE method', steps: [put('1', { methods: ['GET'], uri: '/hello' }), { req: 'PURGE /hello', status: 404 }] },
    { src: 't/router/radixtree-method.t#3,4', name: 'route with PURGE method', steps: [put('1', { methods: ['GET', 'PURGE'], uri: '/hello' }), { req: 'PURGE /hello', status: 200 }] },
    { src: 't/router/radixtree-uri-keep-end-slash.t#1-3', name: 'a trailing slash is kept', steps: [put('1', { uri: '/hello' }), HELLO(), { req: 'GET /hello/', status: 404 }] },
    { src: 't/router/radixtree-uri-multiple.t#1-4', name: 'three routes: /not_found', steps: [...MULTI, MISS('/not_found')] },
    { src: 't/router/radixtree-uri-multiple.t#5', name: 'exact uri wins', steps: [...MULTI, port('/server_port', '1980')] },
    { src: 't/router/radixtree-uri-multiple.t#6', name: 'prefix route', steps: [...MULTI, port('/server_port/route2', '1981')] },
    { src: 't/router/radixtree-uri-multiple.t#7', name: 'exact uri over the prefix', steps: [...MULTI, port('/server_port/hello', '1982')] },
    {
      src: 't/router/radixtree-uri-with-parameter.t#1',
      name: 'set route with a parameter',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP_1980, uri: '/name/:name/bar' }, status: 201, json: { value: { uri: '/name/:name/bar' }, key: '/apisix/routes/1' } }],
    },
    { src: 't/router/radixtree-uri-with-parameter.t#2', name: 'parameter route: /not_found', steps: [PARAM, MISS('/not_found')] },
    { src: 't/router/radixtree-uri-with-parameter.t#3', name: 'parameter route: another suffix', steps: [PARAM, MISS('/name/json2/foo')] },
    { src: 't/router/radixtree-uri-with-parameter.t#4', name: 'parameter route: nothing after the parameter', steps: [PARAM, MISS('/name/json/')] },
    { src: 't/router/radixtree-uri-with-parameter.t#5', name: 'parameter route: an empty parameter', steps: [PARAM, MISS('/name//bar')] },
    { src: 't/router/radixtree-uri-with-parameter.t#6', name: 'parameter route: hit (the upstream answers 404)', steps: [PARAM, { req: 'GET /name/json/bar', status: 404, like: '404 Not Found' }] },
    { src: 't/router/radixtree-uri-with-parameter.t#7,8', name: 'parameter first: hit', steps: [put('1', { uri: '/:name/foo' }), { req: 'GET /json/foo', status: 404, like: '404 Not Found' }] },
    { src: 't/router/radixtree-uri-with-parameter.t#7,9', name: 'a parameter is one segment', steps: [put('1', { uri: '/:name/foo' }), MISS('/json/bbb/foo')] },
    {
      src: 't/router/radixtree-uri-with-parameter.t#10,11',
      name: 'hosts inherited from the service; the other route serves',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { hosts: ['bar.com'] }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], plugins: { 'proxy-rewrite': { uri: '/hello1' } }, service_id: '1', upstream: UP_1980, uri: '/:name/hello' }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { methods: ['GET'], plugins: { 'proxy-rewrite': { uri: '/hello' } }, upstream: UP_1980, uri: '/:name/hello', priority: -1 }, status: 201 },
        { req: 'GET /john/hello', headers: { host: 'www.foo.com' }, status: 200, text: 'hello world\n' },
      ],
    },
    { src: 't/router/radixtree-host-uri-priority.t#1', name: 'host routes: priority 2 beats 1', steps: [...PRIO(1, 2), port('/server_port', '1980', { host: 'test.com' })] },
    { src: 't/router/radixtree-host-uri-priority.t#2', name: 'host routes: priority 2 beats 1 (other order)', steps: [...PRIO(2, 1), port('/server_port', '1981', { host: 'test.com' })] },
    { src: 't/router/radixtree-host-uri-priority.t#3', name: 'host routes: priority 1 beats the default', steps: [...PRIO(undefined, 1), port('/server_port', '1980', { host: 'test.com' })] },
    { src: 't/router/radixtree-host-uri-priority.t#4', name: 'host routes: priority 1 beats the default (other order)', steps: [...PRIO(1, undefined), port('/server_port', '1981', { host: 'test.com' })] },
  ],
} satisfies CaseFile;
