/** apache/apisix t/admin/upstream.t, upstream2-5.t — upstream CRUD, validation, PATCH, references. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const put = (body: unknown, path = '/apisix/admin/upstreams/1') => ({ admin: `PUT ${path}`, body });
const N = { '127.0.0.1:8080': 1 };
const U = { nodes: N, type: 'roundrobin', desc: 'new upstream' };
const N2 = { nodes: { '127.0.0.1:8080': 1, '127.0.0.1:8090': 1 }, type: 'roundrobin' };
const chash = (extra: Record<string, unknown>) => ({ nodes: N, type: 'chash', desc: 'new chash upstream', ...extra });
const LABELS = { build: '16', env: 'production', version: 'v2' };
const SPLIT = { 'traffic-split': { rules: [{ weighted_upstreams: [{ upstream_id: 1, weight: 1 }, { weight: 1 }] }] } };
const KEY_RE = '^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$';
const NO_AUTH_IN_GROUPS = 'consumer groups refuse auth plugins (credentials belong on a consumer; APISIX accepts them and ignores them)';

const refused = (name: string, src: string, holder: { admin: string; body: unknown }, error: string, extra: Record<string, unknown> = {}) => ({
  src,
  name,
  ...extra,
  steps: [
    { ...put({ nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' }), status: 201 },
    { ...holder, status: 201 },
    { admin: 'DELETE /apisix/admin/upstreams/1', status: 400, error },
  ],
});

export default {
  area: 'admin/upstreams',
  cases: [
    {
      src: 't/admin/upstream.t#1',
      name: 'set upstream',
      steps: [{ ...put(U, '/apisix/admin/upstreams/admin_up'), status: 201, json: { value: { ...U, create_time: '$number', update_time: '$number' }, key: '/apisix/upstreams/admin_up' } }],
    },
    {
      src: 't/admin/upstream.t#2',
      name: 'get upstream',
      steps: [{ ...put(U, '/apisix/admin/upstreams/admin_up'), status: 201 }, { admin: 'GET /apisix/admin/upstreams/admin_up', status: 200, json: { value: U, key: '/apisix/upstreams/admin_up' } }],
    },
    { src: 't/admin/upstream.t#3', name: 'delete upstream', steps: [{ ...put(U, '/apisix/admin/upstreams/admin_up'), status: 201 }, { admin: 'DELETE /apisix/admin/upstreams/admin_up', status: 200 }] },
    { src: 't/admin/upstream.t#4', name: 'delete upstream(id: not_found)', steps: [{ admin: 'DELETE /apisix/admin/upstreams/not_found', status: 404 }] },
    {
      src: 't/admin/upstream.t#5',
      name: 'push upstream + delete',
      steps: [
        { admin: 'POST /apisix/admin/upstreams', body: UP_8080, status: 201, json: { value: { ...UP_8080, create_time: '$number', update_time: '$number' } }, saveId: 'id' },
        { admin: 'DELETE /apisix/admin/upstreams/{id}', status: 200 },
      ],
    },
    { src: 't/admin/upstream.t#6', name: 'invalid upstream id in uri', steps: [{ ...put(UP_8080, '/apisix/admin/upstreams/invalid_id$'), status: 400 }] },
    { src: 't/admin/upstream.t#7', name: 'different id', steps: [{ ...put({ id: 3, ...UP_8080 }), status: 400, error: 'wrong upstream id' }] },
    { src: 't/admin/upstream.t#8', name: 'id in the rule', steps: [{ ...put({ id: '1', ...UP_8080 }, '/apisix/admin/upstreams'), status: 201, json: { value: UP_8080, key: '/apisix/upstreams/1' } }] },
    {
      src: 't/admin/upstream.t#9',
      name: 'integer id less than 1',
      steps: [{ ...put({ id: -100, ...UP_8080 }, '/apisix/admin/upstreams'), status: 400, error: 'invalid configuration: property "id" validation failed: object matches none of the required' }],
    },
    {
      src: 't/admin/upstream.t#10',
      name: 'invalid upstream id: string value',
      steps: [{ ...put({ id: 'invalid_id$', ...UP_8080 }, '/apisix/admin/upstreams'), status: 400, error: 'invalid configuration: property "id" validation failed: object matches none of the required' }],
    },
    {
      src: 't/admin/upstream.t#11',
      name: 'additional properties is invalid',
      steps: [{ ...put({ id: 1, ...UP_8080, _service_name: 'xyz', _discovery_type: 'nacos' }, '/apisix/admin/upstreams'), status: 400, errorLike: '^invalid configuration: additional properties forbidden, found ' }],
    },
    {
      src: 't/admin/upstream.t#12',
      name: 'set upstream(type: chash)',
      steps: [{ ...put({ key: 'remote_addr', nodes: N, type: 'chash' }), status: 201, json: { value: { key: 'remote_addr', nodes: N, type: 'chash' }, key: '/apisix/upstreams/1' } }],
    },
    {
      src: 't/admin/upstream.t#13',
      name: 'unknown type',
      deliberate:
        'an unknown load-balancing type is refused on write: APISIX stores it and then fails every request through the upstream (no balancer module of that name)',
      steps: [{ ...put({ id: 1, nodes: N, type: 'unknown' }, '/apisix/admin/upstreams'), status: 201 }],
    },
    {
      src: 't/admin/upstream.t#14',
      name: 'invalid weight of node (a string)',
      steps: [{ ...put({ id: 1, nodes: { '127.0.0.1:8080': '1' }, type: 'chash' }, '/apisix/admin/upstreams'), status: 400, error: 'invalid configuration: property "nodes" validation failed: object matches none of the required' }],
    },
    {
      src: 't/admin/upstream.t#15',
      name: 'invalid weight of node (negative)',
      steps: [{ ...put({ id: 1, nodes: { '127.0.0.1:8080': -100 }, type: 'chash' }, '/apisix/admin/upstreams'), status: 400, error: 'invalid configuration: property "nodes" validation failed: object matches none of the required' }],
    },
    { src: 't/admin/upstream.t#16', name: 'set upstream (missing key)', steps: [{ ...put({ nodes: N, type: 'chash' }), status: 400, error: 'missing key' }] },
    { src: 't/admin/upstream.t#17', name: 'wrong upstream id, do not need it (POST /upstreams/1)', steps: [{ admin: 'POST /apisix/admin/upstreams/1', body: UP_8080, status: 400, error: 'wrong upstream id, do not need it' }] },
    { src: 't/admin/upstream.t#18', name: 'wrong upstream id, do not need it (POST with an id)', steps: [{ admin: 'POST /apisix/admin/upstreams', body: { id: 1, ...UP_8080 }, status: 400, error: 'wrong upstream id, do not need it' }] },
    {
      src: 't/admin/upstream.t#19',
      name: 'client_cert/client_key and client_cert_id cannot appear at the same time',
      steps: [{ admin: 'POST /apisix/admin/upstreams', body: { ...UP_8080, tls: { client_cert_id: 1, client_cert: '-----BEGIN CERTIFICATE-----', client_key: '-----BEGIN PRIVATE KEY-----' } }, status: 400 }],
    },
    {
      src: 't/admin/upstream.t#20',
      name: 'tls.client_cert_id does not exist',
      steps: [{ admin: 'POST /apisix/admin/upstreams', body: { ...UP_8080, tls: { client_cert_id: 9999999 } }, status: 400, error: 'failed to fetch ssl info by ssl id [9999999], response code: 404' }],
    },
    { src: 't/admin/upstream.t#22', name: 'type with default value', steps: [{ ...put({ nodes: N, desc: 'new upstream' }, '/apisix/admin/upstreams/admin_up'), status: 201, json: { value: { nodes: N, desc: 'new upstream' } } }] },
    {
      src: 't/admin/upstream.t#23',
      name: 'verify wrong Ipv6',
      steps: [{ admin: 'POST /apisix/admin/upstreams', body: { nodes: [{ host: '::1', port: 80, weight: 1 }], type: 'roundrobin' }, status: 400, error: "invalid configuration: IPv6 address must be enclosed with '[' and ']'" }],
    },

    {
      src: 't/admin/upstream2.t#1',
      name: 'not unwanted data, POST',
      steps: [{ admin: 'POST /apisix/admin/upstreams', body: UP_8080, status: 201, json: { value: { $exact: UP_8080, $ignore: ['create_time', 'update_time', 'id'] } } }],
    },
    {
      src: 't/admin/upstream2.t#2',
      name: 'not unwanted data, PUT',
      steps: [{ ...put(UP_8080, '/apisix/admin/upstreams/unwanted'), status: 201, json: { key: '/apisix/upstreams/unwanted', value: { $exact: { id: 'unwanted', ...UP_8080 }, $ignore: ['create_time', 'update_time'] } } }],
    },
    {
      src: 't/admin/upstream2.t#3',
      name: 'not unwanted data, PATCH',
      steps: [
        { ...put(UP_8080, '/apisix/admin/upstreams/unwanted'), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/unwanted', body: UP_8080, status: 200, json: { key: '/apisix/upstreams/unwanted', value: { $exact: { id: 'unwanted', ...UP_8080 }, $ignore: ['create_time', 'update_time'] } } },
      ],
    },
    {
      src: 't/admin/upstream2.t#4',
      name: 'not unwanted data, GET',
      steps: [
        { ...put(UP_8080, '/apisix/admin/upstreams/unwanted'), status: 201 },
        { admin: 'GET /apisix/admin/upstreams/unwanted', status: 200, json: { key: '/apisix/upstreams/unwanted', value: { $exact: { id: 'unwanted', ...UP_8080 }, $ignore: ['create_time', 'update_time'] } } },
      ],
    },
    {
      src: 't/admin/upstream2.t#5',
      name: 'not unwanted data, DELETE',
      steps: [{ ...put(UP_8080, '/apisix/admin/upstreams/unwanted'), status: 201 }, { admin: 'DELETE /apisix/admin/upstreams/unwanted', status: 200, json: { $exact: { deleted: '1', key: '/apisix/upstreams/unwanted' } } }],
    },
    {
      src: 't/admin/upstream2.t#6-8',
      name: 'empty nodes: stored, referred to, and a request to it answers 503',
      steps: [
        { ...put({ nodes: {}, type: 'roundrobin' }), status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { methods: ['GET'], upstream_id: '1', uri: '/index.html' }, status: 201 },
        { req: 'GET /index.html', status: 503 },
      ],
    },
    {
      src: 't/admin/upstream2.t#9',
      name: 'upstream timeouts equal to zero',
      steps: [
        {
          ...put({ ...UP_8080, timeout: { connect: 0, send: 0, read: 0 } }),
          status: 400,
          errorLike: '^invalid configuration: property "timeout" validation failed: property "(connect|send|read)" validation failed: expected 0 to be greater than 0$',
        },
      ],
    },

    { src: 't/admin/upstream3.t#1', name: 'list empty resources', steps: [{ admin: 'GET /apisix/admin/upstreams', status: 200, json: { $exact: { list: [], total: 0 } } }] },
    {
      src: 't/admin/upstream3.t#2',
      name: 'retry_timeout is -1 (INVALID)',
      steps: [{ ...put({ ...N2, retry_timeout: -1 }, '/apisix/admin/upstreams/a-b-c-ABC_0123'), status: 400, error: 'invalid configuration: property "retry_timeout" validation failed: expected -1 to be at least 0' }],
    },
    {
      src: 't/admin/upstream3.t#4',
      name: 'patch upstream(whole)',
      steps: [{ ...put(N2), status: 201 }, { sleep: 1100 }, { admin: 'PATCH /apisix/admin/upstreams/1', body: U, status: 200, json: { value: U, key: '/apisix/upstreams/1' } }],
    },
    {
      src: 't/admin/upstream3.t#5',
      name: 'patch upstream(new desc)',
      steps: [{ ...put(U), status: 201 }, { admin: 'PATCH /apisix/admin/upstreams/1', body: { desc: 'new 21 upstream' }, status: 200, json: { value: { nodes: N, desc: 'new 21 upstream' } } }],
    },
    {
      src: 't/admin/upstream3.t#6',
      name: 'patch upstream(new nodes)',
      steps: [
        { ...put(U), status: 201 },
        {
          admin: 'PATCH /apisix/admin/upstreams/1',
          body: { nodes: { '127.0.0.1:8081': 3, '127.0.0.1:8082': 4 }, type: 'roundrobin' },
          status: 200,
          json: { value: { nodes: { '127.0.0.1:8080': 1, '127.0.0.1:8081': 3, '127.0.0.1:8082': 4 } } },
        },
      ],
    },
    {
      src: 't/admin/upstream3.t#7',
      name: 'patch upstream(weight is 0)',
      steps: [
        { ...put(U), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/1', body: { nodes: { '127.0.0.1:8081': 3, '127.0.0.1:8082': 0 } }, status: 200, json: { value: { nodes: { '127.0.0.1:8081': 3, '127.0.0.1:8082': 0 } } } },
      ],
    },
    {
      src: 't/admin/upstream3.t#8',
      name: 'patch upstream(whole - sub path)',
      steps: [{ ...put(U), status: 201 }, { admin: 'PATCH /apisix/admin/upstreams/1/', body: { ...UP_8080, desc: 'new upstream 24' }, status: 200, json: { value: { desc: 'new upstream 24' } } }],
    },
    {
      src: 't/admin/upstream3.t#9',
      name: 'patch upstream(new desc - sub path)',
      steps: [{ ...put(U), status: 201 }, { admin: 'PATCH /apisix/admin/upstreams/1/desc', body: '"new 25 upstream"', status: 200, json: { value: { nodes: N, desc: 'new 25 upstream' } } }],
    },
    {
      src: 't/admin/upstream3.t#10',
      name: 'patch upstream(new nodes - sub path)',
      steps: [
        { ...put(U), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/1/nodes', body: { '127.0.0.6:8081': 3, '127.0.0.7:8082': 4 }, status: 200, json: { value: { nodes: { $exact: { '127.0.0.6:8081': 3, '127.0.0.7:8082': 4 } } } } },
      ],
    },
    {
      src: 't/admin/upstream3.t#11',
      name: 'patch upstream(weight is 0 - sub path)',
      steps: [
        { ...put(U), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/1/nodes', body: { '127.0.0.7:8081': 0, '127.0.0.8:8082': 4 }, status: 200, json: { value: { nodes: { $exact: { '127.0.0.7:8081': 0, '127.0.0.8:8082': 4 } } } } },
      ],
    },
    { src: 't/admin/upstream3.t#12', name: 'set upstream(type: chash, key server_name)', steps: [{ ...put({ key: 'server_name', nodes: N, type: 'chash' }), status: 201 }] },
    {
      src: 't/admin/upstream3.t#13',
      name: 'wrong upstream key, hash_on default vars',
      steps: [
        {
          ...put({ nodes: { '127.0.0.1:8080': 1, '127.0.0.1:8081': 2 }, type: 'chash', key: 'not_support', desc: 'new upstream' }),
          status: 400,
          error: `invalid configuration: failed to match pattern "${KEY_RE}" with "not_support"`,
        },
      ],
    },
    { src: 't/admin/upstream3.t#14', name: 'set upstream with args(type: chash)', steps: [{ ...put(chash({ key: 'arg_device_id' })), status: 201 }] },
    { src: 't/admin/upstream3.t#18', name: 'type chash, hash_on: vars', steps: [{ ...put(chash({ key: 'arg_device_id', hash_on: 'vars' })), status: 201 }] },
    { src: 't/admin/upstream3.t#19', name: "type chash, hash_on: header, header name with '_'", steps: [{ ...put(chash({ key: 'custom_header', hash_on: 'header' })), status: 201 }] },
    {
      src: 't/admin/upstream3.t#20',
      name: 'type chash, hash_on: header, header name with invalid character',
      steps: [{ ...put(chash({ key: '$#^@', hash_on: 'header' })), status: 400, error: 'invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "$#^@"' }],
    },
    { src: 't/admin/upstream3.t#21', name: 'type chash, hash_on: cookie', steps: [{ ...put(chash({ key: 'custom_cookie', hash_on: 'cookie' })), status: 201 }] },
    {
      src: 't/admin/upstream3.t#22',
      name: 'type chash, hash_on: cookie, cookie name with invalid character',
      steps: [{ ...put(chash({ key: '$#^@abc', hash_on: 'cookie' })), status: 400, error: 'invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "$#^@abc"' }],
    },
    { src: 't/admin/upstream3.t#23', name: 'type chash, hash_on: consumer, do not need upstream key', steps: [{ ...put(chash({ hash_on: 'consumer' })), status: 201 }] },
    { src: 't/admin/upstream3.t#24', name: 'type chash, hash_on: consumer, set key but invalid', steps: [{ ...put(chash({ hash_on: 'consumer', key: 'invalid-key' })), status: 201 }] },
    {
      src: 't/admin/upstream3.t#25',
      name: 'type chash, invalid hash_on type',
      steps: [{ ...put(chash({ key: 'dsadas', hash_on: 'aabbcc' })), status: 400, error: 'invalid configuration: property "hash_on" validation failed: matches none of the enum values' }],
    },

    {
      src: 't/admin/upstream4.t#1',
      name: 'set upstream(id: 1 + name: test name)',
      steps: [{ ...put({ ...UP_8080, name: 'test upstream name' }), status: 201, json: { value: { name: 'test upstream name' }, key: '/apisix/upstreams/1' } }],
    },
    {
      src: 't/admin/upstream4.t#2,3',
      name: 'string id, and its delete',
      steps: [{ ...put(UP_8080, '/apisix/admin/upstreams/a-b-c-ABC_0123'), status: 201 }, { admin: 'DELETE /apisix/admin/upstreams/a-b-c-ABC_0123', status: 200 }],
    },
    {
      src: 't/admin/upstream4.t#4',
      name: 'invalid string id',
      steps: [{ ...put(UP_8080, '/apisix/admin/upstreams/*invalid'), status: 400, error: 'invalid configuration: property "id" validation failed: object matches none of the required' }],
    },
    { src: 't/admin/upstream4.t#5', name: 'retries is 0', steps: [{ ...put({ ...N2, retries: 0 }, '/apisix/admin/upstreams/a-b-c-ABC_0123'), status: 201 }] },
    {
      src: 't/admin/upstream4.t#6',
      name: 'retries is -1 (INVALID)',
      steps: [{ ...put({ ...N2, retries: -1 }, '/apisix/admin/upstreams/a-b-c-ABC_0123'), status: 400, error: 'invalid configuration: property "retries" validation failed: expected -1 to be at least 0' }],
    },
    {
      src: 't/admin/upstream4.t#7',
      name: 'invalid route: empty `upstream_host` when `pass_host` is `rewrite`',
      steps: [{ ...put({ nodes: { 'apisix.com:8080': 1, 'test.com:8080': 1 }, type: 'roundrobin', pass_host: 'rewrite', upstream_host: '' }), status: 400 }],
    },
    { src: 't/admin/upstream4.t#8', name: 'set upstream(with labels)', steps: [{ ...put({ ...UP_8080, labels: LABELS }), status: 201, json: { value: { nodes: N, labels: LABELS }, key: '/apisix/upstreams/1' } }] },
    {
      src: 't/admin/upstream4.t#9',
      name: 'get upstream(with labels)',
      steps: [{ ...put({ ...UP_8080, labels: LABELS }), status: 201 }, { admin: 'GET /apisix/admin/upstreams/1', status: 200, json: { value: { nodes: N, labels: LABELS } } }],
    },
    {
      src: 't/admin/upstream4.t#10',
      name: 'patch upstream(only labels)',
      steps: [
        { ...put({ ...UP_8080, labels: LABELS }), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/1', body: { labels: { build: '17' } }, status: 200, json: { value: { nodes: N, labels: { version: 'v2', build: '17', env: 'production' } } } },
      ],
    },
    {
      src: 't/admin/upstream4.t#11',
      name: 'invalid format of label value: set upstream',
      steps: [
        {
          ...put({ ...UP_8080, labels: { env: ['production', 'release'] } }),
          status: 400,
          error: 'invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table',
        },
      ],
    },
    {
      src: 't/admin/upstream4.t#12',
      name: 'patch upstream(whole, create_time)',
      steps: [
        { ...put(UP_8080), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/1', body: { ...UP_8080, desc: 'new upstream', create_time: 1705252779 }, status: 200, json: { value: { desc: 'new upstream', create_time: 1705252779 } } },
      ],
    },
    {
      src: 't/admin/upstream4.t#13',
      name: 'patch upstream(whole, update_time)',
      steps: [
        { ...put(UP_8080), status: 201 },
        { admin: 'PATCH /apisix/admin/upstreams/1', body: { ...UP_8080, desc: 'new upstream', update_time: 1705252779 }, status: 200, json: { value: { desc: 'new upstream', update_time: 1705252779 } } },
      ],
    },
    {
      src: 't/admin/upstream4.t#14',
      name: 'create upstream with create_time and update_time',
      steps: [{ ...put({ ...UP_8080, create_time: 1602883670, update_time: 1602893670 }, '/apisix/admin/upstreams/up_create_update_time'), status: 400, errorLike: '^the property is forbidden:' }],
    },
    {
      src: 't/admin/upstream4.t#15',
      name: 'patch upstream with sub_path, the data is number',
      steps: [{ ...put(UP_8080), status: 201 }, { admin: 'PATCH /apisix/admin/upstreams/1/retries', body: '1', status: 200 }],
    },
    {
      src: 't/admin/upstream4.t#16-22',
      name: 'an upstream used by a route and a service is deleted only after them',
      steps: [
        { ...put(UP_8080), status: 201 },
        { admin: 'PUT /apisix/admin/services/1', body: { upstream_id: 1 }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { upstream_id: 1, uri: '/index.html' }, status: 201 },
        { admin: 'DELETE /apisix/admin/upstreams/1', status: 400, error: 'can not delete this upstream, route [1] is still using it now' },
        { admin: 'DELETE /apisix/admin/routes/1', status: 200 },
        { admin: 'DELETE /apisix/admin/services/1', status: 200 },
        { admin: 'DELETE /apisix/admin/upstreams/1', status: 200 },
      ],
    },

    refused('delete upstream when plugin in route still refer it', 't/admin/upstream5.t#4-6', { admin: 'PUT /apisix/admin/routes/1', body: { plugins: SPLIT, upstream: { nodes: { '127.0.0.1:1980': 1 }, type: 'roundrobin' }, uri: '/hello' } }, 'can not delete this upstream, plugin in route [1] is still using it now'),
    refused('delete upstream when plugin in service still refer it', 't/admin/upstream5.t#8,9', { admin: 'PUT /apisix/admin/services/1', body: { plugins: SPLIT } }, 'can not delete this upstream, plugin in service [1] is still using it now'),
    refused('delete upstream when plugin in global_rule still refer it', 't/admin/upstream5.t#11,12', { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: SPLIT } }, 'can not delete this upstream, plugin in global_rules [1] is still using it now'),
    refused('delete upstream when plugin in plugin_config still refer it', 't/admin/upstream5.t#14,15', { admin: 'PUT /apisix/admin/plugin_configs/1', body: { plugins: SPLIT } }, 'can not delete this upstream, plugin in plugin_config [1] is still using it now'),
    refused('delete upstream when plugin in consumer still refer it', 't/admin/upstream5.t#17,18', { admin: 'PUT /apisix/admin/consumers', body: { username: 'test', plugins: { 'key-auth': { key: 'auth-one' }, ...SPLIT } } }, 'can not delete this upstream, plugin in consumer [test] is still using it now'),
    refused(
      'delete upstream when plugin in consumer_group still refer it',
      't/admin/upstream5.t#20,21',
      { admin: 'PUT /apisix/admin/consumer_groups/1', body: { plugins: { 'key-auth': { key: 'auth-one' }, ...SPLIT } } },
      'can not delete this upstream, plugin in consumer_group [1] is still using it now',
      { deliberate: NO_AUTH_IN_GROUPS },
    ),
  ],
} satisfies CaseFile;
