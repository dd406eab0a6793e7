/** apache/apisix t/plugin/limit-conn.t and api-breaker.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route, UP_1980 } from './common.js';

const conn = (conf: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route('/limit_conn', { 'limit-conn': conf }), status });
const C = (n: number, burst: number, extra: Record<string, unknown> = {}) => ({ conn: n, burst, default_conn_delay: 0.1, rejected_code: 503, key: 'remote_addr', ...extra });
/** APISIX's /test_concurrency location: ten requests to /limit_conn (300 ms each) at once. */
const TEN = (counts: Record<number, number>, headers?: Record<string, string>): Step => ({ req: 'GET /limit_conn', parallel: 10, counts, ...(headers ? { headers } : {}) });
const ERR_ONE_OF = 'failed to check the configuration of plugin limit-conn err: value should match only one schema, but matches none';
const ERR_CONN = 'failed to check the configuration of plugin limit-conn err: property "conn" validation failed: value should match only one schema, but matches none';

const breaker = (conf: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route('/api_breaker', { 'api-breaker': conf }), status });
const codes = (seq: Array<number | [number, number]>): Step[] => seq.map((s) => (Array.isArray(s) ? { req: `GET /api_breaker?code=${s[0]}`, status: s[1] } : { req: `GET /api_breaker?code=${s}`, status: s }));
const B599 = { break_response_code: 599, unhealthy: { http_statuses: [500, 503], failures: 3 }, healthy: { http_statuses: [200, 206], successes: 3 } };
const B502 = { break_response_code: 502, unhealthy: { http_statuses: [500, 503], failures: 3 }, healthy: { http_statuses: [200, 206], successes: 3 } };

