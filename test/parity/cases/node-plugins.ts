/** apache/apisix t/node: global-rule.t, plugin-configs.t, merge-route.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route, UP_1980 } from './common.js';

const LC = { 'limit-count': { count: 2, time_window: 60, rejected_code: 503, key: 'remote_addr' } };
const HELLO: Step = { req: 'GET /hello', status: 200, text: 'hello world\n' };
const pc = (plugins: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/plugin_configs/1', body: { plugins }, status });
const SERVICE: Step = { admin: 'PUT /apisix/admin/services/1', body: { plugins: LC, upstream: UP_1980 }, status: 201 };
const onService = (extra: Record<string, unknown> = {}): Step => ({
  admin: 'PUT /apisix/admin/routes/1',
  body: { upstream: { nodes: { '127.0.0.1:1981': 1 }, type: 'roundrobin' }, uri: '/server_port', service_id: 1, ...extra },
  status: 201,
});

export default {
  area: 'node/plugins',
  cases: [
    {
      src: 't/node/global-rule.t#1-5',
      name: 'a global limit-count counts unmatched requests too',
      steps: [
        { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: LC }, status: 201 },
        { req: 'GET /not_found', status: 404, error: '404 Route Not Found' },
        { req: 'GET /hello', status: 404, error: '404 Route Not Found' },
        { req: 'GET /hello', status: 503 },
      ],
    },
    {
      src: 't/node/global-rule.t#10',
      name: 'delete global rules (the second delete is 404)',
      steps: [{ admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: LC }, status: 201 }, { admin: 'DELETE /apisix/admin/global_rules/1', status: 200 }, { admin: 'DELETE /apisix/admin/global_rules/1', status: 404 }],
    },
    {
      src: 't/node/global-rule.t#11,12',
      name: 'an empty global rule; the route plugin runs',
      steps: [
        { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: {} }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'response-rewrite': { body: 'changed\n' } }), status: 201 },
        { req: 'GET /hello', status: 200, text: 'changed\n' },
      ],
    },
    {
      src: 't/node/global-rule.t#13',
      name: 'global rule works with the consumer; after deleting it no stale plugins remain',
      note: 'APISIX authenticates with basic-auth; key-auth stands in',
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'test', plugins: { 'key-auth': { key: 'test' } } }, status: 201 },
        { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: { 'key-auth': {} } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: route('/hello'), status: 201 },
        { req: 'GET /hello', status: 401 },
        { req: 'GET /hello', headers: { apikey: 'test' }, status: 200 },
        { admin: 'DELETE /apisix/admin/global_rules/1', status: 200 },
        { req: 'GET /hello', headers: { apikey: 'test' }, status: 200 },
        { req: 'GET /hello', status: 200 },
      ],
    },
    {
      src: 't/node/plugin-configs.t#1',
      name: 'changing the plugin config changes what the route does',
      note: "APISIX's route also carries example-plugin (test-only), left out",
      steps: [
        pc({ 'response-rewrite': { body: 'hello' } }),
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP_1980, uri: '/hello', plugin_config_id: 1 }, status: 201 },
        { req: 'GET /hello', status: 200, text: 'hello' },
        { ...pc({ 'response-rewrite': { body: 'world' } }), status: 200 },
        { req: 'GET /hello', status: 200, text: 'world' },
      ],
    },
    {
      src: 't/node/plugin-configs.t#4',
      name: 'recover plugin when plugin_config changed',
      steps: [
        pc({ 'response-rewrite': { body: 'hello' } }),
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP_1980, uri: '/hello', plugin_config_id: 1 }, status: 201 },
        { req: 'GET /hello', status: 200, text: 'hello' },
        { ...pc({}), status: 200 },
        HELLO,
      ],
    },
    {
      src: 't/node/plugin-configs.t#5',
      name: "don't override the plugin in the route",
      steps: [
        pc({ 'proxy-rewrite': { uri: '/hello' }, 'response-rewrite': { body: 'hello' } }),
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP_1980, uri: '/helloaa', plugin_config_id: 1, plugins: { 'response-rewrite': { body: 'world' } } }, status: 201 },
        { req: 'GET /helloaa', status: 200, text: 'world' },
      ],
    },
    {
      src: 't/node/plugin-configs.t#6',
      name: 'use the latest plugin_config after merging the plugins of consumer and route',
      note: 'APISIX authenticates with basic-auth; key-auth stands in',
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'foo', plugins: { 'key-auth': { key: 'foo-key' } } }, status: 201 },
        pc({ 'ip-restriction': { whitelist: ['1.1.1.1'] }, 'key-auth': {} }),
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP_1980, plugin_config_id: '1', uris: ['/hello'] }, status: 201 },
        { req: 'GET /hello', headers: { apikey: 'foo-key' }, status: 403, message: 'Your IP address is not allowed' },
        { ...pc({ 'ip-restriction': { whitelist: ['1.1.1.1', '127.0.0.1'] }, 'key-auth': {} }), status: 200 },
        { req: 'GET /hello', headers: { apikey: 'foo-key' }, status: 200, text: 'hello world\n' },
      ],
    },
    {
      src: 't/node/plugin-configs.t#7,8',
      name: 'limit-count in a plugin config: up the limit',
      steps: [pc(LC), { admin: 'PUT /apisix/admin/routes/1', body: { upstream: UP_1980, uri: '/hello', plugin_config_id: 1 }, status: 201 }, { req: 'GET /hello', repeat: 4, status: [200, 200, 503, 503] }],
    },
    { src: 't/node/merge-route.t#1-3', name: 'service plugins, route upstream: /not_found', steps: [SERVICE, onService(), { req: 'GET /not_found', status: 404, error: '404 Route Not Found' }] },
    {
      src: 't/node/merge-route.t#4',
      name: "the service's limit-count runs on the route's own upstream",
      steps: [SERVICE, onService(), { req: 'GET /server_port', status: 200, text: '1981', resHeaders: { 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1' } }],
    },
    {
      src: 't/node/merge-route.t#5,6',
      name: 'a route with empty plugins keeps the service plugins',
      steps: [SERVICE, onService({ plugins: {} }), { req: 'GET /server_port', status: 200, text: '1981', resHeaders: { 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1' } }],
    },
    {
      src: 't/node/merge-route.t#7,8',
      name: "the route disables the service's limit-count",
      steps: [SERVICE, onService({ plugins: { 'limit-count': { ...LC['limit-count'], _meta: { disable: true } } } }), { req: 'GET /server_port', status: 200, text: '1981', resHeaders: { 'x-ratelimit-limit': null, 'x-ratelimit-remaining': null } }],
    },
    {
      src: 't/node/merge-route.t#14-16',
      name: 'websocket enabled in the service; a plain request still proxies',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { upstream: UP_1980, enable_websocket: true }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { uri: '/uri', service_id: '1' }, status: 201 },
        { req: 'GET /uri', status: 200, lines: ['uri: /uri', 'host: localhost', 'x-real-ip: 127.0.0.1'] },
      ],
    },
  ],
} satisfies CaseFile;
