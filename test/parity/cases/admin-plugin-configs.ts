/** apache/apisix t/admin/plugin-configs.t and plugin-metadata.t. */
import type { CaseFile } from '../suite.js';
import { UP_8080 } from './common.js';

const putP = (body: unknown, path = '/apisix/admin/plugin_configs/1') => ({ admin: `PUT ${path}`, body });
const LC = (count = 2, extra: Record<string, unknown> = {}) => ({ 'limit-count': { count, time_window: 60, rejected_code: 503, key: 'remote_addr', ...extra } });
/** APISIX's tests use a test-only `example-plugin`; http-logger's metadata (log_format) stands in for it. */
const META = '/apisix/admin/plugin_metadata/http-logger';
const FORMAT = { log_format: { host: '$host', client_ip: '$remote_addr' } };

export default {
  area: 'admin/plugin_configs',
  cases: [
    {
      src: 't/admin/plugin-configs.t#1',
      name: 'PUT',
      steps: [{ ...putP({ plugins: LC() }), status: 201, json: { value: { plugins: LC(), create_time: '$number', update_time: '$number' }, key: '/apisix/plugin_configs/1' } }],
    },
    { src: 't/admin/plugin-configs.t#2', name: 'GET', steps: [{ ...putP({ plugins: LC() }), status: 201 }, { admin: 'GET /apisix/admin/plugin_configs/1', status: 200, json: { value: { plugins: LC() }, key: '/apisix/plugin_configs/1' } }] },
    {
      src: 't/admin/plugin-configs.t#3',
      name: 'GET all',
      steps: [{ ...putP({ plugins: LC() }), status: 201 }, { admin: 'GET /apisix/admin/plugin_configs', status: 200, json: { total: 1, list: [{ key: '/apisix/plugin_configs/1', value: { plugins: LC() } }] } }],
    },
    {
      src: 't/admin/plugin-configs.t#4',
      name: 'PATCH',
      steps: [{ ...putP({ plugins: LC() }), status: 201 }, { sleep: 1100 }, { admin: 'PATCH /apisix/admin/plugin_configs/1', body: { plugins: LC(3) }, status: 200, json: { value: { plugins: LC(3) } } }],
    },
    {
      src: 't/admin/plugin-configs.t#5',
      name: 'PATCH (sub path)',
      steps: [{ ...putP({ plugins: LC(3) }), status: 201 }, { admin: 'PATCH /apisix/admin/plugin_configs/1/plugins', body: LC(), status: 200, json: { value: { plugins: LC() }, key: '/apisix/plugin_configs/1' } }],
    },
    {
      src: 't/admin/plugin-configs.t#6',
      name: 'invalid plugin',
      steps: [
        {
          ...putP({ plugins: { 'limit-count': { rejected_code: 503, time_window: 60, key: 'remote_addr' } } }),
          status: 400,
          error: 'failed to check the configuration of plugin limit-count err: value should match only one schema, but matches none',
        },
      ],
    },
    {
      src: 't/admin/plugin-configs.t#7,8',
      name: 'PUT and GET (with non-plugin fields)',
      steps: [
        { ...putP({ plugins: LC(), labels: { 你好: '世界' }, desc: 'blah' }), status: 201, json: { value: { plugins: LC(), labels: { 你好: '世界' }, desc: 'blah' } } },
        { admin: 'GET /apisix/admin/plugin_configs/1', status: 200, json: { value: { plugins: LC(), labels: { 你好: '世界' }, desc: 'blah' } } },
      ],
    },
    {
      src: 't/admin/plugin-configs.t#9',
      name: 'invalid non-plugin fields',
      steps: [{ ...putP({ labels: 'a', plugins: {} }), status: 400, error: 'invalid configuration: property "labels" validation failed: wrong type: expected object, got string' }],
    },
    {
      src: 't/admin/plugin-configs.t#10-14',
      name: 'a plugin config used by a route is deleted only after it',
      steps: [
        { ...putP({ plugins: LC() }), status: 201 },
        { admin: 'PUT /apisix/admin/routes/1', body: { plugin_config_id: 1, uri: '/index.html', upstream: UP_8080 }, status: 201 },
        { admin: 'DELETE /apisix/admin/plugin_configs/1', status: 400, error: 'can not delete this plugin config, route [1] is still using it now' },
        { admin: 'DELETE /apisix/admin/routes/1', status: 200 },
        { admin: 'DELETE /apisix/admin/plugin_configs/1', status: 200 },
      ],
    },
    {
      src: 't/admin/plugin-configs.t#15,16',
      name: 'PUT and GET all with limit-count policy=local',
      steps: [
        { ...putP({ plugins: LC(2, { policy: 'local' }) }), status: 201, json: { value: { plugins: LC(2, { policy: 'local' }) } } },
        { admin: 'GET /apisix/admin/plugin_configs', status: 200, json: { total: 1, list: [{ key: '/apisix/plugin_configs/1', value: { plugins: LC(2, { policy: 'local' }) } }] } },
      ],
    },

    {
      src: 't/admin/plugin-metadata.t#1',
      name: 'add plugin metadata',
      note: 'example-plugin is a test-only APISIX plugin; http-logger metadata stands in for it',
      steps: [{ admin: `PUT ${META}`, body: FORMAT, status: 201, json: { value: FORMAT, key: '/apisix/plugin_metadata/http-logger' } }],
    },
    {
      src: 't/admin/plugin-metadata.t#2',
      name: 'update plugin metadata',
      steps: [
        { admin: `PUT ${META}`, body: FORMAT, status: 201 },
        { admin: `PUT ${META}`, body: { log_format: { host: '$host' } }, status: 200, json: { value: { log_format: { host: '$host' } } } },
        { admin: `PUT ${META}`, body: { log_format: { host: '$host' } }, status: 200, json: { value: { log_format: { host: '$host' } } } },
      ],
    },
    { src: 't/admin/plugin-metadata.t#3', name: 'get plugin metadata', steps: [{ admin: `PUT ${META}`, body: FORMAT, status: 201 }, { admin: `GET ${META}`, status: 200, json: { value: FORMAT } }] },
    { src: 't/admin/plugin-metadata.t#4', name: 'delete plugin metadata', steps: [{ admin: `PUT ${META}`, body: FORMAT, status: 201 }, { admin: `DELETE ${META}`, status: 200 }] },
    { src: 't/admin/plugin-metadata.t#5', name: 'delete plugin metadata(key: not_found)', steps: [{ admin: 'DELETE /apisix/admin/plugin_metadata/not_found', status: 404 }] },
    { src: 't/admin/plugin-metadata.t#6', name: 'missing plugin name', steps: [{ admin: 'PUT /apisix/admin/plugin_metadata', body: { k: 'v' }, status: 400, error: 'missing plugin name' }] },
    { src: 't/admin/plugin-metadata.t#7', name: 'invalid plugin name', steps: [{ admin: 'PUT /apisix/admin/plugin_metadata/test', body: { k: 'v' }, status: 400, error: 'invalid plugin name' }] },
    {
      src: 't/admin/plugin-metadata.t#8',
      name: 'verify metadata schema fail',
      steps: [{ admin: `PUT ${META}`, body: { log_format: 'x' }, status: 400, errorLike: '^invalid configuration: property "log_format" validation failed' }],
    },
    {
      src: 't/admin/plugin-metadata.t#9',
      name: 'not unwanted data, PUT',
      steps: [{ admin: `PUT ${META}`, body: FORMAT, status: 201, json: { $exact: { key: '/apisix/plugin_metadata/http-logger', value: { id: 'http-logger', ...FORMAT } } } }],
    },
    {
      src: 't/admin/plugin-metadata.t#10',
      name: 'not unwanted data, GET',
      steps: [
        { admin: `PUT ${META}`, body: FORMAT, status: 201 },
        { admin: `GET ${META}`, status: 200, json: { $exact: { key: '/apisix/plugin_metadata/http-logger', value: { id: 'http-logger', ...FORMAT } }, $ignore: ['createdIndex', 'modifiedIndex'] } },
      ],
    },
    {
      src: 't/admin/plugin-metadata.t#11',
      name: 'not unwanted data, DELETE',
      steps: [{ admin: `PUT ${META}`, body: FORMAT, status: 201 }, { admin: `DELETE ${META}`, status: 200, json: { $exact: { deleted: '1', key: '/apisix/plugin_metadata/http-logger' } } }],
    },
  ],
} satisfies CaseFile;
