/** apache/apisix t/node: consumer-plugin.t, consumer-group.t, credential-plugin-key-auth.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route, UP_1980 } from './common.js';

const jack = (count: number, status = 201): Step => ({
  admin: 'PUT /apisix/admin/consumers',
  body: { username: 'jack', plugins: { 'limit-count': { count, time_window: 60, rejected_code: 503, key: 'remote_addr' }, 'key-auth': { key: 'auth-one' } } },
  status,
});
const KEY_AUTH_ROUTE: Step = { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'key-auth': {} }), status: 201 };
const asJack = (status: number[]): Step => ({ req: 'GET /hello', headers: { apikey: 'auth-one' }, repeat: status.length, status });
const GROUP = (body: string, status = 201): Step => ({ admin: 'PUT /apisix/admin/consumer_groups/bar', body: { plugins: { 'response-rewrite': { body } } }, status });
/** APISIX's consumer-group tests authenticate with basic-auth; key-auth stands in. */
const FOO = (plugins: Record<string, unknown> = {}): Step => ({ admin: 'PUT /apisix/admin/consumers', body: { username: 'foo', group_id: 'bar', plugins: { 'key-auth': { key: 'foo-key' }, ...plugins } }, status: 201 });
const AS_FOO = (text: string): Step => ({ req: 'GET /hello', headers: { apikey: 'foo-key' }, status: 200, text });

export default {
  area: 'node/consumers',
  cases: [
    { src: 't/node/consumer-plugin.t#1-3', name: 'invalid consumer', steps: [jack(2), KEY_AUTH_ROUTE, { req: 'GET /hello', headers: { apikey: '123' }, status: 401, message: 'Invalid API key in request' }] },
    { src: 't/node/consumer-plugin.t#4', name: 'valid consumer', steps: [jack(2), KEY_AUTH_ROUTE, { req: 'GET /hello', headers: { apikey: 'auth-one' }, status: 200, text: 'hello world\n' }] },
    { src: 't/node/consumer-plugin.t#5', name: "the consumer's limit-count applies", steps: [jack(2), KEY_AUTH_ROUTE, asJack([200, 200, 503, 503])] },
    {
      src: 't/node/consumer-plugin.t#6',
      name: "use the new configuration after the consumer's configuration is updated",
      steps: [jack(2), KEY_AUTH_ROUTE, asJack([200, 200, 503, 503, 503]), jack(4, 200), asJack([200, 200, 200, 200, 503])],
    },
    {
      src: 't/node/consumer-plugin.t#11',
      name: 'the plugins bound on the service use the latest configuration',
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: 'auth-jack' } } }, status: 201 },
        { admin: 'PUT /apisix/admin/services/1', body: { plugins: { 'key-auth': { header: 'Authorization' }, 'proxy-rewrite': { uri: '/hello1' } }, upstream: UP_1980 }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], uri: '/hello', service_id: '1' }, status: 201 },
        { req: 'GET /hello', headers: { authorization: 'auth-jack' }, status: 200, text: 'hello1 world\n' },
        { admin: 'PUT /apisix/admin/services/1', body: { plugins: { 'key-auth': { header: 'Authorization' }, 'proxy-rewrite': { uri: '/server_port' } }, upstream: UP_1980 }, status: 200 },
        { req: 'GET /hello', headers: { authorization: 'auth-jack' }, status: 200, text: '1980' },
      ],
    },
    {
      src: 't/node/consumer-group.t#1',
      name: "consumer group usage: the group's plugins run, and follow its changes",
      steps: [GROUP('hello'), FOO(), KEY_AUTH_ROUTE, AS_FOO('hello'), GROUP('world', 200), AS_FOO('world')],
    },
    { src: 't/node/consumer-group.t#3', name: "don't override the plugin in the consumer", steps: [GROUP('hello'), FOO({ 'response-rewrite': { body: 'world' } }), KEY_AUTH_ROUTE, AS_FOO('world')] },
    {
      src: 't/node/credential-plugin-key-auth.t#1-3',
      name: 'a key-auth credential of a consumer',
      steps: [
        KEY_AUTH_ROUTE,
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack' }, status: 201 },
        {
          admin: 'PUT /apisix/admin/consumers/jack/credentials/34010989-ce4e-4d61-9493-b54cca8edb31',
          body: { plugins: { 'key-auth': { key: 'p7a3k6r4t9' } } },
          status: 201,
          json: { value: { id: '34010989-ce4e-4d61-9493-b54cca8edb31', plugins: { 'key-auth': { key: '$string' } } }, key: '/apisix/consumers/jack/credentials/34010989-ce4e-4d61-9493-b54cca8edb31' },
        },
        { req: 'GET /hello', headers: { apikey: '123' }, status: 401, message: 'Invalid API key in request' },
        { req: 'GET /hello', headers: { apikey: 'p7a3k6r4t9' }, status: 200, text: 'hello world\n' },
      ],
    },
  ],
} satisfies CaseFile;
