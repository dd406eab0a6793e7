/** apache/apisix t/plugin/response-rewrite.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route, UP_1980 } from './common.js';

const rr = (conf: Record<string, unknown>, uri = '/with_header', status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route(uri, { 'response-rewrite': conf }), status });
const rrUris = (conf: Record<string, unknown>, uris: string[]): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: { plugins: { 'response-rewrite': conf }, upstream: UP_1980, uris }, status: 201 });
const SET = { headers: { 'X-Server-id': 3, 'X-Server-status': 'on', 'Content-Type': '' }, body: 'new body\n' };

export default {
  area: 'plugin/response-rewrite',
  cases: [
    { src: 't/plugin/response-rewrite.t#1', name: 'add plugin', steps: [rr({ body: 'Hello world', headers: { 'X-Server-id': 3 } })] },
    { src: 't/plugin/response-rewrite.t#2', name: 'add plugin with wrong status_code', steps: [{ ...rr({ status_code: 599 }, '/hello', 400), errorLike: 'property "status_code" validation failed: expected 599 to be at most 598' }] },
    { src: 't/plugin/response-rewrite.t#3', name: 'add plugin fail', steps: [{ ...rr({ body: 2, headers: { 'X-Server-id': '3' } }, '/hello', 400), errorLike: 'property "body" validation failed: wrong type: expected string, got number' }] },
    {
      src: 't/plugin/response-rewrite.t#4,5',
      name: 'rewrite header and body; a header set to "" is deleted',
      steps: [rr(SET), { req: 'GET /with_header', status: 200, text: 'new body\n', resHeaders: { 'content-type': null, 'x-server-status': 'on', 'x-server-id': '3' } }],
    },
    {
      src: 't/plugin/response-rewrite.t#6,7',
      name: 'set body only and keep header the same',
      steps: [
        rr({ body: 'new body2\n' }),
        {
          req: 'GET /with_header',
          headers: { 'resp-x-server-id': '100', 'resp-content-type': 'application/xml', 'resp-last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'resp-etag': '"33a64df551425fcc55e4d42a148795d9f25f89d4"' },
          status: 200,
          text: 'new body2\n',
          resHeaders: { 'x-server-id': '100', 'content-type': 'application/xml', 'last-modified': null, etag: null },
        },
      ],
    },
    { src: 't/plugin/response-rewrite.t#8,9', name: 'set location header with 302 code', steps: [rr({ headers: { Location: 'https://www.iresty.com' }, status_code: 302 }, '/hello'), { req: 'GET /hello', status: 302, resHeaders: { location: 'https://www.iresty.com' } }] },
    { src: 't/plugin/response-rewrite.t#10', name: 'empty string in header field', steps: [{ ...rr({ status_code: 200, headers: { '': 2 } }, '/hello', 400), errorLike: 'invalid field length in header' }] },
    { src: 't/plugin/response-rewrite.t#11', name: 'array in header value', steps: [{ ...rr({ status_code: 200, headers: { 'X-Name': {} } }, '/hello', 400), errorLike: 'invalid type as header value' }] },
    { src: 't/plugin/response-rewrite.t#12,13', name: 'set body in base64', steps: [rr({ body: 'SGVsbG8K', body_base64: true }, '/hello'), { req: 'GET /hello', status: 200, text: 'Hello\n' }] },
    { src: 't/plugin/response-rewrite.t#14', name: 'set body with not well formed base64', steps: [{ ...rr({ body: '1', body_base64: true }, '/hello', 400), errorLike: 'invalid base64 content' }] },
    {
      src: 't/plugin/response-rewrite.t#15',
      name: 'the plugin conf is stored without dirty data',
      steps: [rr(SET), { admin: 'GET /apisix/admin/routes/1', status: 200, json: { value: { plugins: { $exact: { 'response-rewrite': { body: 'new body\n', headers: { 'Content-Type': '', 'X-Server-id': 3, 'X-Server-status': 'on' } } } } } } }],
    },
    { src: 't/plugin/response-rewrite.t#16', name: 'add validate vars', steps: [rr({ vars: [['status', '==', 200]] }, '/hello')] },
    { src: 't/plugin/response-rewrite.t#17', name: 'add plugin with invalidate vars', steps: [{ ...rr({ vars: [[]] }, '/hello', 400), errorLike: "failed to validate the 'vars' expression: rule too short" }] },
    {
      src: 't/plugin/response-rewrite.t#18,19',
      name: 'http status code as expr: a match is rewritten',
      steps: [rrUris({ body: 'new body3\n', status_code: 403, vars: [['status', '==', 500]] }, ['/server_error', '/hello']), { req: 'GET /server_error', status: 403, text: 'new body3\n' }],
    },
    {
      src: 't/plugin/response-rewrite.t#18,20',
      name: 'http status code as expr: no match, no rewrite',
      steps: [rrUris({ body: 'new body3\n', status_code: 403, vars: [['status', '==', 500]] }, ['/server_error', '/hello']), { req: 'GET /hello', status: 200, text: 'hello world\n' }],
    },
    { src: 't/plugin/response-rewrite.t#21', name: 'an empty body with body_base64 true', steps: [{ ...rr({ body: '', body_base64: true }, '/hello', 400), errorLike: 'invalid base64 content' }] },
    { src: 't/plugin/response-rewrite.t#22', name: 'no body with body_base64 true', steps: [{ ...rr({ body_base64: true }, '/hello', 400), errorLike: 'invalid base64 content' }] },
    {
      src: 't/plugin/response-rewrite.t#23,24',
      name: 'rewrite header with variables',
      steps: [rr({ headers: { 'X-A': '$remote_addr', 'X-B': 'from $remote_addr to $balancer_ip:$balancer_port' } }), { req: 'GET /with_header', status: 200, resHeaders: { 'x-a': '127.0.0.1', 'x-b': 'from 127.0.0.1 to 127.0.0.1:1980' } }],
    },
    { src: 't/plugin/response-rewrite.t#25,26', name: 'set empty body', steps: [rr({ body: '' }, '/hello'), { req: 'GET /hello', status: 200, text: '' }] },
    { src: 't/plugin/response-rewrite.t#27', name: 'add header with one word', steps: [rrUris({ headers: { add: ['X-Server-test:a'] } }, ['/hello']), { req: 'GET /hello', status: 200, resHeaders: { 'x-server-test': 'a' } }] },
    {
      src: 't/plugin/response-rewrite.t#28,29',
      name: 'the response body is truncated to max_resp_body_size before filtering',
      deliberate:
        'a body larger than max_resp_body_size aborts the response rather than being cut short: a client would take the truncated body, sent as complete, for the whole answer',
      steps: [rrUris({ max_resp_body_size: 5, filters: [{ regex: 'hello', scope: 'once', replace: 'HELLO' }] }, ['/hello']), { req: 'GET /hello', status: 200, text: 'HELLO' }],
    },
  ],
} satisfies CaseFile;
