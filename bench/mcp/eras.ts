/**
 * MCP 2026-07-28 stateless calls against 2025-era sessions: the same route, the same stdio
 * server (examples/mcp-servers/demo-server.mjs, an SDK server), the same `echo` call, at 1 and 16
 * concurrent clients, rounds interleaving the two so that a burst of other work on the machine
 * hurts one round rather than one contender (the better round of each counts, as in bench/mcp.ts).
 *
 * What differs behind the route: 16 2025-era sessions have 16 children; 16 modern clients of one
 * consumer share the gateway's one pooled session (one child; plugins/kit/mcp/modern.ts).
 */
import { descendants } from '../../test/helpers/processes.js';
import { adminPut, callInLoops, loadAverage, printTable, startMcpGateway, stopGateway, waitUntil, type CallLoad, type Row } from '../lib.js';
import type { Build } from '../revision.js';
import { legacyClient, modernClient, type EchoClient } from './clients.js';
import { ADMIN_KEY, DEMO_SERVER, ROUNDS, SECONDS, WARMUP_CALLS } from './settings.js';

const CLIENT_COUNTS = [1, 16];
const CONTENDERS: Array<{ name: string; open: (url: string) => Promise<EchoClient> }> = [
  { name: '2025-era sessions (v1 SDK)', open: legacyClient },
  { name: '2026-07-28 stateless (v2 SDK)', open: modernClient },
];

/**
 * Raised for this scenario: `mcp.max_children` 64 (default 32) and the route's `max_sessions` 64
 * (default 16). 16 sessions plus the modern front's pooled one are 17, one over the route's
 * default; and the 16 children of the previous contender may still be stopping when the next
 * opens its sessions, which would make a new session reclaim or wait: the cap, not the call.
 */
export const ERAS_LIMITS = 'mcp.max_children 64 (default 32), route max_sessions 64 (default 16)';

export async function compareEras(build: Build, work: string): Promise<void> {
  const gateway = await startMcpGateway(build, work, 'eras', ADMIN_KEY, { max_children: 64 });
  try {
    await adminPut(gateway.admin, ADMIN_KEY, '/routes/eras', {
      uri: '/eras/*',
      plugins: { 'mcp-bridge': { base_uri: '/eras', command: 'node', args: [DEMO_SERVER], max_sessions: 64 } },
    });
    const url = `${gateway.url}/eras/mcp`;
    const servers = () => descendants(gateway.pid).filter((p) => p.command.includes(DEMO_SERVER));
    process.stdout.write(
      `\nmcp eras: tools/call echo on one route (demo server), ${SECONDS} s per contender after ${WARMUP_CALLS} warm-up calls per client, best of ${ROUNDS} rounds; limits raised: ${ERAS_LIMITS}; load average ${loadAverage()}\n`,
    );
    const best = new Map<string, CallLoad>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const count of CLIENT_COUNTS) {
        for (const contender of CONTENDERS) {
          const clients = await Promise.all(Array.from({ length: count }, () => contender.open(url)));
          try {
            await Promise.all(clients.map(async (c) => {
              for (let i = 0; i < WARMUP_CALLS; i++) await c.call(`warm-up ${i}`);
            }));
            const load = await callInLoops(
              clients.map((c) => (i) => c.call(`call ${i}`)),
              SECONDS,
              { client: [process.pid], gateway: [gateway.pid], servers: servers().map((p) => p.pid) },
            );
            const key = `${contender.name}/${count}`;
            if (!best.has(key) || load.callsPerSecond > best.get(key)!.callsPerSecond) best.set(key, load);
          } finally {
            await Promise.all(clients.map((c) => c.close()));
          }
          // The modern front's pooled child stays; the sessions' children go before the next contender.
          await waitUntil(() => servers().length <= 1, 10_000);
        }
      }
    }
    for (const count of CLIENT_COUNTS) {
      const legacy = best.get(`${CONTENDERS[0].name}/${count}`)!;
      printTable(
        `tools/call, ${count} concurrent client${count > 1 ? 's' : ''} (CPU: µs per call; servers: ${count} child${count > 1 ? 'ren' : ''} for the sessions, one pooled child for the modern clients)`,
        CONTENDERS.map((contender): Row => {
          const r = best.get(`${contender.name}/${count}`)!;
          return {
            name: contender.name,
            'calls/s': r.callsPerSecond,
            'p50 ms': r.p50,
            'p99 ms': r.p99,
            'client µs': r.cpuPerCall.client,
            'gateway µs': r.cpuPerCall.gateway,
            'servers µs': r.cpuPerCall.servers,
            'calls/s vs 2025': r.callsPerSecond / legacy.callsPerSecond,
            'p50 vs 2025': r.p50 / legacy.p50,
            'gateway µs vs 2025': r.cpuPerCall.gateway / legacy.cpuPerCall.gateway,
            errors: r.errors === 0 ? '0' : `${r.errors} (${r.firstError})`,
          };
        }),
        ['calls/s', 'p50 ms', 'p99 ms', 'client µs', 'gateway µs', 'servers µs', 'calls/s vs 2025', 'p50 vs 2025', 'gateway µs vs 2025', 'errors'],
      );
    }
  } finally {
    await stopGateway(gateway);
  }
}
