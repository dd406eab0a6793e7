/**
 * `npm run bench -- mcp-burst`: a burst of MCP clients connecting at once (issue 10, item 17).
 *
 * N SDK clients (Streamable HTTP, in this process) connect to one bridge route at the same moment
 * and each calls `echo` once; the table shows how many succeeded, the errors of the others, and
 * the time until the last one had its answer, for several `mcp.start_concurrency` values. The
 * caps are raised to N for this measurement only (max_children, max_sessions, start_queue), as
 * the tester did, so that every client is admitted and only the start-up is measured.
 *
 * BENCH_BURST_CLIENTS sets N (default 200), BENCH_BURST_CONCURRENCY the list of start
 * concurrencies (default "8,200": the default and, N itself, no queue at all), BENCH_MCP_SERVER the stdio
 * server (default examples/mcp-servers/demo-server.mjs, an SDK server).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnGateway } from '../test/helpers/gateway.js';
import { median, printTable, type Row } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const SERVER = process.env.BENCH_MCP_SERVER ? resolve(process.env.BENCH_MCP_SERVER) : join(ROOT, 'examples/mcp-servers/demo-server.mjs');
const CLIENTS = Number(process.env.BENCH_BURST_CLIENTS ?? 200);
const CONCURRENCY = (process.env.BENCH_BURST_CONCURRENCY ?? '8,200').split(',').map(Number);

interface Outcome {
  ok: boolean;
  ms: number;
  error?: string;
  close(): Promise<void>;
}

async function oneClient(url: URL, t0: number): Promise<Outcome> {
  const transport = new StreamableHTTPClientTransport(url);
  const client = new Client({ name: 'burst', version: '1.0.0' });
  const close = async () => {
    await transport.terminateSession().catch(() => undefined);
    await client.close().catch(() => undefined);
  };
  try {
    await client.connect(transport);
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    return { ok: true, ms: performance.now() - t0, close };
  } catch (err) {
    const text = (err as Error).message;
    return { ok: false, ms: performance.now() - t0, error: /"code":"(GW_[A-Z_]+)"/.exec(text)?.[1] ?? text.slice(0, 60), close };
  }
}

async function burst(concurrency: number): Promise<Row> {
  const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-burst-'));
  const config = join(work, 'config.yaml');
  writeFileSync(
    config,
    `gateway:\n  data_dir: ${JSON.stringify(join(work, 'data'))}\nmcp:\n  max_children: ${CLIENTS}\n  start_concurrency: ${concurrency}\n  start_queue: ${CLIENTS}\n`,
  );
  const gateway = await spawnGateway({ TOLLGATE_ADMIN_KEY: 'bench-admin-key-0123456789', TOLLGATE_LOG_LEVEL: 'warn', TOLLGATE_ACCESS_LOG: 'false' }, ['--config', config]);
  try {
    const route = await gateway.admin('PUT', '/routes/burst', {
      uri: '/burst/*',
      plugins: { 'mcp-bridge': { base_uri: '/burst', command: 'node', args: [SERVER], max_sessions: CLIENTS } },
    });
    if (route.status >= 300) throw new Error(`route: ${route.status} ${route.text}`);
    const url = new URL(`${gateway.url}/burst/mcp`);
    const t0 = performance.now();
    const outcomes = await Promise.all(Array.from({ length: CLIENTS }, () => oneClient(url, t0)));
    const ok = outcomes.filter((o) => o.ok);
    const errors = new Map<string, number>();
    for (const o of outcomes) if (o.error) errors.set(o.error, (errors.get(o.error) ?? 0) + 1);
    await Promise.all(outcomes.map((o) => o.close()));
    return {
      name: concurrency >= CLIENTS ? `no queue (${concurrency})` : `start_concurrency ${concurrency}`,
      ok: `${ok.length}/${CLIENTS}`,
      'median s': (median(ok.map((o) => o.ms)) / 1000).toFixed(1),
      'last s': (Math.max(...outcomes.map((o) => o.ms)) / 1000).toFixed(1),
      errors: [...errors].map(([e, n]) => `${n}× ${e}`).join(', ') || '-',
    };
  } finally {
    await gateway.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const rows: Row[] = [];
  for (const concurrency of CONCURRENCY) rows.push(await burst(concurrency));
  printTable(`${CLIENTS} SDK clients connecting at once, then one tools/call each (${SERVER.slice(ROOT.length + 1)})`, rows, ['ok', 'median s', 'last s', 'errors']);
}
