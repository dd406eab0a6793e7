/**
 * The connections to one upstream node, as nginx's `keepalive` (APISIX's `keepalive_pool.size`)
 * means them: `size` is how many IDLE connections are kept for reuse, not how many requests may
 * run at once. Every request gets a connection at once — an idle one (most recently used first)
 * or a new one — so a request never waits behind other requests for a connection, only for its
 * own connect (bounded by `timeout.connect`). When a request ends, its connection is kept if
 * fewer than `size` are idle, otherwise closed.
 *
 * undici's Pool could not do this: its `connections` caps concurrency (requests beyond it wait
 * in a queue without a deadline) and it has no bound on idle connections, only on their idle
 * time. Here each connection is an undici Client (one request at a time), and undici's own
 * keep-alive timeout and requests-per-connection limit still apply to each.
 */
import { buildConnector, Client, type Dispatcher } from 'undici';

export interface NodePoolOptions {
  origin: string;
  connectTimeoutMs: number;
  /** Idle connections kept for reuse. */
  idleConnections: number;
  /** How long an idle connection is kept open. */
  keepAliveMs: number;
  maxRequestsPerClient: number;
  verifyTls: boolean;
}

export class NodePool {
  /** Idle connections, most recently used last. */
  private readonly idle: Client[] = [];
  /** Connections with a request, for shutdown. */
  private readonly busy = new Set<Client>();
  private readonly clientOptions: Client.Options;
  private closed = false;

  constructor(private readonly options: NodePoolOptions) {
    this.clientOptions = {
      pipelining: 1,
      keepAliveTimeout: options.keepAliveMs,
      keepAliveMaxTimeout: options.keepAliveMs,
      maxRequestsPerClient: options.maxRequestsPerClient,
      // One connector for every connection of the node: TLS sessions are resumed across them.
      connect: buildConnector({ timeout: options.connectTimeoutMs, rejectUnauthorized: options.verifyTls }),
    };
  }

  /** Sends the request on an idle connection, or a new one: never queued. */
  dispatch(request: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const client = this.idle.pop() ?? this.open();
    this.busy.add(client);
    // false: the connection is busy until its 'drain'. true: undici refused the request before
    // taking it (it has already told the handler), and the connection is free again.
    if (client.dispatch(request, handler)) this.release(client);
  }

  /** Connections open or kept right now (busy + idle), for tests and metrics. */
  get size(): number {
    return this.busy.size + this.idle.length;
  }

  /** Lets requests in flight finish, then closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle.splice(0), ...this.busy];
    await Promise.all(all.map((c) => c.close().catch(() => c.destroy().catch(() => {}))));
  }

  /** Closes every connection now; requests in flight fail. */
  async destroy(): Promise<void> {
    this.closed = true;
    const all = [...this.idle.splice(0), ...this.busy];
    this.busy.clear();
    await Promise.all(all.map((c) => c.destroy().catch(() => {})));
  }

  private open(): Client {
    const client = new Client(this.options.origin, this.clientOptions);
    client.on('drain', () => this.release(client));
    return client;
  }

  private release(client: Client): void {
    if (!this.busy.delete(client) || client.closed || client.destroyed) return;
    if (!this.closed && this.idle.length < this.options.idleConnections) this.idle.push(client);
    else client.close().catch(() => {});
  }
}
