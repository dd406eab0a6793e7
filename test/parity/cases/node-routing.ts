/** apache/apisix t/node: hosts.t, http_host.t, route-host.t, route-status.t, route-uris.t, remote-addr.t, remote_addrs.t, wildcard-host.t, service-empty.t, not-exist-*.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { UP_1980 } from './common.js';

const put = (body: Record<string, unknown>, status = 201, id = '1'): Step => ({ admin: `PUT /apisix/admin/routes/${id}`, body: { upstream: UP_1980, ...body }, status });
const NOT_FOUND: Step = { req: 'GET /not_found', status: 404, error: '404 Route Not Found' };
const host = (h: string, status = 200, path = '/hello'): Step =>
  status === 200 ? { req: `GET ${path}`, headers: { host: h }, status, text: 'hello world\n' } : { req: `GET ${path}`, headers: { host: h }, status, error: '404 Route Not Found' };
const HELLO: Step = { req: 'GET /hello', status: 200, text: 'hello world\n' };
const MISSED: Step = { req: 'GET /hello', status: 404, error: '404 Route Not Found' };
/** APISIX's t/node/remote_addrs.t: `real_ip_header X-Real-IP; set_real_ip_from 127.0.0.1`. */
const REAL_IP = { gateway: { trusted_proxies: ['127.0.0.1'], real_ip_header: 'X-Real-IP' } };

