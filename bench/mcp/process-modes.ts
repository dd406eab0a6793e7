/**
 * `process_mode: shared` against `per-session` with many sessions at once: 100 and 1,000 2025-era
 * sessions (raw clients, bench/mcp/clients.ts) each calling `echo` in a loop. Per row: calls/s,
 * p50, p99, failed calls, CPU per call (gateway, children, this process as the client), memory summed
 * over the gateway and its descendants, as RSS (what `ps` shows, each shared page once per
 * process) and as PSS (shared pages divided among their processes: what they take together).
 *
 * Each row runs on a gateway of its own, started for it, so that no row inherits another's heap
 * or children. Two servers: the demo server (node and the SDK, as most stdio servers are) and a
 * raw awk server (bench/fixtures/echo-server.awk, about 2 MiB each). Per-session with 1,000 demo
 * servers is not run: the row says why from what the 100-session row measured per child.
 *
 * Limits raised (benchmarks are not tests; the printed title repeats this): `mcp.max_children`
 * 1,010 (default 32) and each route's `max_sessions` 1,000 (default 16), because every session,
 * shared ones too, counts against both, and the shared children and the reaper need a little
 * room besides; `mcp.allowed_commands` [node, mawk] for the awk server. The sessions open 50 at a
 * time, so that the start queue (`mcp.start_queue`, 128) keeps its default.
 */
import { Pool } from 'undici';
import { descendants } from '../../test/helpers/processes.js';
import { adminPut, callInLoops, loadAverage, printTable, pssMiB, rssMiB, startMcpGateway, stopGateway, treeMemory, waitUntil, type CallLoad, type Row, type TreeMemory } from '../lib.js';
import type { Build } from '../revision.js';
import { rawClient, type EchoClient } from './clients.js';
import { ADMIN_KEY, AWK_SERVER, DEMO_SERVER, SECONDS } from './settings.js';

const SESSION_COUNTS = (process.env.BENCH_MCP_SESSION_COUNTS ?? '100,1000').split(',').map(Number);
const MODES = ['per-session', 'shared'] as const;
/** Sessions opening at once: well inside the start queue's default. */
const OPENING_AT_ONCE = 50;
const WARMUP_SECONDS = 1;
/** The route's max_sessions and the gateway's max_children: every session at once, with room for the shared children and the reaper. */
const MAX_SESSIONS = Math.max(16, ...SESSION_COUNTS);
const MAX_CHILDREN = Math.max(32, MAX_SESSIONS + 10);
export const MODES_LIMITS = `mcp.max_children ${MAX_CHILDREN} (default 32), route max_sessions ${MAX_SESSIONS} (default 16), mcp.allowed_commands [node, mawk]`;

interface Server {
  name: string;
  command: string;
  args: string[];
  /** Part of the command line of its processes, to find them among the gateway's descendants. */
  marker: string;
}

const SERVERS: Server[] = [
  { name: 'demo server (node + SDK)', command: 'node', args: [DEMO_SERVER], marker: DEMO_SERVER },
  { name: 'awk server', command: 'mawk', args: ['-W', 'interactive', '-f', AWK_SERVER], marker: AWK_SERVER },
];

interface Measured {
  load: CallLoad;
  idle: TreeMemory;
  loaded: TreeMemory;
  children: number;
  gatewayRss: number;
  gatewayPss: number;
}

/** Per-session demo servers past this count are not started: they would not fit in memory. */
const DEMO_PER_SESSION_MAX = 100;

