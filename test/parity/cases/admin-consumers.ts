/** apache/apisix t/admin/consumers.t, consumers2.t, global-rules.t, global-rules2.t. */
import type { CaseFile } from '../suite.js';

const putC = (body: unknown, path = '/apisix/admin/consumers') => ({ admin: `PUT ${path}`, body });
const putG = (body: unknown, path = '/apisix/admin/global_rules/1') => ({ admin: `PUT ${path}`, body });
const LABELS = { build: '16', env: 'production', version: 'v2' };
const LC = (count = 2) => ({ 'limit-count': { count, time_window: 60, rejected_code: 503, key: 'remote_addr' } });
const PR = { 'proxy-rewrite': { uri: '/' } };
const keyed = (username: string, key: string) => ({ username, plugins: { 'key-auth': { key } } });
const exactValue = (value: unknown) => ({ $exact: value, $ignore: ['create_time', 'update_time'] });

export default {
  area: 'admin/consumers',
  cases: [
    {
      src: 't/admin/consumers.t#1',
      name: 'add consumer with username',
      steps: [{ ...putC({ username: 'jack', desc: 'new consumer' }), status: 201, json: { value: { username: 'jack', desc: 'new consumer' }, key: '/apisix/consumers/jack' } }],
    },
    {
      src: 't/admin/consumers.t#2',
      name: 'update consumer with username and plugins (the key is encrypted in the reply)',
      steps: [
        { ...putC({ username: 'jack', desc: 'new consumer' }), status: 201 },
        {
          ...putC({ username: 'jack', desc: 'new consumer', plugins: { 'key-auth': { key: 'auth-one' } } }),
          status: 200,
          json: { value: { username: 'jack', desc: 'new consumer', plugins: { 'key-auth': { key: '4y+JvURBE6ZwRbbgaryrhg==' } } }, key: '/apisix/consumers/jack' },
        },
      ],
    },
    {
      src: 't/admin/consumers.t#3',
      name: 'get consumer',
      steps: [
        { ...putC({ username: 'jack', desc: 'new consumer', plugins: { 'key-auth': { key: 'auth-one' } } }), status: 201 },
        { admin: 'GET /apisix/admin/consumers/jack', status: 200, json: { value: { username: 'jack', desc: 'new consumer', plugins: { 'key-auth': { key: 'auth-one' } } }, key: '/apisix/consumers/jack' } },
      ],
    },
    { src: 't/admin/consumers.t#4', name: 'delete consumer', steps: [{ ...putC({ username: 'jack' }), status: 201 }, { admin: 'DELETE /apisix/admin/consumers/jack', status: 200 }] },
    { src: 't/admin/consumers.t#5', name: 'delete consumer(id: not_found)', steps: [{ admin: 'DELETE /apisix/admin/consumers/not_found', status: 404 }] },
    { src: 't/admin/consumers.t#6', name: 'missing username', steps: [{ ...putC({ id: 'jack' }), status: 400, error: 'invalid configuration: property "username" is required' }] },
    { src: 't/admin/consumers.t#7', name: "consumer username allows '-' in it", steps: [{ ...putC({ username: 'Jack-and-Rose_123' }), status: 201 }] },
    {
      src: 't/admin/consumers.t#8',
      name: 'add consumer with labels',
      steps: [{ ...putC({ username: 'jack', desc: 'new consumer', labels: LABELS }), status: 201, json: { value: { username: 'jack', desc: 'new consumer', labels: LABELS }, key: '/apisix/consumers/jack' } }],
    },
    {
      src: 't/admin/consumers.t#9',
      name: 'invalid format of label value: set consumer',
      steps: [
        {
          ...putC({ username: 'jack', desc: 'new consumer', labels: { env: ['production', 'release'] } }),
          status: 400,
          error: 'invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table',
        },
      ],
    },
    { src: 't/admin/consumers.t#10', name: 'post consumers', steps: [{ admin: 'POST /apisix/admin/consumers', body: '', status: 405, error: 'not supported `POST` method for consumer' }] },
    {
      src: 't/admin/consumers.t#11',
      name: 'add consumer with create_time and update_time',
      steps: [{ ...putC({ username: 'pony', desc: 'new consumer', create_time: 1602883670, update_time: 1602893670 }), status: 400, errorLike: '^the property is forbidden:' }],
    },
    {
      src: 't/admin/consumers.t#12,13',
      name: 'add consumer case_b with the same key-auth key, should fail',
      steps: [
        { ...putC(keyed('case_a', 'duplicate-check-key-1')), status: 201 },
        { ...putC(keyed('case_b', 'duplicate-check-key-1')), status: 400, error: 'duplicate key of plugin key-auth found with consumer: case_a' },
      ],
    },
    {
      src: 't/admin/consumers.t#14',
      name: 'add consumer case_b with a different key-auth key, should success',
      steps: [{ ...putC(keyed('case_a', 'duplicate-check-key-1')), status: 201 }, { ...putC(keyed('case_b', 'duplicate-check-key-2')), status: 201 }],
    },
    {
      src: 't/admin/consumers.t#15',
      name: 'update consumer case_a with its own key unchanged, should success',
      steps: [{ ...putC(keyed('case_a', 'duplicate-check-key-1')), status: 201 }, { ...putC({ ...keyed('case_a', 'duplicate-check-key-1'), desc: 'updated description' }), status: 200 }],
    },
    {
      src: 't/admin/consumers.t#17,18',
      name: 'duplicate key against the stored (encrypted) consumer, should fail',
      steps: [
        { ...putC(keyed('enc_case_a', 'duplicate-check-enc-key')), status: 201 },
        { ...putC(keyed('enc_case_b', 'duplicate-check-enc-key')), status: 400, error: 'duplicate key of plugin key-auth found with consumer: enc_case_a' },
      ],
    },
    {
      src: 't/admin/consumers2.t#1',
      name: 'not unwanted data, PUT',
      steps: [{ ...putC({ username: 'jack' }), status: 201, json: { $exact: { key: '/apisix/consumers/jack', value: exactValue({ username: 'jack' }) } } }],
    },
    {
      src: 't/admin/consumers2.t#2',
      name: 'not unwanted data, GET',
      steps: [
        { ...putC({ username: 'jack' }), status: 201 },
        { admin: 'GET /apisix/admin/consumers/jack', status: 200, json: { key: '/apisix/consumers/jack', createdIndex: '$any', modifiedIndex: '$any', value: exactValue({ username: 'jack' }) } },
      ],
    },
    {
      src: 't/admin/consumers2.t#3',
      name: 'not unwanted data, DELETE',
      steps: [{ ...putC({ username: 'jack' }), status: 201 }, { admin: 'DELETE /apisix/admin/consumers/jack', status: 200, json: { $exact: { deleted: '1', key: '/apisix/consumers/jack' } } }],
    },
    { src: 't/admin/consumers2.t#4', name: 'list empty resources', steps: [{ admin: 'GET /apisix/admin/consumers', status: 200, json: { $exact: { list: [], total: 0 } } }] },
    { src: 't/admin/consumers2.t#5', name: 'mismatched username, PUT', steps: [{ ...putC({ username: 'jack' }, '/apisix/admin/consumers/jack1'), status: 400, error: 'wrong username' }] },

    {
      src: 't/admin/global-rules.t#1',
      name: 'set global rules',
      steps: [{ ...putG({ plugins: LC() }), status: 201, json: { value: { plugins: LC(), create_time: '$number', update_time: '$number' }, key: '/apisix/global_rules/1' } }],
    },
    {
      src: 't/admin/global-rules.t#2',
      name: 'get global rules',
      steps: [{ ...putG({ plugins: LC() }), status: 201 }, { admin: 'GET /apisix/admin/global_rules/1', status: 200, json: { value: { plugins: LC() }, key: '/apisix/global_rules/1' } }],
    },
    {
      src: 't/admin/global-rules.t#3',
      name: 'list global rules',
      steps: [{ ...putG({ plugins: LC() }), status: 201 }, { admin: 'GET /apisix/admin/global_rules', status: 200, json: { total: 1, list: [{ key: '/apisix/global_rules/1', value: { plugins: LC() } }] } }],
    },
    {
      src: 't/admin/global-rules.t#4',
      name: 'PATCH global rules',
      steps: [
        { ...putG({ plugins: LC() }), status: 201 },
        { sleep: 1100 },
        { admin: 'PATCH /apisix/admin/global_rules/1', body: { plugins: LC(3) }, status: 200, json: { value: { plugins: LC(3) }, key: '/apisix/global_rules/1' } },
      ],
    },
    {
      src: 't/admin/global-rules.t#5',
      name: 'PATCH global rules (sub path)',
      steps: [{ ...putG({ plugins: LC() }), status: 201 }, { admin: 'PATCH /apisix/admin/global_rules/1/plugins', body: LC(3), status: 200, json: { value: { plugins: LC(3) }, key: '/apisix/global_rules/1' } }],
    },
    { src: 't/admin/global-rules.t#6', name: 'delete global rules', steps: [{ ...putG({ plugins: LC() }), status: 201 }, { admin: 'DELETE /apisix/admin/global_rules/1', status: 200 }] },
    { src: 't/admin/global-rules.t#7', name: 'delete global rules(not_found)', steps: [{ admin: 'DELETE /apisix/admin/global_rules/1', status: 404 }] },
    { src: 't/admin/global-rules.t#8', name: 'set global rules(missing plugins)', steps: [{ ...putG({}), status: 400, error: 'invalid configuration: property "plugins" is required' }] },
    {
      src: 't/admin/global-rules.t#9,10',
      name: 'string id, and its delete',
      steps: [{ ...putG({ plugins: LC() }, '/apisix/admin/global_rules/a-b-c-ABC_0123'), status: 201 }, { admin: 'DELETE /apisix/admin/global_rules/a-b-c-ABC_0123', status: 200 }],
    },
    {
      src: 't/admin/global-rules.t#11',
      name: 'not unwanted data, PUT',
      steps: [{ ...putG({ plugins: PR }), status: 201, json: { $exact: { key: '/apisix/global_rules/1', value: exactValue({ id: '1', plugins: PR }) } } }],
    },
    {
      src: 't/admin/global-rules.t#12',
      name: 'not unwanted data, PATCH',
      steps: [
        { ...putG({ plugins: PR }), status: 201 },
        { admin: 'PATCH /apisix/admin/global_rules/1', body: { plugins: PR }, status: 200, json: { $exact: { key: '/apisix/global_rules/1', value: exactValue({ id: '1', plugins: PR }) } } },
      ],
    },
    {
      src: 't/admin/global-rules.t#13',
      name: 'not unwanted data, GET',
      steps: [
        { ...putG({ plugins: PR }), status: 201 },
        { admin: 'GET /apisix/admin/global_rules/1', status: 200, json: { key: '/apisix/global_rules/1', createdIndex: '$any', modifiedIndex: '$any', value: exactValue({ id: '1', plugins: PR }) } },
      ],
    },
    {
      src: 't/admin/global-rules.t#14',
      name: 'not unwanted data, DELETE',
      steps: [{ ...putG({ plugins: PR }), status: 201 }, { admin: 'DELETE /apisix/admin/global_rules/1', status: 200, json: { $exact: { deleted: '1', key: '/apisix/global_rules/1' } } }],
    },
    {
      src: 't/admin/global-rules.t#15',
      name: 'not unwanted data, PUT with use_real_request_uri_unsafe',
      deliberate: 'Tollgate always forwards the normalized path the route matched: the raw request URI (use_real_request_uri_unsafe) could reach paths no route allows',
      steps: [
        {
          ...putG({ plugins: { 'proxy-rewrite': { uri: '/', use_real_request_uri_unsafe: true } } }),
          status: 201,
          json: { $exact: { key: '/apisix/global_rules/1', value: exactValue({ id: '1', plugins: { 'proxy-rewrite': { uri: '/', use_real_request_uri_unsafe: true } } }) } },
        },
      ],
    },
    { src: 't/admin/global-rules2.t#1', name: 'list empty resources', steps: [{ admin: 'GET /apisix/admin/global_rules', status: 200, json: { $exact: { list: [], total: 0 } } }] },
    {
      src: 't/admin/global-rules2.t#3',
      name: 'list global rules',
      steps: [
        { ...putG({ plugins: PR }), status: 201 },
        { admin: 'GET /apisix/admin/global_rules', status: 200, json: { total: 1, list: { $len: 1 } } },
        { admin: 'GET /apisix/admin/global_rules', status: 200, json: { list: [{ createdIndex: '$any', modifiedIndex: '$any', key: '/apisix/global_rules/1', value: '$object' }] } },
      ],
    },
  ],
} satisfies CaseFile;
