/**
 * `npm run parity [-- --area admin --grep routes.t --details --concurrency 2]`: runs the APISIX
 * parity cases against real gateways and prints the table (docs/apisix-compatibility.md).
 */
import { parseArgs } from 'node:util';
import { startRedis } from '../helpers/redis.js';
import { formatReport, runCases, selectCases } from './suite.js';

const { values } = parseArgs({
  options: {
    area: { type: 'string' },
    grep: { type: 'string' },
    details: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '2' },
  },
});

const cases = selectCases({ area: values.area, grep: values.grep });
const redis = await startRedis();
try {
  let done = 0;
  const results = await runCases(cases, { redisPort: redis.port }, Number(values.concurrency), (r) => {
    done++;
    if (process.stderr.isTTY) process.stderr.write(`\r${done}/${cases.length} ${r.ok ? 'ok  ' : 'FAIL'} ${r.src}`.padEnd(80));
  });
  if (process.stderr.isTTY) process.stderr.write('\r'.padEnd(81) + '\r');
  console.log(formatReport(results, values.details));
} finally {
  await redis.stop();
}
