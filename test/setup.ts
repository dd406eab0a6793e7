/**
 * Root hooks against leaked processes. A process started inside a test (children and
 * grandchildren alike) must be gone when the test ends; processes started by a `before` hook must
 * be gone when the run ends. The shared Redis is the only allowed survivor.
 */
import { adopted, descendants, waitFor, type ProcessInfo } from './helpers/processes.js';
import { sharedRedisPid, stopSharedRedis } from './helpers/redis.js';

let before = new Set<number>();

async function leftovers(ignore: Set<number>): Promise<ProcessInfo[]> {
  const redisPid = await sharedRedisPid();
  // tsx keeps an esbuild service process for the whole run; it is the loader, not a test's.
  return descendants().filter((p) => !ignore.has(p.pid) && !adopted.has(p.pid) && !adopted.has(p.ppid) && p.pid !== redisPid && !p.command.includes('esbuild --service'));
}

async function assertNoLeftovers(ignore: Set<number>, what: string): Promise<void> {
  let found: ProcessInfo[] = [];
  // A process told to stop can take seconds to exit on a loaded machine; one that leaked stays.
  const clean = await waitFor(async () => (found = await leftovers(ignore)).length === 0, 15_000, 50);
  if (!clean) throw new Error(`${what} left processes running:\n  ${found.map((p) => `${p.pid} ${p.command}`).join('\n  ')}`);
}

export const mochaHooks = {
  beforeEach() {
    before = new Set(descendants().map((p) => p.pid));
  },
  async afterEach() {
    await assertNoLeftovers(before, 'this test');
  },
  async afterAll() {
    await stopSharedRedis();
    adopted.clear();
    await assertNoLeftovers(new Set(), 'the test run');
  },
};
