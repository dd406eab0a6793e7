/**
 * apache/apisix t/plugin/ip-restriction.t. Its tests with X-Forwarded-For run with nginx's
 * `set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For`: Tollgate's trusted_proxies.
 */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const ipr = (conf: Record<string, unknown>, status = 201): Step => ({ admin: 'PUT /apisix/admin/routes/1', body: route('/hello', { 'ip-restriction': conf }), status });
const REAL_IP = { gateway: { trusted_proxies: ['127.0.0.1'] } };
const from = (ip: string, status: number, message?: string): Step => ({ req: 'GET /hello', headers: { 'x-forwarded-for': ip }, status, ...(message ? { message } : { text: 'hello world\n' }) });
const DENIED = 'Your IP address is not allowed';
const WHITE = { whitelist: ['127.0.0.0/24', '113.74.26.106'] };
const BLACK = { blacklist: ['127.0.0.0/24', '113.74.26.106'] };
const BAD = 'Do you want to do something bad?';

export default {
  area: 'plugin/ip-restriction',
  cases: [
    {
      src: 't/plugin/ip-restriction.t#1',
      name: 'sanity (defaults filled in where the plugin runs)',
      steps: [ipr({ whitelist: ['10.255.254.0/24', '192.168.0.0/16'] })],
    },
    { src: 't/plugin/ip-restriction.t#2', name: 'wrong CIDR v4 format (bad address)', steps: [{ ...ipr({ whitelist: ['10.255.256.0/24', '192.168.0.0/16'] }, 400), errorLike: 'failed to validate item 1: object matches none of the required' }] },
    { src: 't/plugin/ip-restriction.t#3', name: 'wrong CIDR v4 format (bad prefix)', steps: [{ ...ipr({ whitelist: ['10.255.254.0/38', '192.168.0.0/16'] }, 400), errorLike: 'failed to validate item 1: object matches none of the required' }] },
    { src: 't/plugin/ip-restriction.t#4', name: 'empty conf', steps: [{ ...ipr({}, 400), errorLike: 'value should match only one schema, but matches none' }] },
    { src: 't/plugin/ip-restriction.t#5', name: 'empty CIDRs', steps: [{ ...ipr({ blacklist: [] }, 400), errorLike: 'expect array to have at least 1 items' }] },
    {
      src: 't/plugin/ip-restriction.t#6',
      name: 'whitelist and blacklist mutual exclusive',
      steps: [{ ...ipr({ whitelist: ['172.17.40.0/24'], blacklist: ['10.255.0.0/16'] }, 400), errorLike: 'value should match only one schema, but matches both schemas 1 and 2' }],
    },
    { src: 't/plugin/ip-restriction.t#7,8', name: 'hit route and ip cidr in the whitelist', steps: [ipr(WHITE), { req: 'GET /hello', status: 200, text: 'hello world\n' }] },
    { src: 't/plugin/ip-restriction.t#9', name: 'hit route and ip in the whitelist', config: REAL_IP, steps: [ipr(WHITE), from('113.74.26.106', 200)] },
    { src: 't/plugin/ip-restriction.t#10', name: 'hit route and ip not in the whitelist', config: REAL_IP, steps: [ipr(WHITE), from('114.114.114.114', 403, DENIED)] },
    { src: 't/plugin/ip-restriction.t#11', name: 'hit route and IPv6 not in the whitelist', config: REAL_IP, steps: [ipr(WHITE), from('2001:db8::2', 403, DENIED)] },
    { src: 't/plugin/ip-restriction.t#12,13', name: 'hit route and ip cidr in the blacklist', steps: [ipr(BLACK), { req: 'GET /hello', status: 403, message: DENIED }] },
    { src: 't/plugin/ip-restriction.t#14', name: 'hit route and ip in the blacklist', config: REAL_IP, steps: [ipr(BLACK), from('113.74.26.106', 403, DENIED)] },
    { src: 't/plugin/ip-restriction.t#15', name: 'hit route and ip not in the blacklist', config: REAL_IP, steps: [ipr(BLACK), from('114.114.114.114', 200)] },
    { src: 't/plugin/ip-restriction.t#16', name: 'hit route and IPv6 not in the blacklist', config: REAL_IP, steps: [ipr(BLACK), from('2001:db8::2', 200)] },
    { src: 't/plugin/ip-restriction.t#17,18', name: 'remove ip-restriction', steps: [ipr(BLACK), { admin: 'PUT /apisix/admin/routes/1', body: route('/hello'), status: 200 }, { req: 'GET /hello', status: 200 }] },
    { src: 't/plugin/ip-restriction.t#19', name: 'sanity (IPv6)', steps: [ipr({ whitelist: ['::1', 'fe80::/32', '2001:DB8:0:23:8:800:200C:417A'] })] },
    { src: 't/plugin/ip-restriction.t#20,21', name: 'IPv6 blacklist: an IPv4 client passes', steps: [ipr({ blacklist: ['::1', 'fe80::/32'] }), { req: 'GET /hello', status: 200 }] },
    { src: 't/plugin/ip-restriction.t#22', name: 'hit route and IPv6 in the blacklist (::1)', config: REAL_IP, steps: [ipr({ blacklist: ['::1', 'fe80::/32'] }), from('::1', 403, DENIED)] },
    { src: 't/plugin/ip-restriction.t#23', name: 'hit route and IPv6 in the blacklist (fe80::1:1)', config: REAL_IP, steps: [ipr({ blacklist: ['::1', 'fe80::/32'] }), from('fe80::1:1', 403, DENIED)] },
    { src: 't/plugin/ip-restriction.t#24', name: 'wrong IPv6 format', steps: [
        { ...ipr({ whitelist: ['::1/129'] }, 400), errorLike: 'failed to validate item 1: object matches none of the required' },
        { ...ipr({ whitelist: ['::ffgg'] }, 400), errorLike: 'failed to validate item 1: object matches none of the required' },
      ],
    },
    { src: 't/plugin/ip-restriction.t#25', name: 'set disable=true', steps: [ipr({ blacklist: ['127.0.0.0/24'], _meta: { disable: true } }), { req: 'GET /hello', status: 200 }] },
    { src: 't/plugin/ip-restriction.t#26,27', name: 'blacklist and user-defined message: ip cidr in the blacklist', steps: [ipr({ ...BLACK, message: BAD }), { req: 'GET /hello', status: 403, message: BAD }] },
    { src: 't/plugin/ip-restriction.t#28', name: 'blacklist and user-defined message: ip in the blacklist', config: REAL_IP, steps: [ipr({ ...BLACK, message: BAD }), from('113.74.26.106', 403, BAD)] },
    { src: 't/plugin/ip-restriction.t#29,30', name: 'whitelist and user-defined message: ip not in the whitelist', config: REAL_IP, steps: [ipr({ ...WHITE, message: BAD }), from('114.114.114.114', 403, BAD)] },
    { src: 't/plugin/ip-restriction.t#31', name: 'message that do not reach the minimum range', steps: [{ ...ipr({ ...WHITE, message: '' }, 400), errorLike: 'string too short, expected at least 1, got 0' }] },
    { src: 't/plugin/ip-restriction.t#32', name: 'exceeds the maximum limit of message', steps: [{ ...ipr({ ...WHITE, message: '-1Aa#'.repeat(205) }, 400), errorLike: 'string too long, expected at most 1024, got 1025' }] },
    { src: 't/plugin/ip-restriction.t#33,34', name: 'whitelist and 404 response code', config: REAL_IP, steps: [ipr({ ...WHITE, response_code: 404 }), { req: 'GET /hello', headers: { 'x-forwarded-for': '114.114.114.114' }, status: 404 }] },
    { src: 't/plugin/ip-restriction.t#35', name: 'set wrong response code', steps: [{ ...ipr({ ...WHITE, response_code: 409 }, 400), errorLike: 'property "response_code" validation failed: expected 409 to be at most 404' }] },
  ],
} satisfies CaseFile;
