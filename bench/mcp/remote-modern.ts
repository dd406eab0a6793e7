/**
 * MCP 2026-07-28 requests through a remote server that speaks 2026-07-28 itself
 * (bench/fixtures/mcp-modern-server.mjs, the v2 SDK's createMcpHandler): the v2 SDK client pinned
 * to 2026-07-28 calling `echo` and listing tools, directly against the server (the floor: what the
 * client, HTTP and the server cost) and through the gateway, which forwards each request as it is
 * (plugins/kit/mcp/modern-remote.ts). tools/list runs twice through the gateway: on a route whose
 * list cache answers the server's public list without asking it again, and on one with
 * `list_cache_max_ttl: 0` (no cache), so that what the cache saves shows against what forwarding
 * costs. 1 and 16 concurrent clients, best of the rounds. Nothing is raised above its default.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { request } from 'undici';
import { adminPut, callInLoops, launched, loadAverage, printTable, startMcpGateway, stopGateway, type CallLoad, type Row } from '../lib.js';
import type { Build } from '../revision.js';
import { MODERN_PROTOCOL } from './clients.js';
import { ADMIN_KEY, ROUNDS, SECONDS, WARMUP_CALLS } from './settings.js';

const CLIENT_COUNTS = [1, 16];

interface Caller {
  call(i: number): Promise<void>;
  close(): Promise<void>;
}

async function openClient(url: string, what: 'call' | 'list'): Promise<Caller> {
  if (what === 'list') return rawLister(url);
  const client = new ModernClient({ name: 'bench', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN_PROTOCOL } } });
  await client.connect(new ModernTransport(new URL(url)));
  return {
    async call(i) {
      await client.callTool({ name: 'echo', arguments: { text: `call ${i}` } });
    },
    close: () => client.close(),
  };
}

/**
 * tools/list as bare 2026-07-28 POSTs: the v2 SDK client keeps a list for its ttlMs itself, so
 * through it a list would never leave the client.
 */
function rawLister(url: string): Caller {
  const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN_PROTOCOL, 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1.0.0' }, 'io.modelcontextprotocol/clientCapabilities': {} };
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN_PROTOCOL, 'mcp-method': 'tools/list' };
  return {
    async call(i) {
      const res = await request(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list', params: { _meta: meta } }) });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes('"echo"')) throw new Error(`tools/list answered ${res.statusCode}: ${text.slice(0, 200)}`);
    },
    close: async () => undefined,
  };
}

function startModernServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [new URL('../fixtures/mcp-modern-server.mjs', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  launched.push(child);
  return new Promise((resolvePort, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolvePort({ child, url: `http://127.0.0.1:${d.toString().trim()}/mcp` }));
  });
}

export async function compareRemoteModern(build: Build, work: string): Promise<void> {
  const server = await startModernServer();
  const gateway = await startMcpGateway(build, work, 'remote-modern', ADMIN_KEY);
  try {
    await adminPut(gateway.admin, ADMIN_KEY, '/mcp_servers/modern', { url: server.url, health_check: { interval: 0 } });
    await adminPut(gateway.admin, ADMIN_KEY, '/routes/cached', { uri: '/cached/*', plugins: { 'mcp-bridge': { base_uri: '/cached', server_id: 'modern' } } });
    await adminPut(gateway.admin, ADMIN_KEY, '/routes/uncached', {
      uri: '/uncached/*',
      plugins: { 'mcp-bridge': { base_uri: '/uncached', server_id: 'modern', list_cache_max_ttl: 0 } },
    });
    const contenders: Array<{ name: string; url: string; what: 'call' | 'list' }> = [
      { name: 'tools/call, direct', url: server.url, what: 'call' },
      { name: 'tools/call, via gateway', url: `${gateway.url}/cached/mcp`, what: 'call' },
      { name: 'tools/list, direct', url: server.url, what: 'list' },
      { name: 'tools/list, via gateway, list cache off', url: `${gateway.url}/uncached/mcp`, what: 'list' },
      { name: 'tools/list, via gateway, route cache', url: `${gateway.url}/cached/mcp`, what: 'list' },
    ];
    process.stdout.write(
      `\nmcp remote 2026-07-28: the v2 SDK client pinned to 2026-07-28, directly and through the gateway to a v2 SDK server, ${SECONDS} s per contender after ${WARMUP_CALLS} warm-up calls per client, best of ${ROUNDS} rounds; no limit raised; load average ${loadAverage()}\n`,
    );
    const best = new Map<string, CallLoad>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const count of CLIENT_COUNTS) {
        for (const contender of contenders) {
          const callers = await Promise.all(Array.from({ length: count }, () => openClient(contender.url, contender.what)));
          try {
            await Promise.all(callers.map(async (c) => {
              for (let i = 0; i < WARMUP_CALLS; i++) await c.call(i);
            }));
            const load = await callInLoops(
              callers.map((c) => (i) => c.call(i)),
              SECONDS,
              { client: [process.pid], gateway: [gateway.pid], server: [server.child.pid!] },
            );
            const key = `${contender.name}/${count}`;
            if (!best.has(key) || load.callsPerSecond > best.get(key)!.callsPerSecond) best.set(key, load);
          } finally {
            await Promise.all(callers.map((c) => c.close()));
          }
        }
      }
    }
    for (const count of CLIENT_COUNTS) {
      printTable(
        `remote 2026-07-28 server, ${count} concurrent client${count > 1 ? 's' : ''} (CPU: µs per call)`,
        contenders.map((contender): Row => {
          const r = best.get(`${contender.name}/${count}`)!;
          return {
            name: contender.name,
            'calls/s': r.callsPerSecond,
            'p50 ms': r.p50,
            'p99 ms': r.p99,
            'client µs': r.cpuPerCall.client,
            'gateway µs': r.cpuPerCall.gateway,
            'server µs': r.cpuPerCall.server,
          };
        }),
        ['calls/s', 'p50 ms', 'p99 ms', 'client µs', 'gateway µs', 'server µs'],
      );
    }
  } finally {
    await stopGateway(gateway);
    server.child.kill('SIGTERM');
  }
}
