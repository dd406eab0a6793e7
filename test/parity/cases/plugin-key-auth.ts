/** apache/apisix t/plugin/key-auth.t, key-auth-realm.t, key-auth-anonymous-consumer.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const JACK: Step = { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: 'auth-one' } } }, status: 201 };
const keyAuth = (conf: Record<string, unknown> = {}, uri = '/hello'): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route(uri, { 'key-auth': conf }), status: 201 });
const NO_QUERY_DEFAULT = "key-auth reads a query parameter only when `query` names one: APISIX's default (`apikey`) puts keys in URLs, which end up in logs";
const ANON_SETUP: Step[] = [
  { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: 'auth-one' }, 'limit-count': { count: 4, time_window: 60 } } }, status: 201 },
  { admin: 'PUT /apisix/admin/consumers', body: { username: 'anonymous', plugins: { 'limit-count': { count: 1, time_window: 60 } } }, status: 201 },
  keyAuth({ anonymous_consumer: 'anonymous' }),
];
const ANON_HIDE: Step[] = [...ANON_SETUP.slice(0, 2), keyAuth({ query: 'auth', anonymous_consumer: 'anonymous', hide_credentials: true }, '/print_request_received')];
/** APISIX's `(?s)^(?!.*invalid-key).*x-consumer-username: anonymous`, in JavaScript's dialect. */
const NO_LEAK = '^(?![\\s\\S]*invalid-key)[\\s\\S]*x-consumer-username: anonymous';

