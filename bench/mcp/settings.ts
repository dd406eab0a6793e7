/**
 * What the MCP scenarios of bench/mcp-modern.ts share: the servers, the measuring times (the same
 * variables as bench/mcp.ts) and the Admin API key of their gateways.
 */
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
/** An SDK stdio server with an `echo {text}` tool: what most stdio servers are built on. */
export const DEMO_SERVER = join(ROOT, 'examples/mcp-servers/demo-server.mjs');
/** A raw stdio server in awk (bench/fixtures/echo-server.awk): a few MiB, for a thousand children. */
export const AWK_SERVER = join(ROOT, 'bench/fixtures/echo-server.awk');
/** Runs a server after a delay and records when it answered initialize (bench/fixtures/timed-start.mjs). */
export const TIMED_START = join(ROOT, 'bench/fixtures/timed-start.mjs');
/** Seconds each measured scenario calls for (BENCH_MCP_SECONDS, default 4). */
export const SECONDS = Number(process.env.BENCH_MCP_SECONDS ?? 4);
/** Interleaved rounds of the eras comparison (BENCH_MCP_ROUNDS, default 2); the best of each counts. */
export const ROUNDS = Number(process.env.BENCH_MCP_ROUNDS ?? 2);
export const WARMUP_CALLS = 200;
export const ADMIN_KEY = 'bench-admin-key-0123456789';
