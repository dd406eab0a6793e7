/**
 * `npm run bench -- mcp`: what the mcp-bridge costs.
 *
 * The same SDK client calls the same tool (`echo` of examples/mcp-servers/demo-server.mjs) four
 * ways, one after the other in one run:
 * - direct: over stdio, the client spawning the server itself (the baseline);
 * - floor: over Streamable HTTP to a trivial endpoint that answers at once (what HTTP and the
 *   client library cost on their own; bench/fixtures/mcp-floor-server.mjs);
 * - bridge streamable-http and bridge sse: through a real gateway process (built dist/) to the
 *   stdio server; and, for the gateway's own cost per request, the floor behind a plain proxy route;
 * - remote streamable-http: through the gateway to the floor as a remote MCP server (an
 *   `mcp_servers` record with its url), the gateway then an MCP client of it, one upstream session
 *   per client session. Its cost is its p50 minus the floor's: the same client calling the same
 *   server directly.
 * - federation of three: an mcp-federation route over three records of the same stdio server, each
 *   session listing the tools first (so it holds a session of all three), then calling `a_echo`:
 *   what federating adds to a call is its p50 minus the bridge's (issue 13's goal: under 0.2 ms).
 * And tools/list through a federation of ten: the first list of a new session (cold: ten servers
 * started, initialized and listed) and the lists after it (warm: from the per-session cache).
 * With `--rev <commit>` the gateway rows run once per build (this tree's and the revision's).
 * With 1 and 16 concurrent sessions, each calling in a loop: calls/s, p50, p99, ratios to direct.
 * The bridge's own cost is its p50 minus the floor's p50 minus the direct p50. Also: time from
 * connect to the first result (session creation), and memory per idle session.
 *
 * Then issue 16's scenarios (bench/mcp-modern.ts: MCP 2026-07-28 against 2025-era sessions,
 * session creation with and without prewarm, process_mode shared against per-session).
 *
 * Limits raised (benchmarks are not tests): `mcp.max_children` 64 (default 32), and
 * `max_sessions` 64 (default 16) on the bridge route, the remote `mcp_servers` record, the
 * federation route and its server records. The federation of three holds three children per
 * session, 48 at 16 sessions; and one scenario's 16 children may still be stopping
 * (`stop_stdin_wait`) while the next scenario opens its 16 sessions. At the defaults, sessions
 * would be reclaimed or refused, and the tables would measure the caps instead of the calls.
 *
 * BENCH_MCP_SECONDS sets the measuring time per scenario (default 4), BENCH_MCP_ROUNDS how many
 * interleaved rounds run (default 2; the best of each scenario is reported), BENCH_MCP_SERVER
 * another stdio server with an `echo {text}` tool (test/fixtures/mcp-servers/fault-server.mjs is
 * a raw one, without the SDK's own cost).
 */