export default {
  area: 'plugin/limit-conn+api-breaker',
  cases: [
    { src: 't/plugin/limit-conn.t#1', name: 'sanity', steps: [conn(C(1, 0))] },
    { src: 't/plugin/limit-conn.t#2', name: 'wrong value of key (burst missing)', steps: [conn({ conn: 1, default_conn_delay: 0.1, rejected_code: 503, key: 'remote_addr' }, 400)] },
    { src: 't/plugin/limit-conn.t#3,4', name: 'not exceeding the burst', steps: [conn(C(100, 50)), TEN({ 200: 10 })] },
    { src: 't/plugin/limit-conn.t#5,6', name: 'exceeding the burst (conn 2, burst 1)', steps: [conn(C(2, 1)), TEN({ 200: 3, 503: 7 })] },
    { src: 't/plugin/limit-conn.t#7,8', name: 'exceeding the burst (conn 5, burst 1)', steps: [conn(C(5, 1)), TEN({ 200: 6, 503: 4 })] },
    { src: 't/plugin/limit-conn.t#9', name: 'invalid route: missing conn', steps: [{ ...conn({ burst: 1, default_conn_delay: 0.1, rejected_code: 503, key: 'remote_addr' }, 400), error: ERR_ONE_OF }] },
    { src: 't/plugin/limit-conn.t#10', name: 'invalid route: wrong conn', steps: [{ ...conn(C(-1, 1), 400), error: ERR_CONN }] },
    {
      src: 't/plugin/limit-conn.t#11',
      name: 'invalid service: missing conn',
      steps: [{ admin: 'PUT /apisix/admin/services/1', body: { plugins: { 'limit-conn': { burst: 1, default_conn_delay: 0.1, rejected_code: 503, key: 'remote_addr' } }, upstream: UP_1980 }, status: 400, error: ERR_ONE_OF }],
    },
    { src: 't/plugin/limit-conn.t#12', name: 'invalid service: wrong conn', steps: [{ admin: 'PUT /apisix/admin/services/1', body: { plugins: { 'limit-conn': C(-1, 1) }, upstream: UP_1980 }, status: 400, error: ERR_CONN }] },
    { src: 't/plugin/limit-conn.t#13,14', name: 'disable plugin', steps: [conn(C(2, 1)), { admin: 'PUT /apisix/admin/routes/1', body: route('/limit_conn'), status: 200 }, TEN({ 200: 10 })] },
    { src: 't/plugin/limit-conn.t#15', name: 'set route(key: server_addr)', steps: [conn(C(100, 50, { key: 'server_addr' })), TEN({ 200: 10 })] },
    { src: 't/plugin/limit-conn.t#16,17', name: 'key: http_x_real_ip', steps: [conn(C(5, 1, { key: 'http_x_real_ip' })), TEN({ 200: 6, 503: 4 }, { 'x-real-ip': '10.10.10.1' })] },
    { src: 't/plugin/limit-conn.t#18,19', name: 'key: http_x_forwarded_for', steps: [conn(C(5, 1, { key: 'http_x_forwarded_for' })), TEN({ 200: 6, 503: 4 }, { 'x-forwarded-for': '10.10.10.2' })] },
    { src: 't/plugin/limit-conn.t#20', name: 'default rejected_code', steps: [conn({ conn: 100, burst: 50, default_conn_delay: 0.1, key: 'remote_addr' })] },
    {
      src: 't/plugin/limit-conn.t#21,22',
      name: 'global rule with conn = 2: exceeding the burst',
      steps: [
        { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: { 'limit-conn': { conn: 2, burst: 1, default_conn_delay: 0.1, key: 'remote_addr' } } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: route('/limit_conn'), status: 201 },
        TEN({ 200: 3, 503: 7 }),
      ],
    },

    { src: 't/plugin/api-breaker.t#1', name: 'sanity', steps: [breaker({ break_response_code: 502, unhealthy: { http_statuses: [500], failures: 1 }, healthy: { http_statuses: [200], successes: 1 } })] },
    {
      src: 't/plugin/api-breaker.t#2',
      name: 'default configuration',
      steps: [
        breaker({ break_response_code: 502 }),
        { admin: 'GET /apisix/admin/routes/1', status: 200, json: { value: { plugins: { 'api-breaker': { break_response_code: 502 } } } } },
      ],
    },
    {
      src: 't/plugin/api-breaker.t#5',
      name: 'bad break_response_code',
      steps: [{ ...breaker({ ...B502, break_response_code: 199 }, 400), error: 'failed to check the configuration of plugin api-breaker err: property "break_response_code" validation failed: expected 199 to be at least 200' }],
    },
    { src: 't/plugin/api-breaker.t#6', name: 'bad max_breaker_sec', steps: [breaker({ break_response_code: 200, max_breaker_sec: -1 }, 400)] },
    { src: 't/plugin/api-breaker.t#7', name: 'bad unhealthy.http_statuses', steps: [breaker({ ...B502, break_response_code: 200, max_breaker_sec: 40, unhealthy: { http_statuses: [500, 603], failures: 3 } }, 400)] },
    {
      src: 't/plugin/api-breaker.t#8',
      name: 'same http_statuses in healthy',
      steps: [
        {
          ...breaker({ ...B502, break_response_code: 500, healthy: { http_statuses: [206, 206], successes: 3 } }, 400),
          error: 'failed to check the configuration of plugin api-breaker err: property "healthy" validation failed: property "http_statuses" validation failed: expected unique items but items 1 and 2 are equal',
        },
      ],
    },
    { src: 't/plugin/api-breaker.t#9,10', name: 'trigger breaker', steps: [breaker(B599), ...codes([200, 500, 503, 500, [500, 599], [500, 599]])] },
    { src: 't/plugin/api-breaker.t#9,11', name: 'trigger reset status', steps: [breaker(B599), ...codes([500, 500, 200, 200, 200, 500, 500])] },
    {
      src: 't/plugin/api-breaker.t#13-15',
      name: 'defaults; break_response_body and headers when open',
      steps: [
        breaker({
          break_response_code: 502,
          break_response_body: '{"message":"breaker opened."}',
          break_response_headers: [
            { key: 'Content-Type', value: 'application/json' },
            { key: 'Content-Type', value: 'application/json+v1' },
          ],
          unhealthy: { failures: 3 },
          healthy: { successes: 3 },
        }),
        ...codes([200, 500, 503, 500, 500]),
        { req: 'GET /api_breaker?code=500', status: 502, text: '{"message":"breaker opened."}', resHeaders: { 'content-type': 'application/json+v1' } },
      ],
    },
    {
      src: 't/plugin/api-breaker.t#16',
      name: 'unhealthy -> timeout -> normal',
      steps: [breaker(B502), ...codes([500, 500, 500, [200, 502]]), { sleep: 3000 }, ...codes([200, 200, 200, 200, 200])],
    },
    {
      src: 't/plugin/api-breaker.t#17',
      name: 'unhealthy -> timeout -> unhealthy',
      deliberate:
        'after a break, one failing probe opens the breaker again (half-open): APISIX lets another unhealthy.failures requests through to a backend that is still failing',
      steps: [breaker(B502), ...codes([500, 500, 500, [200, 502]]), { sleep: 3000 }, ...codes([500, 500, 500, [500, 502]])],
    },
  ],
} satisfies CaseFile;
