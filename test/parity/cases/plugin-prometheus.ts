/**
 * apache/apisix t/plugin/prometheus.t. APISIX serves metrics on its export server
 * (127.0.0.1:9091, or through public-api); Tollgate's exporter listener stands in for it. The
 * cases that read metrics run with `metrics.names: apisix`, Tollgate's option for APISIX's names
 * and labels (`apisix_*`).
 */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route, UP_1980 } from './common.js';

const APISIX_NAMES = { metrics: { names: 'apisix' } };
const ROUTE: Step = { admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { prometheus: {} }, { methods: ['GET'] }), status: 201 };
const LABELS = (route: string, service = '') => `route="${route}",service="${service}",consumer="",node="127.0.0.1",request_type="traditional_http",request_llm_model="",llm_model=""`;
const hits = (paths: Array<[string, number]>): Step[] => paths.map(([p, s]) => ({ req: `GET ${p}`, status: s }));

export default {
  area: 'plugin/prometheus',
  cases: [
    { src: 't/plugin/prometheus.t#1', name: 'sanity', steps: [ROUTE] },
    { src: 't/plugin/prometheus.t#4', name: 'request from client (all hit)', steps: [ROUTE, ...hits([['/hello', 200], ['/hello', 200], ['/hello', 200], ['/hello', 200]])] },
    {
      src: 't/plugin/prometheus.t#5,6',
      name: 'egress bandwidth per route',
      config: APISIX_NAMES,
      steps: [ROUTE, ...hits([['/hello1', 404], ['/hello', 200], ['/hello2', 404], ['/hello', 200]]), { metrics: true, has: [`^apisix_bandwidth\\{type="egress",${LABELS('1')}\\} \\d+`] }],
    },
    {
      src: 't/plugin/prometheus.t#8-11',
      name: 'request latency count per route',
      config: APISIX_NAMES,
      steps: [ROUTE, ...hits([['/hello', 200], ['/not_found', 404], ['/hello', 200]]), { metrics: true, has: [`^apisix_http_latency_count\\{type="request",${LABELS('1')}\\} \\d+`] }],
    },
    {
      src: 't/plugin/prometheus.t#12-15',
      name: 'a route of a service carries the service label',
      config: APISIX_NAMES,
      steps: [
        { admin: 'PUT /apisix/admin/services/1', body: { plugins: { prometheus: {} }, upstream: UP_1980 }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/2', body: { service_id: 1, uri: '/hello1' }, status: 201 },
        ...hits([['/hello1', 200], ['/not_found', 404], ['/hello1', 200]]),
        { metrics: true, has: [`^apisix_bandwidth\\{type="egress",${LABELS('2', '1')}\\} \\d+`] },
      ],
    },
    {
      src: 't/plugin/prometheus.t#19-21',
      name: 'prometheus in a global rule: http_status with matched_uri',
      config: APISIX_NAMES,
      steps: [
        { admin: 'PUT /apisix/admin/global_rules/1', body: { plugins: { prometheus: {} } }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/3', body: { methods: ['GET'], upstream: UP_1980, uri: '/hello3' }, status: 201 },
        ...hits([['/hello3', 404], ['/hello3', 404]]),
        {
          metrics: true,
          has: ['^apisix_http_status\\{code="404",route="3",matched_uri="/hello3",matched_host="",service="",consumer="",node="127.0.0.1",request_type="traditional_http",request_llm_model="",llm_model="",response_source="[^"]*"\\} 2'],
        },
      ],
    },
    { src: 't/plugin/prometheus.t#22', name: 'apisix latency buckets', config: APISIX_NAMES, steps: [ROUTE, ...hits([['/hello', 200]]), { metrics: true, has: ['^apisix_http_latency_bucket\\{type="apisix"'] }] },
    {
      src: 't/plugin/prometheus.t#23-26',
      name: 'apisix latency below 500 ms while the upstream takes a second',
      config: APISIX_NAMES,
      steps: [
        { admin: 'PUT /apisix/admin/services/3', body: { plugins: { prometheus: {} }, upstream: UP_1980 }, status: 201 },
        { admin: 'PUT /apisix/admin/routes/4', body: { service_id: 3, uri: '/mysleep' }, status: 201 },
        ...hits([['/mysleep?seconds=1', 200]]),
        { metrics: true, has: ['^apisix_http_latency_bucket\\{type="apisix".*service="3".*le="500'] },
      ],
    },
    { src: 't/plugin/prometheus.t#40', name: 'node info with the hostname', config: APISIX_NAMES, steps: [ROUTE, { metrics: true, has: ['^apisix_node_info\\{hostname=".*"'] }] },
    { src: 't/plugin/prometheus.t#41', name: "no etcd metrics when etcd is not used", steps: [ROUTE, ...hits([['/hello', 200]]), { metrics: true, has: ['apisix_'], lacks: ['etcd'] }], config: APISIX_NAMES },
  ],
} satisfies CaseFile;