import type { ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { descendants } from '../test/helpers/processes.js';
import { adminPut, callInLoops, launched, printTable, rssMiB, sleep, startGateway, startMcpFloor, type Row } from './lib.js';
import { run as runModern } from './mcp-modern.js';
import type { Build } from './revision.js';

const ROOT = resolve(import.meta.dirname, '..');
const SERVER = process.env.BENCH_MCP_SERVER ? resolve(process.env.BENCH_MCP_SERVER) : join(ROOT, 'examples/mcp-servers/demo-server.mjs');
const SECONDS = Number(process.env.BENCH_MCP_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_MCP_ROUNDS ?? 2);
const WARMUP_CALLS = 200;
const SESSION_COUNTS = [1, 16];
const CREATION_SAMPLES = 10;
const IDLE_SESSIONS = 16;
const ADMIN_KEY = 'bench-admin-key-0123456789';

/** direct, floor, or a gateway contender: "<build>: floor via gateway proxy" / "bridge streamable-http" / "bridge sse". */
type Way = string;
const GATEWAY_WAYS = ['floor via gateway proxy', 'bridge streamable-http', 'bridge sse', 'remote streamable-http', 'federation of three'] as const;
/** Servers of the federation whose tools/list is measured. */
const LIST_BACKENDS = 10;
const LIST_COLD_SAMPLES = 5;
const LIST_WARM_CALLS = 200;

interface Session {
  client: Client;
  close(): Promise<void>;
  /** The echo tool's name on this way (prefixed through a federation). */
  tool?: string;
}

interface Measured {
  callsPerSecond: number;
  p50: number;
  p99: number;
  /** CPU time per call, in µs, of each process taking part (client, gateway, server, …). */
  cpuPerCall: Record<string, number>;
}

/** The processes a contender's calls run through: party name → pids, looked up once its sessions are open. */
type Parties = () => Record<string, number[]>;

/** CPU columns, in the order the table shows them. */
const PARTIES = ['client', 'gateway', 'server'] as const;

export const comparesBuilds = true;

export async function run(builds: Build[]): Promise<void> {
  // The SDK's SSE client passes one AbortSignal to every POST; undici lets go of its listeners
  // only at garbage collection, which floods the output with MaxListenersExceeded warnings.
  setMaxListeners(0);
  const work = mkdtempSync(join(tmpdir(), 'bench-mcp-'));
  let floor: ChildProcess | undefined;
  try {
    const started = await startMcpFloor();
    floor = started.child;
    const open: Record<Way, () => Promise<Session>> = {};
    const parties: Record<Way, Parties> = {};
    const ways: Way[] = ['direct', 'floor'];
    // Direct children only: the gateway (and its own children) also descend from this process.
    const serversUnder = (parent: number) => descendants(parent).filter((p) => p.ppid === parent && p.command.includes(SERVER)).map((p) => p.pid);
    Object.assign(open, opener(started.url));
    parties.direct = () => ({ server: serversUnder(process.pid) });
    parties.floor = () => ({ server: [started.child.pid!] });
    // Only the bridge's figures name their gateway when a run compares builds.
    const wayName = (build: Build, way: string) => (builds.length > 1 ? `${build.label}: ${way}` : way);
    let memoryGateway: { pid: number; url: string } | undefined;
    let listGateway: string | undefined;
    for (const [b, build] of builds.entries()) {
      const config = join(work, `config-${b}.yaml`);
      writeFileSync(config, `gateway:\n  data_dir: ${JSON.stringify(join(work, `data-${b}`))}\nmcp:\n  max_children: 64\n`);
      const gateway = await startGateway(build, { env: { TOLLGATE_ADMIN_KEY: ADMIN_KEY, TOLLGATE_ACCESS_LOG: 'false' }, args: ['--config', config] });
      await admin(gateway.admin, '/routes/bench', {
        uri: '/bench/*',
        plugins: { 'mcp-bridge': { base_uri: '/bench', command: 'node', args: [SERVER], max_sessions: 64 } },
      });
      // The gateway's own cost per request, for comparison: the floor endpoint behind a plain proxy route.
      await admin(gateway.admin, '/routes/floor', { uri: '/floor/*', upstream: { type: 'roundrobin', nodes: { [new URL(started.url).host]: 1 } } });
      // The floor as a remote MCP server (builds from before mcp_servers have no such row).
      const remote = await admin(gateway.admin, '/mcp_servers/floor', { url: started.url, health_check: { interval: 0 }, max_sessions: 64 }).then(
        () => true,
        () => false,
      );
      if (remote) await admin(gateway.admin, '/routes/remote', { uri: '/remote/*', plugins: { 'mcp-bridge': { base_uri: '/remote', server_id: 'floor' } } });
      // Three records of the bench's stdio server behind one federation (builds before it have no such row).
      const federation = await federate(gateway.admin, 'fed', ['a', 'b', 'c']).then(
        () => true,
        () => false,
      );
      const urls: Record<(typeof GATEWAY_WAYS)[number], string> = {
        'floor via gateway proxy': `${gateway.url}/floor/mcp`,
        'bridge streamable-http': `${gateway.url}/bench/mcp`,
        'bridge sse': `${gateway.url}/bench/sse`,
        'remote streamable-http': `${gateway.url}/remote/mcp`,
        'federation of three': `${gateway.url}/fed/mcp`,
      };
      for (const way of GATEWAY_WAYS) {
        if (way === 'remote streamable-http' && !remote) continue;
        if (way === 'federation of three' && !federation) continue;
        const name = wayName(build, way);
        ways.push(name);
        open[name] = way === 'bridge sse' ? () => sse(urls[way]) : way === 'federation of three' ? () => federated(urls[way]) : () => streamable(urls[way]);
        parties[name] =
          way === 'floor via gateway proxy' || way === 'remote streamable-http'
            ? () => ({ gateway: [gateway.pid], server: [started.child.pid!] })
            : () => ({ gateway: [gateway.pid], server: serversUnder(gateway.pid) });
      }
      memoryGateway ??= { pid: gateway.pid, url: urls['bridge streamable-http'] };
      if (federation && b === 0) {
        await federate(gateway.admin, 'ten', Array.from({ length: LIST_BACKENDS }, (_, i) => `s${i}`));
        listGateway = `${gateway.url}/ten/mcp`;
      }
    }

    process.stdout.write(
      `mcp: tools/call echo, ${SECONDS} s per scenario after ${WARMUP_CALLS} warm-up calls per session, best of ${ROUNDS} rounds; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
    );
    // Rounds interleave the contenders, and the best round of each counts: on a shared machine
    // a burst of someone else's work then hurts one round, not one contender.
    const results = new Map<string, Measured>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const sessions of SESSION_COUNTS) {
        for (const way of ways) {
          const key = `${way}/${sessions}`;
          const measured = await measure(open[way], sessions, parties[way]);
          const best = results.get(key);
          if (!best || measured.callsPerSecond > best.callsPerSecond) results.set(key, measured);
        }
      }
    }
    for (const sessions of SESSION_COUNTS) {
      const direct = results.get(`direct/${sessions}`)!;
      const rows: Row[] = ways.map((way) => {
        const r = results.get(`${way}/${sessions}`)!;
        return {
          name: way,
          'calls/s': r.callsPerSecond,
          'p50 ms': r.p50,
          'p99 ms': r.p99,
          'calls/s vs direct': r.callsPerSecond / direct.callsPerSecond,
          'p50 vs direct': r.p50 / direct.p50,
        };
      });
      printTable(`tools/call, ${sessions} session${sessions > 1 ? 's' : ''}`, rows, ['calls/s', 'p50 ms', 'p99 ms', 'calls/s vs direct', 'p50 vs direct']);
    }
    for (const sessions of SESSION_COUNTS) {
      const total = (way: Way) => Object.values(results.get(`${way}/${sessions}`)!.cpuPerCall).reduce((a, b) => a + b, 0);
      printTable(
        `CPU per call, µs, ${sessions} session${sessions > 1 ? 's' : ''} (client = this process; server = the stdio server(s) or the floor endpoint)`,
        ways.map((way) => {
          const r = results.get(`${way}/${sessions}`)!;
          return {
            name: way,
            ...Object.fromEntries(PARTIES.map((party) => [party, r.cpuPerCall[party] === undefined ? '' : r.cpuPerCall[party]])),
            total: total(way),
            'direct total / total': total('direct') / total(way),
          };
        }),
        [...PARTIES, 'total', 'direct total / total'],
      );
    }
    process.stdout.write(
      '"direct total / total": the share of direct throughput a contender can reach when every process competes for the same cores.\n',
    );
    // The floor's own rows: behind a proxy route, or as a remote MCP server; their cost is (row − floor).
    const isProxy = (way: Way) => way.endsWith('floor via gateway proxy') || way.endsWith('remote streamable-http');
    const cost = (way: Way, sessions: number) =>
      results.get(`${way}/${sessions}`)!.p50 - results.get(`floor/${sessions}`)!.p50 - (isProxy(way) ? 0 : results.get(`direct/${sessions}`)!.p50);
    const federations = ways.filter((way) => way.endsWith('federation of three'));
    if (federations.length > 0) {
      printTable(
        'federation of three vs the bridge: added at p50, ms (goal: under 0.2)',
        federations.map((way) => {
          const bridge = way.replace('federation of three', 'bridge streamable-http');
          return {
            name: way,
            ...Object.fromEntries(SESSION_COUNTS.map((n) => [`${n} session${n > 1 ? 's' : ''}`, results.get(`${way}/${n}`)!.p50 - results.get(`${bridge}/${n}`)!.p50])),
          };
        }),
        SESSION_COUNTS.map((n) => `${n} session${n > 1 ? 's' : ''}`),
      );
    }
    printTable(
      'bridge cost at p50 (bridge − floor − direct), ms; the proxy and remote rows are (row − floor): the gateway\'s own cost in front of the same server',
      ways.slice(2).filter((way) => !federations.includes(way)).map((way) => ({
        name: way,
        ...Object.fromEntries(SESSION_COUNTS.map((n) => [`${n} session${n > 1 ? 's' : ''}`, cost(way, n)])),
      })),
      SESSION_COUNTS.map((n) => `${n} session${n > 1 ? 's' : ''}`),
    );

    const creation: Row[] = [];
    for (const way of ways.filter((w) => !w.endsWith('floor via gateway proxy'))) creation.push({ name: way, 'median ms': await sessionCreation(open[way]), 'samples': CREATION_SAMPLES });
    printTable('session creation: connect to first tools/call result', creation, ['median ms', 'samples']);

    if (listGateway) {
      const lists = await listTimes(listGateway);
      printTable(
        `tools/list through a federation of ${LIST_BACKENDS} servers (${lists.tools} tools; cold: a new session's first list, ${LIST_COLD_SAMPLES} samples; warm: ${LIST_WARM_CALLS} lists after it)`,
        [
          { name: 'cold (ten servers started, initialized, listed)', 'p50 ms': lists.cold },
          { name: 'warm (the per-session cache)', 'p50 ms': lists.warm },
        ],
        ['p50 ms'],
      );
    }

    const memory = await idleMemory(memoryGateway!.pid, () => streamable(memoryGateway!.url));
    printTable(
      `memory per idle session (${IDLE_SESSIONS} idle Streamable HTTP sessions, ${builds[0].label})`,
      [
        { name: 'gateway process (RSS delta / session)', MiB: memory.gatewayPerSession },
        { name: 'child process (RSS each)', MiB: memory.childEach },
      ],
      ['MiB'],
    );
  } finally {
    floor?.kill('SIGTERM');
    for (const child of launched) child.kill('SIGTERM');
    await sleep(500);
    rmSync(work, { recursive: true, force: true });
  }
  // Issue 16's scenarios (MCP 2026-07-28 against 2025-era sessions, prewarm, process modes).
  await runModern(builds);
}

const admin = (base: string, path: string, body: unknown) => adminPut(base, ADMIN_KEY, path, body);

/** Records `<id>-<name>` of the bench's stdio server, and a federation route `/<id>/*` over them with the names as prefixes. */
async function federate(base: string, id: string, names: string[]): Promise<void> {
  for (const name of names) await admin(base, `/mcp_servers/${id}-${name}`, { command: 'node', args: [SERVER], max_sessions: 64 });
  await admin(base, `/routes/${id}`, {
    uri: `/${id}/*`,
    plugins: { 'mcp-federation': { base_uri: `/${id}`, servers: names.map((name) => ({ server_id: `${id}-${name}`, prefix: name })), max_sessions: 64 } },
  });
}

/** A federation session that has listed the tools: it holds a session of every server. */
async function federated(url: string): Promise<Session> {
  const session = await streamable(url);
  await session.client.listTools();
  return { ...session, tool: 'a_echo' };
}

async function listTimes(url: string): Promise<{ cold: number; warm: number; tools: number }> {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const cold: number[] = [];
  const warm: number[] = [];
  let tools = 0;
  for (let i = 0; i < LIST_COLD_SAMPLES; i++) {
    const session = await streamable(url);
    try {
      let t = performance.now();
      tools = (await session.client.listTools()).tools.length;
      cold.push(performance.now() - t);
      for (let j = 0; j < LIST_WARM_CALLS / LIST_COLD_SAMPLES; j++) {
        t = performance.now();
        await session.client.listTools();
        warm.push(performance.now() - t);
      }
    } finally {
      await session.close();
    }
    await sleep(500);
  }
  return { cold: median(cold), warm: median(warm), tools };
}

async function streamable(url: string): Promise<Session> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

async function sse(url: string): Promise<Session> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(url)));
  return { client, close: () => client.close() };
}

