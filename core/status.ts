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

/** What the status listener answers for one path; undefined for a path it does not serve. */
export interface StatusReply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One gateway process's answer. While it drains (a stop signal) it is not ready: a load balancer
 * or Kubernetes takes it out of rotation while requests in flight finish.
 */
export function statusReply(path: string, health: CatalogHealth, problems: readonly EntryProblem[], draining = false): StatusReply | undefined {
  // Invalid entries do not make a gateway unready: every instance shares the catalog, and
  // taking them all out of rotation would not serve the other routes any better.
  if (path === '/status') return { status: 200, body: { status: 'ok', invalid_entries: problems } };
  if (path !== '/status/ready') return undefined;
  if (draining) return { status: 503, body: { status: 'draining', catalog: health, invalid_entries: problems } };
  const state = !health.loaded ? 'not ready' : health.connected && !health.storeReset ? 'ok' : 'degraded';
  return { status: health.loaded ? 200 : 503, body: { status: state, catalog: health, invalid_entries: problems } };
}

export class StatusServer {
  readonly server: Server;

  /** `reply` answers a path (a gateway's own state, or a primary's view of its workers). */
  constructor(reply: (path: string) => StatusReply | undefined | Promise<StatusReply | undefined>) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (answer: StatusReply | undefined) => {
        const { status, body } = answer ?? { status: 404, body: { error_msg: 'not found' } };
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      Promise.resolve()
        .then(() => reply(path))
        .then(send, () => send({ status: 500, body: { error_msg: 'status unavailable' } }));
    });
  }

  listen(address: ListenAddress): Promise<ListenAddress> {
    return listen(this.server, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }
}
