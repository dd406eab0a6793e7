/** apache/apisix t/admin/plugins.t, schema.t, schema-validate.t, response_body_format.t. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

/**
 * APISIX's plugins/list order (t/admin/plugins.t TEST 1), restricted to the plugins Tollgate has or
 * issue 11 adds: the list is sorted by priority, highest first.
 */
const APISIX_ORDER = [
  'client-control', 'request-id', 'cors', 'ip-restriction', 'jwt-auth', 'key-auth', 'consumer-restriction', 'proxy-rewrite',
  'api-breaker', 'limit-conn', 'limit-count', 'limit-req', 'traffic-split', 'response-rewrite', 'mcp-bridge', 'prometheus',
  'http-logger', 'file-logger',
];
const HTTPS_UP = { scheme: 'https', type: 'roundrobin', nodes: { 'nghttp2.org': 1 } };
const validate = (body: unknown, kind = 'routes') => ({ admin: `POST /apisix/admin/schema/validate/${kind}`, body });
const ROUTE = { methods: ['GET'], upstream: UP_8080, desc: 'new route', uri: '/index.html' };

export default {
  area: 'admin/plugins+schema',
  cases: [
    {
      src: 't/admin/plugins.t#1',
      name: "get plugins' name (sorted by priority)",
      steps: [{ admin: 'GET /apisix/admin/plugins/list', status: 200, json: '$array', like: APISIX_ORDER.map((n) => `"${n}"`).join('.*') }],
    },
    { src: 't/admin/plugins.t#2', name: 'invalid plugin', steps: [{ admin: 'GET /apisix/admin/plugins/asdf', status: 404, error: 'plugin not found in subsystem http' }] },
    {
      src: 't/admin/plugins.t#3',
      name: 'get plugin schema (limit-req)',
      steps: [
        {
          admin: 'GET /apisix/admin/plugins/limit-req',
          status: 200,
          json: {
            type: 'object',
            required: ['rate', 'burst', 'key'],
            properties: {
              rate: { type: 'number', exclusiveMinimum: 0 },
              key_type: { type: 'string', enum: ['var', 'var_combination'], default: 'var' },
              burst: { type: 'number', minimum: 0 },
              nodelay: { type: 'boolean', default: false },
              key: { type: 'string' },
              rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503 },
              rejected_msg: { type: 'string', minLength: 1 },
              allow_degradation: { type: 'boolean', default: false },
            },
          },
        },
      ],
    },
    { src: 't/admin/plugins.t#5', name: 'get plugin prometheus schema', steps: [{ admin: 'GET /apisix/admin/plugins/prometheus', status: 200, json: { properties: {}, type: 'object' } }] },
    {
      src: 't/admin/plugins.t#9',
      name: 'confirm the plugin of auth type (plugins?all=true)',
      steps: [{ admin: 'GET /apisix/admin/plugins?all=true', status: 200, json: { 'jwt-auth': { type: 'auth', priority: 2510 }, 'key-auth': { type: 'auth', priority: 2500 }, 'limit-count': { priority: 1002, schema: '$object', version: '$any' } } }],
    },
    { src: 't/admin/plugins.t#13', name: 'check with wrong plugin subsystem', steps: [{ admin: 'GET /apisix/admin/plugins?subsystem=asdf', status: 400, error: 'unsupported subsystem: asdf' }] },
    { src: 't/admin/plugins.t#14', name: 'check with right plugin in wrong subsystem', steps: [{ admin: 'GET /apisix/admin/plugins/http-logger?subsystem=stream', status: 404, error: 'plugin not found in subsystem stream' }] },
    {
      src: 't/admin/plugins.t#15',
      name: 'check with right plugin in right subsystem',
      steps: [{ admin: 'GET /apisix/admin/plugins/http-logger?subsystem=http', status: 200, like: 'this is a mark for our injected plugin schema' }],
    },

    { src: 't/admin/schema.t#1', name: 'get route schema', steps: [{ admin: 'GET /apisix/admin/schema/route', status: 200, like: '"plugins":\\{"type":"object"\\}' }] },
    { src: 't/admin/schema.t#2', name: 'get service schema (no anyOf)', steps: [{ admin: 'GET /apisix/admin/schema/service', status: 200, json: { anyOf: null, type: 'object' } }] },
    { src: 't/admin/schema.t#3', name: 'get not exist schema', steps: [{ admin: 'GET /apisix/admin/schema/noexits', status: 400 }] },
    { src: 't/admin/schema.t#4', name: 'wrong method (PUT)', steps: [{ admin: 'PUT /apisix/admin/schema/service', body: {}, status: 404 }] },
    { src: 't/admin/schema.t#5', name: 'wrong method (POST)', steps: [{ admin: 'POST /apisix/admin/schema/service', body: {}, status: 404 }] },
    { src: 't/admin/schema.t#7', name: "get plugin's schema", steps: [{ admin: 'GET /apisix/admin/schema/plugins/limit-count', status: 200, like: '"required":\\["count","time_window"\\]' }] },
    { src: 't/admin/schema.t#8', name: 'get not exist plugin', steps: [{ admin: 'GET /apisix/admin/schema/plugins/no-exist', status: 404 }] },
    { src: 't/admin/schema.t#13', name: 'get plugin prometheus schema (with _meta)', steps: [{ admin: 'GET /apisix/admin/schema/plugins/prometheus', status: 200, like: '"disable":\\{"type":"boolean"\\}' }] },
    {
      src: 't/admin/schema.t#15',
      name: 'get global_rule schema to check if it contains `create_time` and `update_time`',
      steps: [{ admin: 'GET /apisix/admin/schema/global_rule', status: 200, json: { properties: { create_time: { type: 'integer' }, update_time: { type: 'integer' } } } }],
    },

    { src: 't/admin/schema-validate.t#1', name: 'validate ok', steps: [{ ...validate({ uri: '/httpbin/*', upstream: HTTPS_UP }), status: 200 }] },
    {
      src: 't/admin/schema-validate.t#2',
      name: 'validate failed, wrong uri type',
      steps: [{ ...validate({ uri: 666, upstream: HTTPS_UP }), status: 400, error: 'property "uri" validation failed: wrong type: expected string, got number' }],
    },
    {
      src: 't/admin/schema-validate.t#3',
      name: 'validate failed, length limit',
      steps: [{ ...validate({ uri: '', upstream: HTTPS_UP }), status: 400, error: 'property "uri" validation failed: string too short, expected at least 1, got 0' }],
    },
    {
      src: 't/admin/schema-validate.t#4',
      name: 'validate failed, array type expected',
      steps: [{ ...validate({ uris: 'foobar', upstream: HTTPS_UP }), status: 400, error: 'property "uris" validation failed: wrong type: expected array, got string' }],
    },
    {
      src: 't/admin/schema-validate.t#5',
      name: 'validate failed, array size limit',
      steps: [{ ...validate({ uris: [], upstream: HTTPS_UP }), status: 400, error: 'property "uris" validation failed: expect array to have at least 1 items' }],
    },
    {
      src: 't/admin/schema-validate.t#6',
      name: 'validate failed, array unique items',
      steps: [{ ...validate({ uris: ['/foo', '/foo'], upstream: HTTPS_UP }), status: 400, error: 'property "uris" validation failed: expected unique items but items 1 and 2 are equal' }],
    },
    {
      src: 't/admin/schema-validate.t#7',
      name: 'validate failed, uri or uris is mandatory',
      steps: [{ ...validate({ upstream: HTTPS_UP }), status: 400, error: 'allOf 1 failed: value should match only one schema, but matches none' }],
    },
    {
      src: 't/admin/schema-validate.t#8',
      name: 'validate failed, enum check',
      steps: [{ ...validate({ status: 3, uri: '/foo', upstream: HTTPS_UP }), status: 400, error: 'property "status" validation failed: matches none of the enum values' }],
    },
    {
      src: 't/admin/schema-validate.t#9',
      name: 'validate failed, wrong combination',
      steps: [{ ...validate({ script: 'xxxxxxxxxxxxxxxxxxxxx', plugin_config_id: 'foo' }), status: 400, error: 'allOf 1 failed: value should match only one schema, but matches none' }],
    },
    {
      src: 't/admin/schema-validate.t#10',
      name: 'validate failed, id_schema check',
      steps: [{ ...validate({ plugin_config_id: '@@@@@@@@@@@@@@@@', uri: '/foo', upstream: HTTPS_UP }), status: 400, error: 'property "plugin_config_id" validation failed: object matches none of the required' }],
    },
    { src: 't/admin/schema-validate.t#11', name: 'upstream ok', steps: [{ ...validate({ nodes: { 'nghttp2.org': 100 }, type: 'roundrobin' }, 'upstreams'), status: 200 }] },
    {
      src: 't/admin/schema-validate.t#12',
      name: 'upstream failed, wrong nodes format',
      steps: [{ ...validate({ nodes: ['nghttp2.org'], type: 'roundrobin' }, 'upstreams'), status: 400, error: 'allOf 1 failed: value should match only one schema, but matches none' }],
    },
    {
      src: 't/admin/schema-validate.t#13,14',
      name: 'node_schema with the port inside host, and the route serves',
      steps: [
        { admin: 'POST /apisix/admin/routes', body: { uri: '/hello', upstream: { type: 'roundrobin', nodes: [{ host: '127.0.0.1:1980', weight: 1 }] }, methods: ['GET'] }, status: 201 },
        { req: 'GET /hello', status: 200, text: 'hello world\n' },
      ],
    },

    { src: 't/admin/response_body_format.t#1', name: 'use v3 admin api, no action in response body', steps: [{ admin: 'PUT /apisix/admin/routes/1', body: ROUTE, status: 201, json: { value: ROUTE, key: '/apisix/routes/1', action: null } }] },
    {
      src: 't/admin/response_body_format.t#2,3',
      name: 'response body format only have total and list',
      steps: [
        { admin: 'PUT /apisix/admin/routes/1', body: ROUTE, status: 201 },
        { admin: 'GET /apisix/admin/routes', status: 200, json: { total: 1, list: [{ createdIndex: '$any', modifiedIndex: '$any', key: '/apisix/routes/1' }], action: null, node: null } },
        { admin: 'PUT /apisix/admin/routes/2', body: ROUTE, status: 201 },
        { admin: 'GET /apisix/admin/routes', status: 200, json: { total: 2, list: [{ key: '/apisix/routes/1' }, { key: '/apisix/routes/2' }], action: null, node: null } },
      ],
    },
    {
      src: 't/admin/response_body_format.t#4',
      name: 'response body format (test services)',
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { upstream: { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' }, desc: 'new service 001' }, status: 201 },
        { admin: 'PUT /apisix/admin/services/2', body: { upstream: { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' }, desc: 'new service 002' }, status: 201 },
        { admin: 'GET /apisix/admin/services', status: 200, json: { total: 2, list: [{ createdIndex: '$any', key: '/apisix/services/1' }, { modifiedIndex: '$any', key: '/apisix/services/2' }] } },
      ],
    },
  ],
} satisfies CaseFile;
