/** apache/apisix t/router/radixtree-host-uri.t and radixtree-uri-vars.t. */
import type { CaseFile } from '../suite.js';
import type { ParityCase, Step } from '../types.js';
import { UP_1980 } from './common.js';

const put = (id: string, body: Record<string, unknown>, port = 1980): Step => ({ admin: `PUT /apisix/admin/routes/${id}`, body: { upstream: { nodes: { [`127.0.0.1:${port}`]: 1 }, type: 'roundrobin' }, ...body }, status: 201 });
const MISS = (headers?: Record<string, string>, path = '/hello'): Step => ({ req: `GET ${path}`, ...(headers ? { headers } : {}), status: 404, error: '404 Route Not Found' });
const HELLO = (headers?: Record<string, string>): Step => ({ req: 'GET /hello', ...(headers ? { headers } : {}), status: 200, text: 'hello world\n' });
const HOST = put('1', { uri: '/hello', host: 'foo.com' });
const vars = (tests: string, name: string, v: unknown, request: Step): ParityCase => ({
  src: `t/router/radixtree-uri-vars.t#${tests}`,
  name,
  steps: [{ admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], uri: '/hello', vars: v, upstream: UP_1980 }, status: 201 }, request],
});
const UA = (ua: string) => ({ 'user-agent': ua });

export default {
  area: 'router',
  cases: [
    { src: 't/router/radixtree-host-uri.t#1,2', name: 'host + uri: /not_found', steps: [HOST, MISS(undefined, '/not_found')] },
    { src: 't/router/radixtree-host-uri.t#1,3', name: 'host + uri: no host', steps: [HOST, MISS()] },
    { src: 't/router/radixtree-host-uri.t#1,4', name: 'host + uri: other host', steps: [HOST, MISS({ host: 'not_found.com' })] },
    { src: 't/router/radixtree-host-uri.t#1,5', name: 'host + uri: hit', steps: [HOST, HELLO({ host: 'foo.com' })] },
    { src: 't/router/radixtree-host-uri.t#7-9', name: 'only uri: any host', steps: [HOST, { ...put('1', { uri: '/server_port' }, 1981), status: 200 }, MISS(), { req: 'GET /server_port', headers: { host: 'anydomain.com' }, status: 200, text: '1981' }] },
    { src: 't/router/radixtree-host-uri.t#10-12', name: 'a host route and a plain route for other hosts', steps: [HOST, put('2', { uri: '/hello' }, 1981), MISS(undefined, '/hello2'), HELLO({ host: 'anydomain.com' })] },
    { src: 't/router/radixtree-host-uri.t#14,15', name: 'wildcard host + uri', steps: [put('1', { uri: '/hello', host: '*.foo.com' }), HELLO({ host: 'www.foo.com' })] },

    vars('1,2', 'user_agent ~* android: ios misses', [['http_user_agent', '~*', 'android']], MISS(UA('ios'))),
    vars('1,3', 'user_agent ~* android: android hits', [['http_user_agent', '~*', 'android']], HELLO(UA('android'))),
    vars('1,4', 'user_agent ~* android: Android hits', [['http_user_agent', '~*', 'android']], HELLO(UA('Android'))),
    vars('5,6', 'user_agent ! ~* android: android misses', [['http_user_agent', '!', '~*', 'android']], MISS(UA('android'))),
    vars('5,7', 'user_agent ! ~* android: ios hits', [['http_user_agent', '!', '~*', 'android']], HELLO(UA('ios'))),
    vars('8,9', 'IN table: ios', [['http_user_agent', 'IN', ['android', 'ios']]], HELLO(UA('ios'))),
    vars('8,10', 'IN table: android', [['http_user_agent', 'IN', ['android', 'ios']]], HELLO(UA('android'))),
    vars('11,12', '== null: a user agent misses', [['http_user_agent', '==', null]], MISS(UA('android'))),
    vars('11,13', '== null: no user agent hits', [['http_user_agent', '==', null]], HELLO()),
    vars('14,15', 'two items mean ==', [['http_user_agent', 'ios']], HELLO(UA('ios'))),
    vars('16,17', '!OR: hit', ['!OR', ['http_user_agent', '==', 'ios'], ['http_demo', '==', 'test']], HELLO({ ...UA('android'), demo: 'prod' })),
    vars('16,18', '!OR: miss', ['!OR', ['http_user_agent', '==', 'ios'], ['http_demo', '==', 'test']], { req: 'GET /hello', headers: { ...UA('ios'), demo: 'prod' }, status: 404 }),
    vars('19,20', 'empty vars', [], HELLO()),
    {
      src: 't/router/radixtree-uri-vars.t#21',
      name: 'bad vars rule',
          steps: [
        {
          admin: 'PUT /apisix/admin/routes/1',
          body: { uri: '/hello', vars: ['http_user_agent', '~*', 'android'], upstream: UP_1980 },
          status: 400,
          error: "failed to validate the 'vars' expression: rule should be wrapped inside brackets",
        },
      ],
    },
  ],
} satisfies CaseFile;
