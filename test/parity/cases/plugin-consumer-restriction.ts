/**
 * apache/apisix t/plugin/consumer-restriction.t. APISIX's tests authenticate with basic-auth,
 * which Tollgate does not have; key-auth stands in (and its texts for a missing credential).
 */
import type { CaseFile } from '../suite.js';
import type { Step } from '../types.js';
import { route } from './common.js';

const CONSUMERS: Step[] = ['jack1', 'jack2'].map((u) => ({ admin: 'PUT /apisix/admin/consumers', body: { username: u, plugins: { 'key-auth': { key: `${u}-key` } } }, status: 201 }));
const cr = (conf: Record<string, unknown>, auth = true, status = 201): Step => ({
  admin: 'PUT /apisix/admin/routes/1',
  body: route('/hello', { ...(auth ? { 'key-auth': {} } : {}), 'consumer-restriction': conf }),
  status,
});
const as = (user: string | undefined, status: number, message?: string): Step => ({
  req: 'GET /hello',
  ...(user ? { headers: { apikey: `${user}-key` } } : {}),
  status,
  ...(message ? { message } : { text: 'hello world\n' }),
});
const FORBIDDEN = 'The consumer_name is forbidden.';
const NO_SUBJECT = 'The request is rejected, please check the consumer_name for this request';
const setup = (conf: Record<string, unknown>, auth = true) => [...CONSUMERS, cr(conf, auth)];

export default {
  area: 'plugin/consumer-restriction',
  cases: [
    {
      src: 't/plugin/consumer-restriction.t#1',
      name: 'sanity (with a "title" field)',
      deliberate: 'plugin schemas refuse unknown fields: a misspelt option would otherwise be stored and silently do nothing',
      steps: [cr({ title: 'whitelist', whitelist: ['jack1', 'jack2'] })],
    },
    { src: 't/plugin/consumer-restriction.t#1', name: 'sanity', steps: [cr({ whitelist: ['jack1', 'jack2'] })] },
    { src: 't/plugin/consumer-restriction.t#2', name: 'blacklist > whitelist > allowed_by_methods', steps: [cr({ whitelist: ['jack1'], blacklist: ['jack2'], allowed_by_methods: [] })] },
    { src: 't/plugin/consumer-restriction.t#5,6', name: 'whitelist: unauthorized', steps: [...setup({ whitelist: ['jack1'] }), as(undefined, 401, 'Missing API key in request')] },
    { src: 't/plugin/consumer-restriction.t#5,7', name: 'whitelist: jack1 passes', steps: [...setup({ whitelist: ['jack1'] }), as('jack1', 200)] },
    { src: 't/plugin/consumer-restriction.t#5,8', name: 'whitelist: jack2 is forbidden', steps: [...setup({ whitelist: ['jack1'] }), as('jack2', 403, FORBIDDEN)] },
    { src: 't/plugin/consumer-restriction.t#9,11', name: 'blacklist with rejected_msg: jack1 is forbidden', steps: [...setup({ blacklist: ['jack1'], rejected_msg: 'request is forbidden' }), as('jack1', 403, 'request is forbidden')] },
    { src: 't/plugin/consumer-restriction.t#9,12', name: 'blacklist: jack2 passes', steps: [...setup({ blacklist: ['jack1'], rejected_msg: 'request is forbidden' }), as('jack2', 200)] },
    { src: 't/plugin/consumer-restriction.t#13,14', name: 'whitelist without authorization: rejected', steps: [...setup({ whitelist: ['jack1'] }, false), as(undefined, 401, NO_SUBJECT)] },
    { src: 't/plugin/consumer-restriction.t#13,15', name: 'whitelist without authorization: a credential does not help', steps: [...setup({ whitelist: ['jack1'] }, false), as('jack1', 401, NO_SUBJECT)] },
    { src: 't/plugin/consumer-restriction.t#17,18', name: 'blacklist without authorization: rejected', steps: [...setup({ blacklist: ['jack1'] }, false), as(undefined, 401, NO_SUBJECT)] },
    { src: 't/plugin/consumer-restriction.t#17,20', name: 'blacklist without authorization: jack2 rejected too', steps: [...setup({ blacklist: ['jack1'] }, false), as('jack2', 401, NO_SUBJECT)] },
    { src: 't/plugin/consumer-restriction.t#21,22', name: 'allowed_by_methods POST only: jack1 GET is forbidden', steps: [...setup({ allowed_by_methods: [{ user: 'jack1', methods: ['POST'] }] }), as('jack1', 403, FORBIDDEN)] },
    { src: 't/plugin/consumer-restriction.t#23,24', name: 'allowed_by_methods POST and GET: jack1 passes', steps: [...setup({ allowed_by_methods: [{ user: 'jack1', methods: ['POST', 'GET'] }] }), as('jack1', 200)] },
    {
      src: 't/plugin/consumer-restriction.t#25,26',
      name: 'blacklist priority over allowed_by_methods: jack1 forbidden',
      steps: [...setup({ blacklist: ['jack1'], allowed_by_methods: [{ user: 'jack1', methods: ['POST', 'GET'] }] }), as('jack1', 403, FORBIDDEN)],
    },
    {
      src: 't/plugin/consumer-restriction.t#25,27',
      name: 'blacklist priority: jack2 passes',
      steps: [...setup({ blacklist: ['jack1'], allowed_by_methods: [{ user: 'jack1', methods: ['POST', 'GET'] }] }), as('jack2', 200)],
    },
    {
      src: 't/plugin/consumer-restriction.t#28,29',
      name: 'whitelist priority over allowed_by_methods: jack1 GET passes',
      steps: [...setup({ whitelist: ['jack1'], allowed_by_methods: [{ user: 'jack1', methods: ['POST'] }] }), as('jack1', 200)],
    },
    {
      src: 't/plugin/consumer-restriction.t#28,30',
      name: 'whitelist priority: jack2 forbidden',
      steps: [...setup({ whitelist: ['jack1'], allowed_by_methods: [{ user: 'jack1', methods: ['POST'] }] }), as('jack2', 403, FORBIDDEN)],
    },
    {
      src: 't/plugin/consumer-restriction.t#31-34',
      name: 'remove consumer-restriction',
      steps: [...CONSUMERS, { admin: 'PUT /apisix/admin/routes/1', body: route('/hello'), status: 201 }, as('jack1', 200), as('jack2', 200), as(undefined, 200)],
    },
  ],
} satisfies CaseFile;
