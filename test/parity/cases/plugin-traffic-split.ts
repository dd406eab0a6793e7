/** apache/apisix t/plugin/traffic-split.t. */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';

const UP = (port: number, weight = 1) => ({ type: 'roundrobin', nodes: { [`127.0.0.1:${port}`]: weight } });
const ts = (conf: Record<string, unknown>, upstream: unknown = UP(1980), status = 201): Step => ({
  admin: 'PUT /apisix/admin/routes/1',
  body: { uri: '/server_port', plugins: { 'traffic-split': conf }, ...(upstream ? { upstream } : {}) },
  status,
});
const ports = (query: string, sortedBodies: string[]): Step => ({ req: `GET /server_port?${query}`, repeat: sortedBodies.length, status: 200, sortedBodies });
const MATCH_A = [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '!', '<', '16']] }];
const SPLIT_A = { rules: [{ match: MATCH_A, weighted_upstreams: [{ upstream: { name: 'upstream_A', ...UP(1981, 2), timeout: { connect: 15, send: 15, read: 15 } }, weight: 2 }, { weight: 1 }] }] };
const MATCH_B = [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '~~', '^[1-9]{1,2}']] }, { vars: [['arg_name2', 'in', ['jack', 'rose']], ['arg_age', '!', '<', 18]] }];
const AB = [
  { upstream: { name: 'upstream_A', ...UP(1981, 20) }, weight: 2 },
  { upstream: { name: 'upstream_B', ...UP(1982, 10) }, weight: 2 },
];

export default {
  area: 'plugin/traffic-split',
  cases: [
    {
      src: 't/plugin/traffic-split.t#1',
      name: 'schema validation passed',
      steps: [ts({ rules: [{ match: [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '!', '<', '16']] }], weighted_upstreams: [{ upstream: { name: 'upstream_A', type: 'roundrobin', nodes: { '127.0.0.1:1981': 2 } }, weight: 2 }, { weight: 1 }] }] })],
    },
    { src: 't/plugin/traffic-split.t#2', name: 'schema validation passed, and `match` configuration is missing', steps: [ts({ rules: [{ weighted_upstreams: [{ upstream: { name: 'upstream_A', ...UP(1981, 2) }, weight: 2 }, { weight: 1 }] }] })] },
    {
      src: 't/plugin/traffic-split.t#3',
      name: 'schema validation failed, `vars` expression operator type is wrong',
      steps: [{ ...ts({ rules: [{ match: [{ vars: [['arg_name', 123, 'jack']] }], weighted_upstreams: [{ weight: 1 }] }] }, UP(1980), 400), errorLike: "failed to validate the 'vars' expression: invalid operator '123'" }],
    },
    { src: 't/plugin/traffic-split.t#4,5', name: 'missing `rules`: the upstream of the route takes effect', steps: [ts({}), ports('', ['1980', '1980', '1980', '1980', '1980', '1980'])] },
    { src: 't/plugin/traffic-split.t#6,7', name: 'empty `weighted_upstreams` entry: the route upstream is used', steps: [ts({ rules: [{ weighted_upstreams: [{}] }] }), ports('', ['1980', '1980', '1980', '1980', '1980', '1980'])] },
    { src: 't/plugin/traffic-split.t#8,9', name: 'expression fails: the route upstream', steps: [ts(SPLIT_A), { req: 'GET /server_port?name=jack&age=14', status: 200, text: '1980' }] },
    { src: 't/plugin/traffic-split.t#8,10', name: 'expression passes: 1/3 to the route, 2/3 to the plugin upstream', steps: [ts(SPLIT_A), ports('name=jack&age=16', ['1980', '1980', '1981', '1981', '1981', '1981'])] },
    { src: 't/plugin/traffic-split.t#11,12', name: 'multiple vars rules: no rule matches', steps: [ts({ rules: [{ match: MATCH_B, weighted_upstreams: [...AB, { weight: 1 }] }] }), { req: 'GET /server_port?name=jack&age=0', status: 200, text: '1980' }] },
    {
      src: 't/plugin/traffic-split.t#11,13',
      name: 'multiple vars rules: 1/5 to the route, 4/5 to the plugin upstreams',
      steps: [ts({ rules: [{ match: MATCH_B, weighted_upstreams: [...AB, { weight: 1 }] }] }), ports('name=jack&age=22', ['1980', '1981', '1981', '1982', '1982'])],
    },
    {
      src: 't/plugin/traffic-split.t#14,15',
      name: 'multiple vars rules, no traffic to the route upstream',
      steps: [ts({ rules: [{ match: MATCH_B, weighted_upstreams: AB }] }), ports('name=jack&age=22', ['1981', '1981', '1981', '1982', '1982', '1982'])],
    },
    {
      src: 't/plugin/traffic-split.t#16,17',
      name: 'several nodes in one plugin upstream, no upstream on the route',
      steps: [
        ts(
          { rules: [{ match: [{ vars: [['arg_name', '==', 'jack'], ['arg_age', '~~', '^[1-9]{1,2}']] }], weighted_upstreams: [{ upstream: { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1, '127.0.0.1:1981': 2, '127.0.0.1:1982': 2 } }, weight: 1 }] }] },
          UP(1980),
        ),
        ports('name=jack&age=22', ['1980', '1981', '1981', '1982', '1982']),
      ],
    },
    {
      src: 't/plugin/traffic-split.t#20,21',
      name: 'grayscale release: 2/3 to the plugin upstream without a match',
      steps: [ts({ rules: [{ weighted_upstreams: [{ upstream: UP(1981), weight: 2 }, { weight: 1 }] }] }), ports('', ['1980', '1980', '1981', '1981', '1981', '1981'])],
    },
  ],
} satisfies CaseFile;
