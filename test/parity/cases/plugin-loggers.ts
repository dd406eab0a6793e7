/**
 * apache/apisix t/plugin/http-logger.t, http-logger-log-format.t, file-logger.t. APISIX's logger
 * tests read the collector's file (vector on 127.0.0.1:3001) or error.log; here the collector is a
 * real server whose received batches are checked, and file-logger paths are under a temp dir.
 */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const hl = (conf: Record<string, unknown>, uri = '/hello', status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route(uri, { 'http-logger': conf }), status });
const BATCH = { max_retry_count: 1, retry_delay: 2, buffer_duration: 2, inactive_timeout: 2 };
const TO_VECTOR = (extra: Record<string, unknown>) => ({ uri: 'http://127.0.0.1:3001', batch_max_size: 1, ...BATCH, ...extra });
const META_HL: Step = { admin: 'PUT /apisix/admin/plugin_metadata/http-logger', body: { log_format: { host: '$host', client_ip: '$remote_addr' } }, status: 201 };
const fl = (conf: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'file-logger': conf }), status });
const META_FL = (body: Record<string, unknown>): Step => ({ admin: 'PUT /apisix/admin/plugin_metadata/file-logger', body, status: 201 });
const HELLO: Step = { req: 'GET /hello', status: 200 };

export default {
  area: 'plugin/loggers',
  cases: [
    { src: 't/plugin/http-logger.t#1', name: 'sanity', steps: [hl({ uri: 'http://127.0.0.1' })] },
    {
      src: 't/plugin/http-logger.t#2',
      name: 'full schema check',
      steps: [hl({ uri: 'http://127.0.0.1', auth_header: 'Basic 123', timeout: 3, name: 'http-logger', max_retry_count: 2, retry_delay: 2, buffer_duration: 2, inactive_timeout: 2, batch_max_size: 500, ssl_verify: false })],
    },
    { src: 't/plugin/http-logger.t#3', name: 'uri is missing', steps: [{ ...hl({ auth_header: 'Basic 123', timeout: 3, batch_max_size: 500 }, '/hello', 400), errorLike: 'property "uri" is required' }] },
    {
      src: 't/plugin/http-logger.t#4,5',
      name: 'the batch is sent to the configured uri',
      steps: [hl({ uri: 'http://127.0.0.1:1982/hello', batch_max_size: 1, ...BATCH }, '/opentracing'), { req: 'GET /opentracing', status: 200, text: 'opentracing\n' }, { logSent: '/hello', json: { route_id: '1' } }],
    },
    {
      src: 't/plugin/http-logger.t#12,13',
      name: 'batch max size two: both entries in one batch',
      steps: [hl({ uri: 'http://127.0.0.1:1982/echo', batch_max_size: 2, ...BATCH }, '/hello1'), { req: 'GET /hello1', status: 200 }, { req: 'GET /hello1', status: 200 }, { logSent: '/echo', entries: 2 }],
    },
    { src: 't/plugin/http-logger.t#14,15', name: 'a collector that cannot be reached does not affect the request', steps: [hl({ uri: 'http://127.0.0.1:9991/echo', batch_max_size: 1, ...BATCH }, '/hello1'), { req: 'GET /hello1', status: 200, text: 'hello1 world\n' }] },
    {
      src: 't/plugin/http-logger.t#16',
      name: 'check uri: bad ones refused, good ones accepted',
      steps: [
        hl({ uri: '127.0.0.1' }, '/hello', 400),
        hl({ uri: '127.0.0.1:1024' }, '/hello', 400),
        ...['http://127.0.0.1:1024/x?aa=b', 'http://127.0.0.1:1024?aa=b', 'http://127.0.0.1:1024', 'http://x.con', 'https://x.con'].map((uri, i) => ({ ...hl({ uri }), status: i === 0 ? 201 : 200 })),
      ],
    },
    {
      src: 't/plugin/http-logger-log-format.t#1-3',
      name: 'metadata log_format, new_line: the entry carries route_id',
      steps: [META_HL, hl(TO_VECTOR({ concat_method: 'new_line' })), HELLO, { logSent: '/', on: 3001, json: { route_id: '1', host: 'localhost', client_ip: '127.0.0.1' } }],
    },
    {
      src: 't/plugin/http-logger-log-format.t#6,7',
      name: 'metadata log_format, concat_method json: the entry carries route_id',
      steps: [META_HL, hl(TO_VECTOR({ concat_method: 'json' })), HELLO, { logSent: '/', on: 3001, json: { route_id: '1' } }],
    },
    {
      src: 't/plugin/http-logger-log-format.t#8,9',
      name: 'batch_max_size=2 and concat_method json: two entries in one array',
      steps: [META_HL, hl(TO_VECTOR({ concat_method: 'json', batch_max_size: 2 })), HELLO, HELLO, { logSent: '/', on: 3001, entries: 2, json: { host: 'localhost' } }],
    },
    {
      src: 't/plugin/http-logger-log-format.t#12,13',
      name: 'default log format carries the consumer',
      steps: [
        { admin: 'PUT /apisix/admin/consumers', body: { username: 'jack', plugins: { 'key-auth': { key: 'auth-one' } } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'http-logger': TO_VECTOR({}), 'key-auth': {} }), status: 201 },
        { req: 'GET /hello', headers: { apikey: 'auth-one' }, status: 200 },
        { logSent: '/', on: 3001, json: { consumer: { username: 'jack' } } },
      ],
    },
    {
      src: 't/plugin/http-logger-log-format.t#17,18',
      name: 'log format in plugin',
      steps: [hl(TO_VECTOR({ concat_method: 'new_line', log_format: { x_ip: '$remote_addr' } })), HELLO, { logSent: '/', on: 3001, json: { x_ip: '127.0.0.1' } }],
    },

    { src: 't/plugin/file-logger.t#1', name: 'sanity: path set', steps: [fl({ path: '$TMP/file.log' })] },
    {
      src: 't/plugin/file-logger.t#1',
      name: 'sanity: path set neither in the plugin conf nor in the metadata',
      steps: [{ ...fl({}, 400), errorLike: 'property "path" is not set in either the plugin conf or the metadata' }],
    },
    {
      src: 't/plugin/file-logger.t#2-4',
      name: 'metadata log_format: the line carries client_ip and route_id',
      steps: [META_FL({ log_format: { host: '$host', client_ip: '$remote_addr' } }), fl({ path: '$TMP/file.log' }), HELLO, { fileLog: '$TMP/file.log', json: { client_ip: '127.0.0.1', route_id: '1' } }],
    },
    {
      src: 't/plugin/file-logger.t#6,7',
      name: 'log format in plugin: the line carries client_ip and route_id',
      steps: [fl({ path: '$TMP/file.log', log_format: { host: '$host', client_ip: '$remote_addr' } }), HELLO, { fileLog: '$TMP/file.log', json: { client_ip: '127.0.0.1', route_id: '1' } }],
    },
    {
      src: 't/plugin/file-logger.t#8,9',
      name: 'the log_format in the plugin wins over the one in plugin metadata',
      steps: [META_FL({ log_format: { host: '$host' } }), fl({ path: '$TMP/file.log', log_format: { host: '$host', client_ip: '$remote_addr' } }), HELLO, { fileLog: '$TMP/file.log', json: { client_ip: '127.0.0.1' } }],
    },
    {
      src: 't/plugin/file-logger.t#10,11',
      name: 'nested log format in plugin',
      steps: [
        fl({
          path: '$TMP/file-logger-nested.log',
          log_format: { host: '$host', client_ip: '$remote_addr', request: { method: '$request_method', uri: '$request_uri', headers: { user_agent: '$http_user_agent' } }, response: { status: '$status' } },
        }),
        { req: 'GET /hello', headers: { host: '127.0.0.1', 'user-agent': 'lua-resty-http' }, status: 200 },
        { fileLog: '$TMP/file-logger-nested.log', json: { host: '127.0.0.1', client_ip: '127.0.0.1', request: { method: 'GET', uri: '/hello', headers: { user_agent: '$string' } }, response: { status: 200 }, route_id: '1' } },
      ],
    },
    {
      src: 't/plugin/file-logger.t#13,14',
      name: 'use metadata path when plugin config does not set it',
      steps: [META_FL({ path: '$TMP/file-from-metadata.log' }), fl({}), HELLO, { fileLog: '$TMP/file-from-metadata.log', json: { route_id: '1' } }],
    },
    {
      src: 't/plugin/file-logger.t#15,16',
      name: 'log_format_extra enriches the default log without replacing it',
      steps: [
        META_FL({ path: '$TMP/file-logger-extra.log', log_format_extra: { upstream_host: '$upstream_unresolved_host' } }),
        fl({}),
        HELLO,
        { fileLog: '$TMP/file-logger-extra.log', json: { upstream_host: '127.0.0.1', response: { status: 200 } } },
      ],
    },
    {
      src: 't/plugin/file-logger.t#19,20',
      name: 'log_format wins and log_format_extra is ignored when both are set',
      steps: [
        fl({ path: '$TMP/file-logger-precedence.log', log_format: { msg: 'precedence test' }, log_format_extra: { upstream_host: '$upstream_unresolved_host' } }),
        HELLO,
        { fileLog: '$TMP/file-logger-precedence.log', json: { msg: 'precedence test', upstream_host: null, request: null, response: null } },
      ],
    },
    {
      src: 't/plugin/file-logger.t#3,4',
      name: 'default entry: APISIX log fields',
      steps: [
        fl({ path: '$TMP/file.log' }),
        HELLO,
        {
          fileLog: '$TMP/file.log',
          json: { client_ip: '127.0.0.1', route_id: '1', request: { method: 'GET', uri: '/hello', url: '$string', headers: '$object', size: '$number' }, response: { status: 200, headers: '$object', size: '$number' }, start_time: '$number', latency: '$number' },
        },
      ],
    },
  ],
} satisfies CaseFile;
