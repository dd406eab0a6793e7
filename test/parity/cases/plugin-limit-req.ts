/** apache/apisix t/plugin/limit-req.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const lr = (conf: Record<string, unknown>, extra: Record<string, unknown> = { desc: 'upstream_node' }, status = 201): Step => ({
  admin: 'PUT /apisix/admin/routes/1',
  body: route('/hello', { 'limit-req': conf }, extra),
  status,
});
const hello = (status: number[], headers?: Record<string, string>): Step => ({ req: 'GET /hello', repeat: status.length, status, ...(headers ? { headers } : {}) });
const consumer = (rate: number, burst: number, status = 201): Step => ({
  admin: 'PUT /apisix/admin/consumers',
  body: { username: 'new_consumer', plugins: { 'key-auth': { key: 'auth-jack' }, 'limit-req': { rate, burst, rejected_code: 403, key: 'consumer_name' } } },
  status,
});
const KEY_AUTH_ROUTE: Step = { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'key-auth': {} }, { desc: 'upstream_node' }), status: 201 };

export default {
  area: 'plugin/limit-req',
  cases: [
    { src: 't/plugin/limit-req.t#1', name: 'sanity', steps: [lr({ rate: 1, burst: 0, rejected_code: 503, key: 'remote_addr' })] },
    { src: 't/plugin/limit-req.t#2', name: 'wrong value of key (rate missing)', steps: [{ ...lr({ burst: 0, rejected_code: 503, key: 'remote_addr' }, {}, 400) }] },
    { src: 't/plugin/limit-req.t#3,4', name: 'not exceeding the burst', steps: [lr({ rate: 4, burst: 2, rejected_code: 503, key: 'remote_addr' }), hello([200, 200, 200, 200])] },
    { src: 't/plugin/limit-req.t#5,6', name: 'exceeding the burst', steps: [lr({ rate: 0.1, burst: 0.1, rejected_code: 503, key: 'remote_addr' }, {}), hello([200, 503, 503, 503])] },
    {
      src: 't/plugin/limit-req.t#7',
      name: 'wrong type',
      steps: [{ ...lr({ rate: -1, burst: 0.1, rejected_code: 503, key: 'remote_addr' }, {}, 400), error: 'failed to check the configuration of plugin limit-req err: property "rate" validation failed: expected -1 to be greater than 0' }],
    },
    {
      src: 't/plugin/limit-req.t#8,9',
      name: 'disable plugin',
      steps: [lr({ rate: 0.1, burst: 0.1, rejected_code: 503, key: 'remote_addr' }, {}), hello([200, 503]), { admin: 'PUT /apisix/admin/routes/1', body: route('/hello'), status: 200 }, hello([200, 200, 200, 200])],
    },
    { src: 't/plugin/limit-req.t#10', name: 'set route (key: server_addr)', steps: [lr({ rate: 4, burst: 2, rejected_code: 503, key: 'server_addr' }), hello([200])] },
    { src: 't/plugin/limit-req.t#11', name: 'default rejected_code', steps: [lr({ rate: 4, burst: 2, key: 'remote_addr' }), { admin: 'GET /apisix/admin/routes/1', status: 200 }] },
    { src: 't/plugin/limit-req.t#12-14', name: 'consumer binds limit-req, key consumer_name: not exceeding the burst', steps: [consumer(3, 2), KEY_AUTH_ROUTE, hello([200, 200, 200], { apikey: 'auth-jack' })] },
    { src: 't/plugin/limit-req.t#15,16', name: 'consumer binds limit-req: exceeding the burst', steps: [consumer(0.1, 0.1), KEY_AUTH_ROUTE, hello([200, 403, 403, 403], { apikey: 'auth-jack' })] },
    { src: 't/plugin/limit-req.t#17,18', name: '"consumer_name" is empty: the client IP is used instead', steps: [lr({ rate: 2, burst: 1, key: 'consumer_name' }), { req: 'GET /hello', status: 200, text: 'hello world\n' }] },
    {
      src: 't/plugin/limit-req.t#21',
      name: 'check_schema failed (the `rate` attribute is equal to 0)',
      steps: [{ ...lr({ rate: 0, burst: 0, rejected_code: 503, key: 'remote_addr' }, {}, 400), errorLike: 'property "rate" validation failed: expected 0 to be greater than 0' }],
    },
  ],
} satisfies CaseFile;