export default {
  area: 'node/routing',
  cases: [
    { src: 't/node/hosts.t#1,2', name: 'hosts: /not_found', steps: [put({ uri: '/hello', hosts: ['foo.com', '*.bar.com'] }), NOT_FOUND] },
    { src: 't/node/hosts.t#3', name: 'hosts: a host not listed', steps: [put({ uri: '/hello', hosts: ['foo.com', '*.bar.com'] }), host('not_found.com', 404)] },
    { src: 't/node/hosts.t#4', name: 'hosts: exact host', steps: [put({ uri: '/hello', hosts: ['foo.com', '*.bar.com'] }), host('foo.com')] },
    { src: 't/node/hosts.t#5', name: 'hosts: wildcard host', steps: [put({ uri: '/hello', hosts: ['foo.com', '*.bar.com'] }), host('www.bar.com')] },
    {
      src: 't/node/http_host.t#1,2',
      name: 'the Host header with a port reaches the upstream unchanged',
      steps: [put({ uri: '/uri' }), { req: 'GET /uri', headers: { host: 'foo.com:1984' }, status: 200, lines: ['uri: /uri', 'host: foo.com:1984', 'x-real-ip: 127.0.0.1'] }],
    },
    {
      src: 't/node/not-exist-service.t#1,2',
      name: 'a route whose service does not exist',
      deliberate: 'a route whose references are missing answers 503 until it is fixed: answering 404 would let a request fall through to a less protected route',
      steps: [put({ uri: '/hello', service_id: '999999999' }, 400), { req: 'GET /hello', status: 404 }],
    },
    { src: 't/node/not-exist-upstream.t#1,2', name: 'route without upstream: /not_found', steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { plugins: {}, uri: '/hello' }, status: 201 }, NOT_FOUND] },
    { src: 't/node/not-exist-upstream.t#3', name: 'route without upstream: 502 or 503', steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { plugins: {}, uri: '/hello' }, status: 201 }, { req: 'GET /hello', status: 503 }] },
    { src: 't/node/route-host.t#1,2', name: 'host route: /not_found', steps: [put({ methods: ['GET'], host: 'foo.com', uri: '/hello' }), NOT_FOUND] },
    { src: 't/node/route-host.t#3', name: 'host route: no host given', steps: [put({ methods: ['GET'], host: 'foo.com', uri: '/hello' }), MISSED] },
    { src: 't/node/route-host.t#4', name: 'host route: another host', steps: [put({ methods: ['GET'], host: 'foo.com', uri: '/hello' }), host('not_found.com', 404)] },
    { src: 't/node/route-host.t#5', name: 'host route: hit', steps: [put({ methods: ['GET'], host: 'foo.com', uri: '/hello' }), host('foo.com')] },
    { src: 't/node/route-host.t#6', name: 'host route: hit, uppercase', steps: [put({ methods: ['GET'], host: 'foo.com', uri: '/hello' }), host('FOO.com')] },
    { src: 't/node/route-host.t#7-9', name: 'host is uppercase in the route', steps: [put({ methods: ['GET'], host: 'FOO.com', uri: '/hello' }), host('foo.com'), host('FOO.com')] },
    { src: 't/node/route-status.t#1,2', name: 'route enabled by default', steps: [put({ uri: '/hello' }), HELLO] },
    { src: 't/node/route-status.t#3,4', name: 'disable route: 404', steps: [put({ uri: '/hello' }), { admin: 'PATCH /apisix/admin/routes/1', body: { status: 0 }, status: 200 }, MISSED] },
    {
      src: 't/node/route-status.t#5-8',
      name: 'disable a host route: 404',
      steps: [put({ uri: '/hello', host: 'foo.com' }), host('foo.com'), { admin: 'PATCH /apisix/admin/routes/1', body: { status: 0 }, status: 200 }, host('foo.com', 404)],
    },
    { src: 't/node/route-status.t#9', name: 'specify an invalid status value', steps: [put({ uri: '/hello', status: 100 }, 400)] },
    { src: 't/node/route-uris.t#1,2', name: 'uris: /not_found', steps: [put({ methods: ['GET'], uris: ['/hello', '/hello1'] }), { req: 'GET /not_found', status: 404 }] },
    { src: 't/node/route-uris.t#3,4', name: 'uris: both hit', steps: [put({ methods: ['GET'], uris: ['/hello', '/hello1'] }), HELLO, { req: 'GET /hello1', status: 200, text: 'hello1 world\n' }] },
    { src: 't/node/remote-addr.t#1-3', name: 'remote_addr = 127.0.0.1', steps: [put({ remote_addr: '127.0.0.1', uri: '/hello' }), NOT_FOUND, HELLO] },
    { src: 't/node/remote-addr.t#4,5', name: 'remote_addr = 127.0.0.2 does not match 127.0.0.1', steps: [put({ remote_addr: '127.0.0.2', uri: '/hello' }), MISSED] },
    { src: 't/node/remote-addr.t#6,7', name: 'remote_addr 127.0.0.3/24 matches 127.0.0.1', steps: [put({ remote_addr: '127.0.0.3/24', uri: '/hello' }), HELLO] },
    { src: 't/node/remote_addrs.t#1,2', name: 'remote_addrs: /not_found', config: REAL_IP, steps: [put({ uri: '/hello', remote_addrs: ['192.0.0.0/8', '127.0.0.3'] }), NOT_FOUND] },
    { src: 't/node/remote_addrs.t#3', name: 'remote_addrs: the client address does not match', config: REAL_IP, steps: [put({ uri: '/hello', remote_addrs: ['192.0.0.0/8', '127.0.0.3'] }), { req: 'GET /hello', headers: { host: 'not_found.com' }, status: 404 }] },
    {
      src: 't/node/remote_addrs.t#4',
      name: 'remote_addrs: the client address from X-Real-IP (real_ip_header X-Real-IP)',
      config: REAL_IP,
      steps: [put({ uri: '/hello', remote_addrs: ['192.0.0.0/8', '127.0.0.3'] }), { req: 'GET /hello', headers: { 'x-real-ip': '192.168.1.100' }, status: 200, text: 'hello world\n' }],
    },
    {
      src: 't/node/remote_addrs.t#5',
      name: 'remote_addrs: X-Real-IP 127.0.0.3',
      config: REAL_IP,
      steps: [put({ uri: '/hello', remote_addrs: ['192.0.0.0/8', '127.0.0.3'] }), { req: 'GET /hello', headers: { 'x-real-ip': '127.0.0.3' }, status: 200, text: 'hello world\n' }],
    },
    {
      src: 't/node/service-empty.t#1-3',
      name: 'route binding an empty service',
      steps: [{ admin: 'PUT /apisix/admin/services/1', body: '{}', status: 201 }, put({ methods: ['GET'], service_id: '1', uri: '/hello' }), HELLO],
    },
    { src: 't/node/wildcard-host.t#1,2', name: 'host *.foo.com: /not_found', steps: [put({ host: '*.foo.com', uri: '/hello' }), NOT_FOUND] },
    { src: 't/node/wildcard-host.t#3', name: 'host *.foo.com: missing host', steps: [put({ host: '*.foo.com', uri: '/hello' }), MISSED] },
    { src: 't/node/wildcard-host.t#4', name: 'host *.foo.com: a.foo.com', steps: [put({ host: '*.foo.com', uri: '/hello' }), host('a.foo.com')] },
    { src: 't/node/wildcard-host.t#5', name: 'host *.foo.com: a.b.foo.com', steps: [put({ host: '*.foo.com', uri: '/hello' }), host('a.b.foo.com')] },
    {
      src: 't/node/wildcard-host.t#6',
      name: 'host *.foo.com: .foo.com',
      deliberate: 'a Host header that is not a host name (".foo.com") is answered 400 before routing',
      steps: [put({ host: '*.foo.com', uri: '/hello' }), host('.foo.com')],
    },
  ],
} satisfies CaseFile;
