/**
 * Session creation: the time from a client's connect to its first tools/call result, with and
 * without `prewarm: 1` on the route. Issue 16's goal: within 20 ms of connect with a warm pool.
 *
 * Two servers, both the demo server (an SDK server) under bench/fixtures/timed-start.mjs: "fast"
 * loads it at once; "slow" loads it a second late, as a server fetched by `npx` or importing a
 * large Python package would be. Each route's clients are one kind: 2025-era sessions (v1 SDK),
 * or 2026-07-28 clients (v2 SDK), whose first request opens the route's pooled session and whose
 * later ones find it open. Samples one after the other; before each, the route's warm child (if
 * any) has answered initialize and the previous sample's child has gone, so every sample finds
 * the route as a newcomer would after a quiet moment.
 *
 * Then where a warm session's time goes: the same steps as bare HTTP requests on a new
 * connection (initialize, the initialized notification, the first tools/call, a second one),
 * against the floor endpoint (no gateway, no child: HTTP alone), a `process_mode: shared` route
 * (initialize answered from its cache, nothing started: the gateway's own part), the prewarmed
 * route (a warm child taken, its replacement started) and the route without prewarm; and the v1
 * SDK client's own connect and first call against the floor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as HttpClient } from 'undici';
import { descendants } from '../../test/helpers/processes.js';
import { adminPut, loadAverage, median, printTable, quantile, startMcpFloor, startMcpGateway, stopGateway, waitUntil, type Row } from '../lib.js';
import type { Build } from '../revision.js';
import { LEGACY_PROTOCOL, legacyClient, modernClient, type EchoClient } from './clients.js';
import { ADMIN_KEY, DEMO_SERVER, TIMED_START } from './settings.js';

const SAMPLES = 10;
/** How late the "slow" server loads: a start a warm child saves. */
const SLOW_START_MS = 1000;
const GOAL_MS = 20;

interface RouteCase {
  id: string;
  server: 'fast' | 'slow';
  prewarm: number;
  client: '2025 session (v1 SDK)' | '2026-07-28 (v2 SDK)';
}

const CASES: RouteCase[] = (['fast', 'slow'] as const).flatMap((server) =>
  ([0, 1] as const).flatMap((prewarm) =>
    (['2025 session (v1 SDK)', '2026-07-28 (v2 SDK)'] as const).map((client) => ({ id: `${server}-${prewarm}-${client.startsWith('2025') ? 'legacy' : 'modern'}`, server, prewarm, client })),
  ),
);

export async function compareSessionCreation(build: Build, work: string): Promise<void> {
  // Default caps: one session at a time, and at most 4 warm and 4 pooled children of 32.
  const gateway = await startMcpGateway(build, work, 'creation', ADMIN_KEY);
  const floor = await startMcpFloor();
  try {
    process.stdout.write(`\nmcp session creation: ${SAMPLES} sessions one after the other per row, default limits; load average ${loadAverage()}\n`);
    const rows: Row[] = [];
    for (const c of CASES) {
      const readyFile = join(work, `ready-${c.id}`);
      await adminPut(gateway.admin, ADMIN_KEY, `/routes/${c.id}`, {
        uri: `/${c.id}/*`,
        plugins: { 'mcp-bridge': { base_uri: `/${c.id}`, command: 'node', args: [TIMED_START, String(c.server === 'slow' ? SLOW_START_MS : 0), readyFile, DEMO_SERVER], prewarm: c.prewarm } },
      });
      const url = `${gateway.url}/${c.id}/mcp`;
      const open = c.client.startsWith('2025') ? legacyClient : modernClient;
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        // The warm children, and after the first sample the modern front's pooled child, are all
        // that run; every child started so far (a session's, a pooled one, each refill) has answered.
        const modern = c.client.startsWith('2026');
        const running = c.prewarm + (modern && i > 0 ? 1 : 0);
        const started = c.prewarm + (modern ? Math.min(i, 1) : i);
        if (!(await settled(gateway.pid, readyFile, running, started))) throw new Error(`route ${c.id}: its children did not settle at ${running}`);
        samples.push(await firstResult(() => open(url)));
      }
      rows.push({ name: `${c.server} server, prewarm ${c.prewarm}, ${c.client}`, ...summary(samples) });
    }
    rows.push({ name: 'floor endpoint (no gateway, no child), 2025 session (v1 SDK)', ...summary(await repeat(() => firstResult(() => legacyClient(floor.url)))) });
    printTable(
      `session creation: connect to the first tools/call result (fast: the demo server; slow: the same loaded ${SLOW_START_MS} ms late; "first": the route's first session)`,
      rows,
      ['first ms', 'median ms', 'p90 ms', `within ${GOAL_MS} ms`],
    );

    // A shared route answers initialize from its cache and starts nothing: the gateway's own part.
    const sharedReady = join(work, 'ready-fast-shared');
    await adminPut(gateway.admin, ADMIN_KEY, '/routes/fast-shared', {
      uri: '/fast-shared/*',
      plugins: { 'mcp-bridge': { base_uri: '/fast-shared', command: 'node', args: [TIMED_START, '0', sharedReady, DEMO_SERVER], process_mode: 'shared', prewarm: 1 } },
    });
    const warmReady = join(work, 'ready-fast-1-legacy');
    const warmStarts = readyPids(warmReady).size;
    const steps: Row[] = [
      { name: 'floor endpoint (no gateway, no child)', ...(await stepTimes(floor.url)) },
      { name: 'gateway, shared mode (nothing started)', ...(await stepTimes(`${gateway.url}/fast-shared/mcp`, () => settled(gateway.pid, sharedReady, 2))) },
      { name: 'gateway, fast server, prewarm 1 (a warm child)', ...(await stepTimes(`${gateway.url}/fast-1-legacy/mcp`, (i) => settled(gateway.pid, warmReady, 1, warmStarts + i))) },
      { name: 'gateway, fast server, prewarm 0 (a child started)', ...(await stepTimes(`${gateway.url}/fast-0-legacy/mcp`, () => settled(gateway.pid, join(work, 'ready-fast-0-legacy'), 0))) },
    ];
    printTable(
      `where a new session's time goes: bare POSTs on a new connection, median of ${SAMPLES} sessions, ms`,
      steps,
      STEP_NAMES,
    );
  } finally {
    await stopGateway(gateway);
    floor.child.kill('SIGTERM');
  }
}