export async function compareProcessModes(build: Build, work: string): Promise<void> {
  process.stdout.write(
    `\nmcp process modes: sessions calling echo in a loop, ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up, a fresh gateway per row; limits raised: ${MODES_LIMITS}; load average ${loadAverage()}\n`,
  );
  for (const server of SERVERS) {
    const rows: Row[] = [];
    let perChildPss = 0;
    let perChildRss = 0;
    let measuredWith = 0;
    for (const count of SESSION_COUNTS) {
      const measured: Partial<Record<(typeof MODES)[number], Measured>> = {};
      for (const mode of MODES) {
        if (server.command === 'node' && mode === 'per-session' && count > DEMO_PER_SESSION_MAX) {
          rows.push({
            name: `${mode}, ${count} sessions`,
            children: String(count),
            note: `not run: ${count} × ${perChildPss.toFixed(1)} MiB PSS (${perChildRss.toFixed(1)} MiB RSS) per child, as measured with ${measuredWith} sessions: ${((perChildPss * count) / 1024).toFixed(1)} GiB PSS, ${((perChildRss * count) / 1024).toFixed(1)} GiB RSS`,
          });
          continue;
        }
        const m = await measure(build, work, server, mode, count);
        measured[mode] = m;
        if (mode === 'per-session') {
          perChildPss = (m.loaded.pssMiB - m.gatewayPss) / m.children;
          perChildRss = (m.loaded.rssMiB - m.gatewayRss) / m.children;
          measuredWith = count;
        }
        const base = measured['per-session'];
        rows.push({
          name: `${mode}, ${count} sessions`,
          children: String(m.children),
          'calls/s': m.load.callsPerSecond,
          'p50 ms': m.load.p50,
          'p99 ms': m.load.p99,
          'gateway µs': m.load.cpuPerCall.gateway,
          'children µs': m.load.cpuPerCall.children,
          'client µs': m.load.cpuPerCall.client,
          'gateway RSS MiB': m.gatewayRss,
          'RSS MiB': m.loaded.rssMiB,
          'PSS MiB': m.loaded.pssMiB,
          'PSS MiB idle': m.idle.pssMiB,
          'calls/s vs per-session': base ? m.load.callsPerSecond / base.load.callsPerSecond : '',
          'PSS vs per-session': base ? m.loaded.pssMiB / base.loaded.pssMiB : '',
          errors: String(m.load.errors),
          note: `load ${loadAverage().split(' ')[0]}${m.load.firstError ? `; first error: ${m.load.firstError}` : ''}`,
        });
      }
    }
    printTable(
      `process_mode, ${server.name}: CPU in µs per call; memory summed over the gateway and its children after the calls ("idle": once the sessions were open, before any call); limits raised: ${MODES_LIMITS}`,
      rows,
      ['children', 'calls/s', 'p50 ms', 'p99 ms', 'gateway µs', 'children µs', 'client µs', 'gateway RSS MiB', 'RSS MiB', 'PSS MiB', 'PSS MiB idle', 'calls/s vs per-session', 'PSS vs per-session', 'errors', 'note'],
    );
  }
}

async function measure(build: Build, work: string, server: Server, mode: (typeof MODES)[number], count: number): Promise<Measured> {
  const name = `modes-${server.command}-${mode}-${count}`;
  const gateway = await startMcpGateway(build, work, name, ADMIN_KEY, { max_children: MAX_CHILDREN, allowed_commands: ['node', 'mawk'] });
  const pool = new Pool(gateway.url, { connections: count });
  try {
    await adminPut(gateway.admin, ADMIN_KEY, '/routes/modes', {
      uri: '/modes/*',
      plugins: { 'mcp-bridge': { base_uri: '/modes', command: server.command, args: server.args, process_mode: mode, max_sessions: MAX_SESSIONS } },
    });
    const clients = await openSessions(pool, count);
    const children = () => descendants(gateway.pid).filter((p) => p.command.includes(server.marker));
    try {
      const idle = treeMemory(gateway.pid);
      const callers = clients.map((c) => (i: number) => c.call(`call ${i}`));
      await callInLoops(callers, WARMUP_SECONDS, {});
      const load = await callInLoops(callers, SECONDS, { client: [process.pid], gateway: [gateway.pid], children: children().map((p) => p.pid) });
      const loaded = treeMemory(gateway.pid);
      return { load, idle, loaded, children: children().length, gatewayRss: rssMiB(gateway.pid), gatewayPss: pssMiB(gateway.pid) };
    } finally {
      // A DELETE that fails changes no figure: the gateway (and its children) is stopped next anyway.
      for (let i = 0; i < clients.length; i += OPENING_AT_ONCE) await Promise.allSettled(clients.slice(i, i + OPENING_AT_ONCE).map((c) => c.close()));
      await waitUntil(() => children().length <= (mode === 'shared' ? 2 : 0), 30_000);
    }
  } finally {
    await pool.close();
    await stopGateway(gateway);
  }
}

async function openSessions(pool: Pool, count: number): Promise<EchoClient[]> {
  const clients: EchoClient[] = [];
  for (let i = 0; i < count; i += OPENING_AT_ONCE) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(OPENING_AT_ONCE, count - i) }, () => rawClient(pool, '/modes/mcp')))));
  }
  return clients;
}
