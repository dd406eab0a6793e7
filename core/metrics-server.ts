/**
 * The Prometheus exporter's listener (default 127.0.0.1:9091, APISIX's `/apisix/prometheus/metrics`),
 * off the data plane so that a scrape never competes with traffic for a route and metrics are
 * never reachable from where clients are. What it serves comes from `source`: one gateway's
 * registry, or with several workers the primary's aggregation of every worker's (bin/cluster.ts).
 */
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from './config.js';
import { closeNow, listen } from './listen.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';

export class MetricsServer {
  readonly server: Server;

  constructor(
    private readonly path: string,
    private readonly source: () => Promise<string>,
    onError: (err: unknown) => void,
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== this.path || (req.method !== 'GET' && req.method !== 'HEAD')) {
        const body = JSON.stringify({ error_msg: path === this.path ? 'method not allowed' : 'not found' });
        res.writeHead(path === this.path ? 405 : 404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      this.source().then(
        (text) => {
          res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          onError(err);
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error_msg: 'metrics collection failed' }));
        },
      );
    });
  }

  listen(address: ListenAddress): Promise<ListenAddress> {
    return listen(this.server, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }
}
