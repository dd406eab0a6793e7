/**
 * `tollgate start --demo`: a small httpbin-like upstream on 127.0.0.1:8081 and, on an empty
 * catalog, demo routes pointing at it, so a newcomer's first curl works; and an MCP route
 * bridging the stdio demo server of examples/mcp-servers, so their first MCP client works too.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import type { Catalog } from '../core/catalog/types.js';

export const DEMO_UPSTREAM = { host: '127.0.0.1', port: 8081 };

/** Echoes the request back as JSON (`/status/<code>` answers that status, `/delay/<s>` waits). */
export function startDemoUpstream(port = DEMO_UPSTREAM.port, host = DEMO_UPSTREAM.host): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream');
      const status = /^\/status\/(\d{3})$/.exec(url.pathname);
      const delay = /^\/delay\/(\d+(?:\.\d+)?)$/.exec(url.pathname);
      const reply = () => {
        const body = JSON.stringify(
          {
            method: req.method,
            path: url.pathname,
            args: Object.fromEntries(url.searchParams),
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          },
          null,
          2,
        );
        res.writeHead(status ? Number(status[1]) : 200, { 'content-type': 'application/json' });
        res.end(`${body}\n`);
      };
      if (delay) setTimeout(reply, Math.min(Number(delay[1]), 10) * 1000);
      else reply();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export async function seedDemoCatalog(catalog: Catalog): Promise<void> {
  await catalog.put('upstreams', 'demo-echo', {
    id: 'demo-echo',
    name: 'demo echo upstream',
    type: 'roundrobin',
    nodes: { [`${DEMO_UPSTREAM.host}:${DEMO_UPSTREAM.port}`]: 1 },
    scheme: 'http',
    pass_host: 'pass',
    hash_on: 'vars',
    retry_timeout: 0,
    keepalive_pool: { size: 320, idle_timeout: 60, requests: 1000 },
  });
  await catalog.put('routes', 'demo-http', {
    id: 'demo-http',
    name: 'demo HTTP route',
    uri: '/demo/*',
    priority: 0,
    status: 1,
    upstream_id: 'demo-echo',
    plugins: {
      'request-id': { header_name: 'X-Request-Id', include_in_response: true, algorithm: 'uuid', range_id: {} },
      'proxy-rewrite': { regex_uri: ['^/demo/(.*)', '/$1'] },
    },
  });
  const demoMcpServer = findDemoMcpServer();
  if (demoMcpServer) {
    // MCP clients connect to /mcp/demo/mcp (Streamable HTTP) or /mcp/demo/sse (legacy SSE).
    await catalog.put('routes', 'demo-mcp', {
      id: 'demo-mcp',
      name: 'demo MCP server (stdio, bridged)',
      uri: '/mcp/demo/*',
      priority: 0,
      status: 1,
      plugins: {
        'mcp-bridge': { base_uri: '/mcp/demo', command: 'node', args: [demoMcpServer], session_idle_timeout: 600, max_sessions: 16 },
      },
    });
  }
}

/** examples/mcp-servers/demo-server.mjs, from bin/ (tsx) or dist/bin/ (built). */
function findDemoMcpServer(): string | undefined {
  for (const up of ['..', '../..']) {
    const candidate = resolve(import.meta.dirname, up, 'examples/mcp-servers/demo-server.mjs');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}
