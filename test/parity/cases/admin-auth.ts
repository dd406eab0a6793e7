/** apache/apisix t/admin/api.t and t/admin/token.t — Admin API headers and authentication. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const VIEWER = 'viewer-key-0123456789abcdef';
const WITH_VIEWER = { admin: { keys: [{ name: 'viewer', key: VIEWER, role: 'viewer' }] } };
const ROUTE = { upstream: UP_8080, uri: '/index.html' };
const NO_BYPASS = 'the Admin API always requires a key (no admin_key_required: false): an open Admin API is remote code execution on the gateway';
const HEADER_ONLY = 'the admin key is read from the X-API-KEY header only, never the query string (URLs end up in logs)';
const NOT_APISIX = 'Tollgate does not announce itself as APISIX in the Server header';

export default {
  area: 'admin/auth',
  cases: [
    { src: 't/admin/api.t#1', name: 'Server header for admin API', deliberate: NOT_APISIX, steps: [{ admin: 'GET /apisix/admin/routes', status: 200, resHeaders: { server: { $re: '^APISIX/' } } }] },
    {
      src: 't/admin/api.t#2',
      name: 'Server header for admin API without token',
      deliberate: NOT_APISIX,
      steps: [{ admin: 'GET /apisix/admin/routes', key: false, status: 401, resHeaders: { server: 'APISIX' } }],
    },
    { src: 't/admin/api.t#5', name: 'Version header for admin API (v3)', steps: [{ admin: 'GET /apisix/admin/routes', status: 200, resHeaders: { 'x-api-version': 'v3' } }] },
    { src: 't/admin/api.t#6', name: 'CORS header for admin API', steps: [{ admin: 'GET /apisix/admin/routes', status: 200, resHeaders: { 'access-control-allow-origin': '*' } }] },
    { src: 't/admin/api.t#9', name: 'Head method support for admin API', steps: [{ admin: 'HEAD /apisix/admin', key: false, status: 200 }] },
    { src: 't/admin/api.t#10', name: 'Access with api key, and admin_key_required=true', steps: [{ admin: 'GET /apisix/admin/routes', status: 200 }] },
    { src: 't/admin/api.t#11', name: 'Access with wrong api key', steps: [{ admin: 'GET /apisix/admin/routes', headers: { 'x-api-key': 'wrong-key' }, status: 401 }] },
    { src: 't/admin/api.t#12', name: 'Access without api key', steps: [{ admin: 'GET /apisix/admin/routes', key: false, status: 401 }] },
    { src: 't/admin/api.t#14', name: 'Access with wrong api key, but admin_key_required=false', deliberate: NO_BYPASS, steps: [{ admin: 'GET /apisix/admin/routes', headers: { 'x-api-key': 'wrong-key' }, status: 200 }] },
    { src: 't/admin/api.t#15', name: 'Access without api key, but admin_key_required=false', deliberate: NO_BYPASS, steps: [{ admin: 'GET /apisix/admin/routes', key: false, status: 200 }] },

    {
      src: 't/admin/token.t#1',
      name: 'set route without token',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', key: false, body: ROUTE, status: 401, error: 'failed to check token', json: { description: 'missing apikey' } }],
    },
    {
      src: 't/admin/token.t#2',
      name: 'set route with wrong token',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', key: false, headers: { 'x-api-key': 'wrong_key' }, body: ROUTE, status: 401, error: 'failed to check token', json: { description: 'wrong apikey' } }],
    },
    {
      src: 't/admin/token.t#3',
      name: 'set route with correct token (sent as an x_api_key header: nginx folds underscores)',
      deliberate: 'a header name with underscores is not X-API-KEY: nginx folding them lets a proxy that strips X-API-KEY pass x_api_key through',
      steps: [{ admin: 'PUT /apisix/admin/routes/1', key: false, headers: { x_api_key: '$ADMIN_KEY' }, body: ROUTE, status: 201 }],
    },
    { src: 't/admin/token.t#4', name: 'get plugins name without token', steps: [{ admin: 'GET /apisix/admin/plugins/list', key: false, status: 401 }] },
    { src: 't/admin/token.t#5', name: 'reload plugins without token', steps: [{ admin: 'PUT /apisix/admin/plugins/reload', key: false, status: 401 }] },
    { src: 't/admin/token.t#6', name: 'reload plugins with api key (arguments)', deliberate: HEADER_ONLY, steps: [{ admin: 'PUT /apisix/admin/plugins/reload?api_key=$ADMIN_KEY', key: false, status: 200 }] },
    { src: 't/admin/token.t#7', name: 'reload plugins with api key (header)', steps: [{ admin: 'PUT /apisix/admin/plugins/reload', status: 200 }] },
    {
      src: 't/admin/token.t#8',
      name: 'reload plugins with api key (viewer role)',
      config: WITH_VIEWER,
      steps: [{ admin: 'PUT /apisix/admin/plugins/reload', key: false, headers: { 'x-api-key': VIEWER }, status: 401, error: 'failed to check token', json: { description: 'invalid method for role viewer' } }],
    },
    { src: 't/admin/token.t#9', name: 'fetch with a mistyped api key argument (viewer role)', config: WITH_VIEWER, steps: [{ admin: `GET /apisix/admin/routes??api_key=${VIEWER}`, key: false, status: 401 }] },
    {
      src: 't/admin/token.t#10',
      name: 'schema validate without token',
      steps: [{ admin: 'POST /apisix/admin/schema/validate/routes', key: false, body: { uri: '/httpbin/*', upstream: { scheme: 'https', type: 'roundrobin', nodes: { 'nghttp2.org': 1 } } }, status: 401 }],
    },
    {
      src: 't/admin/token.t#11',
      name: 'schema validate with wrong token',
      steps: [
        {
          admin: 'POST /apisix/admin/schema/validate/routes',
          key: false,
          headers: { 'x-api-key': 'wrong_key' },
          body: { uri: '/httpbin/*', upstream: { scheme: 'https', type: 'roundrobin', nodes: { 'nghttp2.org': 1 } } },
          status: 401,
        },
      ],
    },
    {
      src: 't/admin/token.t#12',
      name: 'schema validate with correct token',
      steps: [{ admin: 'POST /apisix/admin/schema/validate/routes', body: { uri: '/httpbin/*', upstream: { scheme: 'https', type: 'roundrobin', nodes: { 'nghttp2.org': 1 } } }, status: 200 }],
    },
  ],
} satisfies CaseFile;
