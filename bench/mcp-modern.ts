/**
 * `npm run bench -- mcp-modern` (also run at the end of `npm run bench -- mcp`): what issue 16's
 * fronts and process modes cost, each scenario in bench/mcp/, against this tree's gateway only
 * (with `--rev`, the revision's gateway runs in the mcp suite's tables, not here: older builds
 * have no 2026-07-28 front, no prewarm, no shared mode).
 *
 * 1. eras (bench/mcp/eras.ts): MCP 2026-07-28 stateless calls (the v2 SDK client pinned to that
 *    revision) against 2025-era sessions (the v1 SDK client over Streamable HTTP) on the same
 *    route to the same stdio server, at 1 and 16 concurrent clients: calls/s, p50, p99, CPU per
 *    call of client, gateway and servers, and the ratios.
 * 2. creation (bench/mcp/session-creation.ts): time from connect to the first tools/call result,
 *    with and without `prewarm` on the route, for the demo server and for the same server
 *    started a second late (a stand-in for an `npx` or Python start); then where the time of a
 *    session on a warm child goes (client, gateway, child), step by step. Goal of issue 16: the
 *    first result within 20 ms of connect with a warm pool.
 * 3. modes (bench/mcp/process-modes.ts): `process_mode: shared` against `per-session` with 100
 *    and 1,000 concurrent sessions calling in a loop: calls/s, p50, p99, CPU per call, and the
 *    memory of the gateway and its children (RSS and PSS summed over the gateway and its
 *    descendants). Rows for the demo server (node and the SDK) and for a raw awk server
 *    (bench/fixtures/echo-server.awk, about 2 MiB per process); per-session with 1,000 demo
 *    servers is not run but estimated: a thousand node processes would not fit in memory.
 *
 * Benchmarks are not tests: to measure what they name, these scenarios raise caps above their
 * defaults, and say so here and in their printed tables:
 * - eras: `mcp.max_children` 64 (default 32) and the route's `max_sessions` 64 (default 16). 16
 *   sessions and the modern front's pooled session are 17, one over the route's default; the
 *   previous contender's 16 children may still be stopping while the next opens its sessions.
 * - modes: `mcp.max_children` 1,010 (default 32) and each route's `max_sessions` 1,000 (default
 *   16): every session (shared ones too) and every child counts against them, and the scenario
 *   is 1,000 sessions at once. `mcp.allowed_commands` gains `mawk` for the awk server.
 * - creation raises nothing: one session at a time and two warm children fit the defaults.
 *
 * 4. remote (bench/mcp/remote-modern.ts): the v2 SDK client pinned to 2026-07-28 against a remote
 *    server that speaks 2026-07-28 (a v2 SDK server), directly and through the gateway, which
 *    forwards each request as it is: tools/call, and tools/list with and without the route's
 *    list cache. Raises nothing.
 *
 * BENCH_MCP_MODERN=eras,creation,modes,remote picks scenarios (default: all); BENCH_MCP_SECONDS (default
 * 4) and BENCH_MCP_ROUNDS (default 2) as in bench/mcp.ts; BENCH_MCP_SESSION_COUNTS (default
 * "100,1000") the session counts of the modes scenario.
 */
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launched } from './lib.js';
import { compareEras } from './mcp/eras.js';
import { compareProcessModes } from './mcp/process-modes.js';
import { compareRemoteModern } from './mcp/remote-modern.js';
import { compareSessionCreation } from './mcp/session-creation.js';
import type { Build } from './revision.js';

/** `npm run bench -- mcp` runs this suite too; a run of every suite need not run it twice. */
export const includedIn = 'mcp';

const SCENARIOS = { eras: compareEras, creation: compareSessionCreation, modes: compareProcessModes, remote: compareRemoteModern };

export async function run([build]: Build[]): Promise<void> {
  // The SDK clients pass one AbortSignal to all their requests; undici lets go of its listeners
  // only at garbage collection, which floods the output with MaxListenersExceeded warnings.
  setMaxListeners(0);
  const wanted = (process.env.BENCH_MCP_MODERN ?? Object.keys(SCENARIOS).join(',')).split(',');
  const work = mkdtempSync(join(tmpdir(), 'bench-mcp-modern-'));
  try {
    for (const [name, scenario] of Object.entries(SCENARIOS)) if (wanted.includes(name)) await scenario(build, work);
  } finally {
    for (const child of launched) if (child.exitCode === null) child.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}
