/**
 * apache/apisix t/admin/credentials.t and consumer-group.t. APISIX's replies show encrypted secrets
 * (data_encryption); that is measured once, by t/admin/consumers.t#2, so here a secret's value is
 * only required to be a string.
 */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';

const CRED = '/apisix/admin/consumers/jack/credentials';
const keyAuth = (key: string, desc?: string) => ({ ...(desc ? { desc } : {}), plugins: { 'key-auth': { key } } });
const putC = (username: string, plugins?: Record<string, unknown>): Step => ({ admin: 'PUT /apisix/admin/consumers', body: { username, ...(plugins ? { plugins } : {}) }, status: 201 });
const JACK = putC('jack');
const LC = (count = 2) => ({ 'limit-count': { count, time_window: 60, rejected_code: 503, key: 'remote_addr' } });
const GROUP = '/apisix/admin/consumer_groups/company_a';
const dupSetup: Step[] = [putC('alex'), putC('bob', { 'key-auth': { key: 'the-key-of-bob' } }), { admin: 'PUT /apisix/admin/consumers/alex/credentials/cred-alex-a', body: keyAuth('the-key-of-alex'), status: 201 }];

export default {
  area: 'admin/credentials+groups',
  cases: [
    { src: 't/admin/credentials.t#1', name: 'create a credential for invalid consumer: consumer not found error', steps: [{ admin: `PUT ${CRED}/credential_a`, body: keyAuth('the-key'), status: 404, error: 'consumer not found' }] },
    {
      src: 't/admin/credentials.t#4',
      name: 'add a credential with key-auth for the consumer jack, should success',
      steps: [
        JACK,
        {
          admin: `PUT ${CRED}/credential_b`,
          body: keyAuth('the-key', 'key-auth for jack'),
          status: 201,
          json: { value: { desc: 'key-auth for jack', id: 'credential_b', plugins: { 'key-auth': { key: '$string' } } }, key: '/apisix/consumers/jack/credentials/credential_b' },
        },
      ],
    },
    {
      src: 't/admin/credentials.t#5',
      name: 'add a credential with a plugin which is not a auth plugin, should fail',
      steps: [
        JACK,
        {
          admin: `PUT ${CRED}/credential_b`,
          body: { desc: 'limit-conn for jack', plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, rejected_code: 503, key_type: 'var', key: 'http_a' } } },
          status: 400,
          error: 'only supports auth type plugins in consumer credential',
        },
      ],
    },
    {
      src: 't/admin/credentials.t#6,7',
      name: 'list consumers (no credentials) and list credentials',
      steps: [
        JACK,
        { admin: `PUT ${CRED}/credential_a`, body: { plugins: { 'jwt-auth': { key: 'user-key', secret: 'my-secret-key' } } }, status: 201 },
        { admin: `PUT ${CRED}/credential_b`, body: keyAuth('the-key'), status: 201 },
        { admin: 'GET /apisix/admin/consumers', status: 200, json: { total: 1, list: [{ key: '/apisix/consumers/jack' }] } },
        { admin: `GET ${CRED}`, status: 200, json: { total: 2, list: [{ key: '/apisix/consumers/jack/credentials/credential_a' }, { key: '/apisix/consumers/jack/credentials/credential_b' }] } },
      ],
    },
    {
      src: 't/admin/credentials.t#8',
      name: 'get a credential',
      steps: [
        JACK,
        { admin: `PUT ${CRED}/credential_b`, body: keyAuth('the-key', 'key-auth for jack'), status: 201 },
        { admin: `GET ${CRED}/credential_b`, status: 200, json: { key: '/apisix/consumers/jack/credentials/credential_b', value: { desc: 'key-auth for jack', plugins: { 'key-auth': { key: 'the-key' } } } } },
      ],
    },
    {
      src: 't/admin/credentials.t#9',
      name: 'update credential: should ok',
      steps: [
        JACK,
        { admin: `PUT ${CRED}/credential_b`, body: keyAuth('the-key'), status: 201 },
        { admin: `PUT ${CRED}/credential_b`, body: keyAuth('new-key', 'new description'), status: 200, json: { key: '/apisix/consumers/jack/credentials/credential_b', value: { desc: 'new description' } } },
      ],
    },
    {
      src: 't/admin/credentials.t#10',
      name: 'delete credential',
      steps: [
        JACK,
        { admin: `PUT ${CRED}/credential_a`, body: { plugins: { 'jwt-auth': { key: 'user-key', secret: 'my-secret-key' } } }, status: 201 },
        { admin: `PUT ${CRED}/credential_b`, body: keyAuth('the-key'), status: 201 },
        { admin: `DELETE ${CRED}/credential_a`, status: 200 },
        { admin: `GET ${CRED}`, status: 200, json: { total: 1, list: [{ key: '/apisix/consumers/jack/credentials/credential_b' }] } },
      ],
    },
    {
      src: 't/admin/credentials.t#11',
      name: 'create a credential has more than one plugin: should not ok',
      steps: [
        JACK,
        {
          admin: `PUT ${CRED}/xxx-yyy-zzz`,
          body: { plugins: { 'key-auth': { key: 'the-key' }, 'jwt-auth': { key: 'user-key', secret: 'my-secret-key' } } },
          status: 400,
          error: 'invalid configuration: property "plugins" validation failed: expect object to have at most 1 properties',
        },
      ],
    },
    {
      src: 't/admin/credentials.t#12,13',
      name: 'list credentials: should get 404 because the consumer is deleted',
      steps: [JACK, { admin: `PUT ${CRED}/credential_b`, body: keyAuth('the-key'), status: 201 }, { admin: 'DELETE /apisix/admin/consumers/jack', status: 200 }, { admin: `GET ${CRED}`, status: 404, message: 'Key not found' }],
    },
    {
      src: 't/admin/credentials.t#15',
      name: 'add a credential (id in the payload but not in uri), should success',
      steps: [
        JACK,
        { admin: `PUT ${CRED}`, body: { id: 'd79a5aa3', ...keyAuth('the-key', 'key-auth for jack') }, status: 201, json: { value: { desc: 'key-auth for jack', id: 'd79a5aa3' }, key: '/apisix/consumers/jack/credentials/d79a5aa3' } },
      ],
    },
    { src: 't/admin/credentials.t#16', name: 'missing id in uri and payload, should fail', steps: [JACK, { admin: `PUT ${CRED}`, body: keyAuth('the-key', 'key-auth for jack'), status: 400, error: 'missing credential id' }] },
    {
      src: 't/admin/credentials.t#19',
      name: 'credential of another consumer duplicates the credential key, should fail',
      steps: [
        ...dupSetup,
        { admin: 'PUT /apisix/admin/consumers/bob/credentials/cred-bob-a', body: keyAuth('the-key-of-alex'), status: 400, error: 'duplicate key of plugin key-auth found with credential: cred-alex-a of consumer: alex' },
      ],
    },
    {
      src: 't/admin/credentials.t#20',
      name: 'credential duplicates the key of another consumer, should fail',
      steps: [...dupSetup, { admin: 'PUT /apisix/admin/consumers/alex/credentials/cred-alex-b', body: keyAuth('the-key-of-bob'), status: 400, error: 'duplicate key of plugin key-auth found with consumer: bob' }],
    },
    {
      src: 't/admin/credentials.t#21',
      name: 'consumer duplicates the key of an existing credential, should fail',
      steps: [
        ...dupSetup,
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'carol', plugins: { 'key-auth': { key: 'the-key-of-alex' } } }, status: 400, error: 'duplicate key of plugin key-auth found with credential: cred-alex-a of consumer: alex' },
      ],
    },
    {
      src: 't/admin/credentials.t#22',
      name: 'update the credential with its own key unchanged, should success',
      steps: [...dupSetup, { admin: 'PUT /apisix/admin/consumers/alex/credentials/cred-alex-a', body: keyAuth('the-key-of-alex', 'new description'), status: 200 }],
    },
    {
      src: 't/admin/credentials.t#23',
      name: 'sibling credential of the same consumer duplicates the key, should fail',
      steps: [
        ...dupSetup,
        { admin: 'PUT /apisix/admin/consumers/alex/credentials/cred-alex-c', body: keyAuth('the-key-of-alex'), status: 400, error: 'duplicate key of plugin key-auth found with credential: cred-alex-a of consumer: alex' },
      ],
    },
    {
      src: 't/admin/credentials.t#24',
      name: 'credential duplicates the key of its own consumer, should fail',
      steps: [...dupSetup, { admin: 'PUT /apisix/admin/consumers/bob/credentials/cred-bob-b', body: keyAuth('the-key-of-bob'), status: 400, error: 'duplicate key of plugin key-auth found with consumer: bob' }],
    },

    {
      src: 't/admin/consumer-group.t#1',
      name: 'PUT',
      steps: [{ admin: `PUT ${GROUP}`, body: { plugins: LC() }, status: 201, json: { value: { plugins: LC(), create_time: '$number', update_time: '$number' }, key: '/apisix/consumer_groups/company_a' } }],
    },
    { src: 't/admin/consumer-group.t#2', name: 'GET', steps: [{ admin: `PUT ${GROUP}`, body: { plugins: LC() }, status: 201 }, { admin: `GET ${GROUP}`, status: 200, json: { value: { plugins: LC() }, key: '/apisix/consumer_groups/company_a' } }] },
    {
      src: 't/admin/consumer-group.t#3',
      name: 'GET all',
      steps: [{ admin: `PUT ${GROUP}`, body: { plugins: LC() }, status: 201 }, { admin: 'GET /apisix/admin/consumer_groups', status: 200, json: { total: 1, list: [{ key: '/apisix/consumer_groups/company_a', value: { plugins: LC() } }] } }],
    },
    {
      src: 't/admin/consumer-group.t#4',
      name: 'PATCH',
      steps: [{ admin: `PUT ${GROUP}`, body: { plugins: LC() }, status: 201 }, { sleep: 1100 }, { admin: `PATCH ${GROUP}`, body: { plugins: LC(3) }, status: 200, json: { value: { plugins: LC(3) } } }],
    },
    {
      src: 't/admin/consumer-group.t#5',
      name: 'PATCH (sub path)',
      steps: [{ admin: `PUT ${GROUP}`, body: { plugins: LC(3) }, status: 201 }, { admin: `PATCH ${GROUP}/plugins`, body: LC(), status: 200, json: { value: { plugins: LC() } } }],
    },
    {
      src: 't/admin/consumer-group.t#6',
      name: 'invalid plugin',
      steps: [
        {
          admin: `PUT ${GROUP}`,
          body: { plugins: { 'limit-count': { rejected_code: 503, time_window: 60, key: 'remote_addr' } } },
          status: 400,
          error: 'failed to check the configuration of plugin limit-count err: value should match only one schema, but matches none',
        },
      ],
    },
    {
      src: 't/admin/consumer-group.t#7,8',
      name: 'PUT and GET (with non-plugin fields)',
      steps: [
        { admin: `PUT ${GROUP}`, body: { plugins: LC(), labels: { 你好: '世界' }, desc: 'blah' }, status: 201, json: { value: { plugins: LC(), labels: { 你好: '世界' }, desc: 'blah' } } },
        { admin: `GET ${GROUP}`, status: 200, json: { value: { plugins: LC(), labels: { 你好: '世界' }, desc: 'blah' } } },
      ],
    },
    {
      src: 't/admin/consumer-group.t#9',
      name: 'invalid non-plugin fields',
      steps: [{ admin: `PUT ${GROUP}`, body: { labels: 'a', plugins: {} }, status: 400, error: 'invalid configuration: property "labels" validation failed: wrong type: expected object, got string' }],
    },
    {
      src: 't/admin/consumer-group.t#10-14',
      name: 'a consumer group in use is deleted only after its consumer',
      steps: [
        { admin: `PUT ${GROUP}`, body: { plugins: LC() }, status: 201 },
        { admin: 'PUT /apisix/admin/consumers/foobar', body: { username: 'foobar', plugins: { 'key-auth': { key: 'auth-two' } }, group_id: 'company_a' }, status: 201 },
        { admin: `DELETE ${GROUP}`, status: 400, error: 'can not delete this consumer group, consumer [foobar] is still using it now' },
        { admin: 'DELETE /apisix/admin/consumers/foobar', status: 200 },
        { admin: `DELETE ${GROUP}`, status: 200 },
      ],
    },
    {
      src: 't/admin/consumer-group.t#15',
      name: 'add consumer with invalid group',
      steps: [
        {
          admin: 'PUT /apisix/admin/consumers/foobar',
          body: { username: 'foobar', plugins: { 'key-auth': { key: 'auth-two' } }, group_id: 'invalid_group' },
          status: 400,
          errorLike: 'failed to fetch consumer group info by consumer group id',
        },
      ],
    },
  ],
} satisfies CaseFile;
