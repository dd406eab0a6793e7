/** apache/apisix t/plugin/request-id.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const rid = (conf: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route('/opentracing', { 'request-id': conf }), status });
const UUID_V4 = '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
const UUID_V7 = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';

export default {
  area: 'plugin/request-id',
  cases: [
    { src: 't/plugin/request-id.t#1', name: 'sanity', steps: [rid({})] },
    { src: 't/plugin/request-id.t#2', name: 'wrong type', steps: [rid({ include_in_response: 'bad_type' }, 400)] },
    { src: 't/plugin/request-id.t#3,4', name: 'request id in response header (default header name)', steps: [rid({}), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: '.' } } }] },
    {
      src: 't/plugin/request-id.t#5',
      name: 'unique id',
      steps: [rid({}), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: UUID_V4 } } }, { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: UUID_V4 } } }],
    },
    { src: 't/plugin/request-id.t#6,7', name: 'custom header name', steps: [rid({ header_name: 'Custom-Header-Name' }), { req: 'GET /opentracing', status: 200, resHeaders: { 'custom-header-name': { $re: '.' } } }] },
    { src: 't/plugin/request-id.t#8,9', name: 'include_in_response false', steps: [rid({ include_in_response: false }), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': null } }] },
    {
      src: 't/plugin/request-id.t#10,11',
      name: 'custom header name in a global rule and the default on the route: two different ids',
      steps: [
        { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: { 'request-id': { header_name: 'Custom-Header-Name' } } }, status: 201 },
        rid({}),
        { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: UUID_V4 }, 'custom-header-name': { $re: UUID_V4 } }, distinctHeaders: ['x-request-id', 'custom-header-name'] },
      ],
    },
    { src: 't/plugin/request-id.t#12', name: 'wrong algorithm type', steps: [rid({ algorithm: 'bad_algorithm' }, 400)] },
    { src: 't/plugin/request-id.t#13,14', name: "echo back the client's header if given", steps: [rid({ include_in_response: true }), { req: 'GET /opentracing', headers: { 'x-request-id': '123' }, status: 200, resHeaders: { 'x-request-id': '123' } }] },
    { src: 't/plugin/request-id.t#15', name: 'algorithm nanoid', steps: [rid({ algorithm: 'nanoid' }), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: '^[A-Za-z0-9_-]{21}$' } } }] },
    { src: 't/plugin/request-id.t#16', name: 'an empty request id in the request gets a new one', steps: [rid({}), { req: 'GET /opentracing', headers: { 'x-request-id': '' }, status: 200, resHeaders: { 'x-request-id': { $re: '.' } } }] },
    { src: 't/plugin/request-id.t#17', name: 'algorithm uuidv7 schema valid', steps: [rid({ algorithm: 'uuidv7' })] },
    { src: 't/plugin/request-id.t#18', name: 'algorithm invalid value rejected', steps: [rid({ algorithm: 'uuidv5' }, 400)] },
    { src: 't/plugin/request-id.t#19,20', name: 'uuid v7 has correct format (version=7, variant=8-b)', steps: [rid({ algorithm: 'uuidv7' }), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: UUID_V7 } } }] },
    { src: 't/plugin/request-id.t#23', name: 'algorithm uuid (default) generates uuid v4', steps: [rid({ algorithm: 'uuid' }), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-request-id': { $re: UUID_V4 } } }] },
    {
      src: 't/plugin/request-id.t#25',
      name: 'algorithm uuidv7 with custom header name',
      steps: [rid({ algorithm: 'uuidv7', header_name: 'X-Trace-Id' }), { req: 'GET /opentracing', status: 200, resHeaders: { 'x-trace-id': { $re: UUID_V7 } } }],
    },
  ],
} satisfies CaseFile;
