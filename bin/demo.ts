/**
 * `tollgate start --demo`: a small httpbin-like upstream on 127.0.0.1:8081 and, on an empty
 * catalog, demo routes pointing at it, so a newcomer's first curl works.
 */
import { createServer, type Server } from 'node:http';
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
}