/** The time from starting to open a client to its first echo result; the client is closed after. */
async function firstResult(open: () => Promise<EchoClient>): Promise<number> {
  const started = performance.now();
  const client = await open();
  await client.call('first');
  const elapsed = performance.now() - started;
  await client.close();
  return elapsed;
}

async function repeat(sample: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) samples.push(await sample());
  return samples;
}

function summary(samples: number[]): Record<string, string | number> {
  const sorted = [...samples].sort((a, b) => a - b);
  return { 'first ms': samples[0], 'median ms': median(samples), 'p90 ms': quantile(sorted, 0.9), [`within ${GOAL_MS} ms`]: `${samples.filter((s) => s <= GOAL_MS).length}/${SAMPLES}` };
}

/**
 * Waits until exactly `count` children of the route whose servers write `readyFile` run, each
 * having answered initialize (a warm child ready to be taken, no previous child still stopping),
 * and `started` children in all have answered (a refill has not merely yet to begin).
 */
function settled(gatewayPid: number, readyFile: string, count: number, started = 0): Promise<boolean> {
  return waitUntil(() => {
    const children = descendants(gatewayPid).filter((p) => p.command.includes(readyFile));
    const answered = readyPids(readyFile);
    return children.length === count && answered.size >= started && children.every((p) => answered.has(p.pid));
  }, 15_000);
}

/** The children of a route that have answered initialize (bench/fixtures/timed-start.mjs). */
function readyPids(readyFile: string): Set<number> {
  return new Set(existsSync(readyFile) ? readFileSync(readyFile, 'utf8').split('\n').filter(Boolean).map((line) => Number(line.split(' ')[1])) : []);
}

const STEP_NAMES = ['connect + initialize', 'initialized notification', 'first tools/call', 'second tools/call', 'total to first result'];

/** Median time of each step of a session opened with bare POSTs on a new connection. */
async function stepTimes(url: string, ready?: (sample: number) => Promise<boolean>): Promise<Record<string, number>> {
  const { origin, pathname } = new URL(url);
  const times: number[][] = STEP_NAMES.map(() => []);
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  for (let i = 0; i < SAMPLES; i++) {
    if (ready && !(await ready(i))) throw new Error(`${url}: its children did not settle`);
    const connection = new HttpClient(origin);
    try {
      const post = async (body: unknown, extra: Record<string, string> = {}) => {
        const started = performance.now();
        const res = await connection.request({ path: pathname, method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) });
        const text = await res.body.text();
        if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${text}`);
        return { ms: performance.now() - started, sessionId: res.headers['mcp-session-id'] as string | undefined };
      };
      const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY_PROTOCOL, capabilities: {}, clientInfo: { name: 'bench-steps', version: '1' } } });
      const session = { 'mcp-session-id': init.sessionId!, 'mcp-protocol-version': LEGACY_PROTOCOL };
      const initialized = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
      const call = (id: number) => post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'step' } } }, session);
      const first = await call(1);
      const second = await call(2);
      [init.ms, initialized.ms, first.ms, second.ms, init.ms + initialized.ms + first.ms].forEach((ms, step) => times[step].push(ms));
      const end = await connection.request({ path: pathname, method: 'DELETE', headers: session });
      await end.body.dump();
    } finally {
      await connection.close();
    }
  }
  return Object.fromEntries(STEP_NAMES.map((name, step) => [name, median(times[step])]));
}