function opener(floorUrl: string): Record<Way, () => Promise<Session>> {
  return {
    async direct() {
      const client = new Client({ name: 'bench', version: '1.0.0' });
      await client.connect(new StdioClientTransport({ command: process.execPath, args: [SERVER], stderr: 'ignore' }));
      return { client, close: () => client.close() };
    },
    floor: () => streamable(floorUrl),
  };
}

async function measure(open: () => Promise<Session>, count: number, parties: Parties): Promise<Measured> {
  const sessions = await Promise.all(Array.from({ length: count }, () => open()));
  try {
    const call = (s: Session, i: number) => s.client.callTool({ name: s.tool ?? 'echo', arguments: { text: `call ${i}` } });
    await Promise.all(sessions.map(async (s) => {
      for (let i = 0; i < WARMUP_CALLS; i++) await call(s, i);
    }));
    const load = await callInLoops(sessions.map((s) => (i) => call(s, i)), SECONDS, { ...parties(), client: [process.pid] });
    if (load.errors > 0) process.stdout.write(`${load.errors} calls failed (left out of the figures), the first: ${load.firstError}\n`);
    return { callsPerSecond: load.callsPerSecond, p50: load.p50, p99: load.p99, cpuPerCall: load.cpuPerCall };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
    // Let stopped children go before the next scenario competes for the CPU.
    await sleep(500);
  }
}

async function sessionCreation(open: () => Promise<Session>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < CREATION_SAMPLES; i++) {
    const t = performance.now();
    const session = await open();
    await session.client.callTool({ name: session.tool ?? 'echo', arguments: { text: 'first' } });
    samples.push(performance.now() - t);
    await session.close();
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

async function idleMemory(pid: number, open: () => Promise<Session>): Promise<{ gatewayPerSession: number; childEach: number }> {
  await sleep(1000);
  const before = rssMiB(pid);
  const sessions: Session[] = [];
  for (let i = 0; i < IDLE_SESSIONS; i++) sessions.push(await open());
  await sleep(1500);
  const after = rssMiB(pid);
  const children = descendants(pid).filter((p) => p.command.includes(SERVER));
  const childEach = children.reduce((sum, p) => sum + rssMiB(p.pid), 0) / Math.max(children.length, 1);
  await Promise.all(sessions.map((s) => s.close()));
  return { gatewayPerSession: (after - before) / IDLE_SESSIONS, childEach };
}