export default {
  area: 'plugin/key-auth',
  cases: [
    { src: 't/plugin/key-auth.t#1', name: 'sanity (consumer schema)', steps: [{ admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: 'test-key' } } }, status: 201 }] },
    {
      src: 't/plugin/key-auth.t#2',
      name: 'wrong type of string',
      steps: [{ admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: 123 } } }, status: 400, errorLike: 'property "key" validation failed: wrong type: expected string, got number' }],
    },
    { src: 't/plugin/key-auth.t#3-5', name: 'valid consumer', steps: [JACK, keyAuth(), { req: 'GET /hello', headers: { apikey: 'auth-one' }, status: 200, text: 'hello world\n' }] },
    { src: 't/plugin/key-auth.t#6', name: 'invalid consumer', steps: [JACK, keyAuth(), { req: 'GET /hello', headers: { apikey: '123' }, status: 401, message: 'Invalid API key in request' }] },
    { src: 't/plugin/key-auth.t#7', name: 'not found apikey header', steps: [JACK, keyAuth(), { req: 'GET /hello', status: 401, message: 'Missing API key in request' }] },
    {
      src: 't/plugin/key-auth.t#8',
      name: 'valid consumer among 20 more',
      steps: [
        JACK,
        keyAuth(),
        ...Array.from({ length: 20 }, (_, i): Step => ({
          admin: 'PUT /apisix/admin/consumers',
          body: { username: `user_${i + 1}`, plugins: { 'key-auth': { key: `auth-${i + 1}` } } },
          status: 201,
          json: { value: { username: `user_${i + 1}`, plugins: { 'key-auth': { key: `auth-${i + 1}` } } } },
        })),
        { req: 'GET /hello', headers: { apikey: 'auth-13' }, status: 200, text: 'hello world\n' },
      ],
    },
    {
      src: 't/plugin/key-auth.t#9',
      name: 'add consumer with empty key',
      steps: [
        {
          admin: 'PUT /apisix/admin/consumers',
          body: { username: 'error', plugins: { 'key-auth': {} } },
          status: 400,
          error: 'invalid plugins configuration: failed to check the configuration of plugin key-auth err: property "key" is required',
        },
      ],
    },
    { src: 't/plugin/key-auth.t#10,11', name: 'customize header', steps: [JACK, keyAuth({ header: 'Authorization' }), { req: 'GET /hello', headers: { authorization: 'auth-one' }, status: 200, text: 'hello world\n' }] },
    { src: 't/plugin/key-auth.t#12,13', name: 'customize query string', steps: [JACK, keyAuth({ query: 'auth' }), { req: 'GET /hello?auth=auth-one', status: 200, text: 'hello world\n' }] },
    {
      src: 't/plugin/key-auth.t#14,15',
      name: 'hide_credentials = false: the apikey header is not hidden',
      steps: [JACK, keyAuth({ hide_credentials: false }, '/echo'), { req: 'GET /echo', headers: { apikey: 'auth-one' }, status: 200, resHeaders: { apikey: 'auth-one' } }],
    },
    {
      src: 't/plugin/key-auth.t#16,17',
      name: 'hide_credentials = true: the apikey header is hidden',
      steps: [JACK, keyAuth({ hide_credentials: true }, '/echo'), { req: 'GET /echo', headers: { apikey: 'auth-one' }, status: 200, resHeaders: { apikey: null } }],
    },
    {
      src: 't/plugin/key-auth.t#18',
      name: 'verify that only the keys in the title are deleted',
      steps: [JACK, keyAuth({ hide_credentials: true }, '/echo'), { req: 'GET /echo', headers: { apikey: 'auth-one', test: 'auth-two' }, status: 200, resHeaders: { apikey: null, test: 'auth-two' } }],
    },
    {
      src: 't/plugin/key-auth.t#19',
      name: 'apikey both in header and query string: the header is hidden, the query is not',
      steps: [
        JACK,
        keyAuth({ hide_credentials: true }, '/echo'),
        { req: 'GET /echo?apikey=auth-one', headers: { apikey: 'auth-one' }, status: 200, resHeaders: { apikey: null } },
        { upstreamSaw: { url: 'apikey=auth-one' } },
      ],
    },
    {
      src: 't/plugin/key-auth.t#20,21',
      name: 'customize query string, hide_credentials = true: the query parameter is hidden',
      steps: [JACK, keyAuth({ query: 'auth', hide_credentials: true }, '/echo'), { req: 'GET /echo?auth=auth-one', status: 200 }, { upstreamSaw: { url: '^/echo$' } }],
    },
    {
      src: 't/plugin/key-auth.t#22',
      name: 'verify that only the keys in the query parameters are deleted',
      steps: [JACK, keyAuth({ query: 'auth', hide_credentials: true }, '/echo'), { req: 'GET /echo?auth=auth-one&test=auth-two', status: 200 }, { upstreamSaw: { url: '^/echo\\?test=auth-two$' } }],
    },
    {
      src: 't/plugin/key-auth.t#23',
      name: 'auth both in header and query string: the query is hidden, the header is not',
      steps: [
        JACK,
        keyAuth({ query: 'auth', hide_credentials: true }, '/echo'),
        { req: 'GET /echo?auth=auth-one', headers: { auth: 'auth-one' }, status: 200, resHeaders: { auth: 'auth-one' } },
        { upstreamSaw: { url: '^/echo$' } },
      ],
    },
    {
      src: 't/plugin/key-auth.t#24,25',
      name: 'customize query string, hide_credentials = false: the query parameter is kept',
      steps: [JACK, keyAuth({ query: 'auth', hide_credentials: false }), { req: 'GET /hello?auth=auth-one', status: 200 }, { upstreamSaw: { url: 'auth=auth-one' } }],
    },
    {
      src: 't/plugin/key-auth.t#26,27',
      name: 'consumer key as a secret ref: $env://',
      env: { test_auth: 'authone' },
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: '$env://test_auth' } } }, status: 201 },
        keyAuth({ query: 'auth' }),
        { req: 'GET /hello?auth=authone', status: 200 },
      ],
    },
    {
      src: 't/plugin/key-auth.t#33,34',
      name: 'fail closed: a literal ref that does not resolve is not accepted as a credential',
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: '$env://KEYAUTH_UNRESOLVED_SECRET' } } }, status: 201 },
        keyAuth(),
        { req: 'GET /hello', headers: { apikey: '$env://KEYAUTH_UNRESOLVED_SECRET' }, status: 401, message: 'Invalid API key in request' },
      ],
    },
    {
      src: 't/plugin/key-auth.t#5',
      name: 'the key in the default query parameter (apikey) authenticates',
      deliberate: NO_QUERY_DEFAULT,
      steps: [JACK, keyAuth(), { req: 'GET /hello?apikey=auth-one', status: 200, text: 'hello world\n' }],
    },

    { src: 't/plugin/key-auth-realm.t#1,2', name: 'verify default realm', steps: [keyAuth(), { req: 'GET /hello', status: 401, resHeaders: { 'www-authenticate': 'apikey realm="key"' } }] },
    {
      src: 't/plugin/key-auth-realm.t#3,4',
      name: 'verify custom realm',
      steps: [keyAuth({ realm: 'my-custom-realm' }), { req: 'GET /hello', status: 401, resHeaders: { 'www-authenticate': 'apikey realm="my-custom-realm"' } }],
    },
    {
      src: 't/plugin/key-auth-realm.t#5,6',
      name: 'verify anonymous consumer missing returns realm',
      steps: [keyAuth({ anonymous_consumer: 'missing-consumer' }), { req: 'GET /hello', status: 401, resHeaders: { 'www-authenticate': 'apikey realm="key"' } }],
    },

    {
      src: 't/plugin/key-auth-anonymous-consumer.t#1-3',
      name: 'normal consumer: its own limit-count applies',
      steps: [...ANON_SETUP, { req: 'GET /hello', headers: { apikey: 'auth-one' }, repeat: 5, status: [200, 200, 200, 200, 503] }],
    },
    { src: 't/plugin/key-auth-anonymous-consumer.t#4', name: 'request without key-auth header will be from anonymous consumer and it will pass', steps: [...ANON_SETUP, { req: 'GET /hello', status: 200, text: 'hello world\n' }] },
    {
      src: 't/plugin/key-auth-anonymous-consumer.t#5',
      name: 'request without key-auth header: the anonymous consumer limit applies',
      steps: [...ANON_SETUP, { req: 'GET /hello', repeat: 4, status: [200, 503, 503, 503] }],
    },
    {
      src: 't/plugin/key-auth-anonymous-consumer.t#6,7',
      name: 'anonymous-consumer configured in the route should not be found',
      steps: [keyAuth({ anonymous_consumer: 'not-found-anonymous' }), { req: 'GET /hello', status: 401, message: 'Invalid user authorization' }],
    },
    {
      src: 't/plugin/key-auth-anonymous-consumer.t#8,9',
      name: 'invalid key in header falls back to anonymous, credential not forwarded upstream',
      steps: [...ANON_HIDE, { req: 'GET /print_request_received', headers: { apikey: 'invalid-key' }, status: 200, like: NO_LEAK }],
    },
    {
      src: 't/plugin/key-auth-anonymous-consumer.t#10',
      name: 'invalid key in query falls back to anonymous, credential not forwarded upstream',
      steps: [...ANON_HIDE, { req: 'GET /print_request_received?auth=invalid-key', status: 200, like: NO_LEAK }],
    },
    {
      src: 't/plugin/key-auth-anonymous-consumer.t#11',
      name: 'invalid key in BOTH header and query -> neither forwarded upstream',
      steps: [...ANON_HIDE, { req: 'GET /print_request_received?auth=invalid-key', headers: { apikey: 'invalid-key' }, status: 200, like: NO_LEAK }],
    },
  ],
} satisfies CaseFile;
