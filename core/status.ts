/**
 * The status listener (APISIX's `/status` and `/status/ready`, default 127.0.0.1:7085): liveness,
 * and readiness that reports catalog health. Degraded (store unreachable, last good snapshot
 * serving) is still ready: every instance loses the same Redis at the same time, and taking them
 * all out of rotation would turn a control-plane outage into a data-plane one. So is a store that
 * lost the catalog (a Redis restarted empty) while the snapshot serves: `catalog.storeReset` says so.
 */
import { createServer, type Server } from 'node:http';
import type { CatalogHealth } from './catalog/types.js';
import type { ListenAddress } from './config.js';
import { closeNow, listen } from './listen.js';

/**
 * A catalog entry the gateway cannot use as stored (written by an older version, or straight into
 * the file or Redis), listed here until fixed, with what that does: it is left out (it matches
 * nothing, or only observed requests), its route answers 503, or — a global rule that could
 * refuse requests — every request answers 503.
 */
export interface EntryProblem {
  kind: string;
  id: string;
  error: string;
  effect: 'skipped' | 'answers 503' | 'every request answers 503';
}

export class StatusServer {
  readonly server: Server;

  constructor(
    private readonly health: () => CatalogHealth,
    private readonly problems: () => readonly EntryProblem[] = () => [],
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      let status = 404;
      let body: unknown = { error_msg: 'not found' };
      // Invalid entries do not make a gateway unready: every instance shares the catalog, and
      // taking them all out of rotation would not serve the other routes any better.
      if (path === '/status') {
        status = 200;
        body = { status: 'ok', invalid_entries: this.problems() };
      } else if (path === '/status/ready') {
        const catalog = this.health();
        const state = !catalog.loaded ? 'not ready' : catalog.connected && !catalog.storeReset ? 'ok' : 'degraded';
        status = catalog.loaded ? 200 : 503;
        body = { status: state, catalog, invalid_entries: this.problems() };
      }
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  }

  listen(address: ListenAddress): Promise<ListenAddress> {
    return listen(this.server, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }
}
