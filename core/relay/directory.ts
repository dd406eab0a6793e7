/**
 * Where each session owner (a process, named by its token: session-ids.ts) can be reached: the
 * address of its relay listener.
 *
 * - The workers of one node tell each other over IPC (topic `relay`, retained by the primary so a
 *   worker that starts later learns them too). When a worker dies the primary withdraws its
 *   entry at once: its sessions answer 404 from then on.
 * - Instances sharing a Redis register in it: `<key_prefix>:relay:<token>` holds the address
 *   with a TTL (`relay.owner_ttl`), renewed every third of it. A stopping gateway deletes its key;
 *   one that died stops renewing it, so its sessions answer 404 everywhere within the TTL (plus
 *   the lookup cache below). Keys carry no hash tag: on a Redis Cluster they spread.
 * Lookups in Redis are cached briefly, the answer "no such owner" too, so a client naming a
 * session of a dead gateway costs one Redis read per cache period, not one per request.
 */
import type { Logger } from '../logger.js';
import type { GatewayRedis } from '../redis.js';
import type { PeerLink } from '../workers/worker-link.js';
import { PROCESS_TOKEN } from './session-ids.js';

export interface RelayAddress {
  host: string;
  port: number;
}

export interface RelayDirectoryOptions {
  logger: Logger;
  /** The other workers of this node. */
  peers?: PeerLink;
  /** Redis shared with other instances, and the key prefix of this gateway. */
  redis?: { client: GatewayRedis; keyPrefix: string };
  /** Milliseconds a registration lives without renewal. */
  ownerTtlMs: number;
  /** Milliseconds a lookup waits for a Redis connection that is still opening. */
  connectTimeoutMs: number;
}

interface Cached {
  address: RelayAddress | undefined;
  until: number;
}

/** How long a Redis lookup is reused: a dead owner's sessions keep answering 404 without asking again. */
const CACHE_MS = 1000;

export class RelayDirectory {
  /** Owners on this node, from the other workers. */
  private readonly local = new Map<string, RelayAddress>();
  private readonly cache = new Map<string, Cached>();
  private readonly lookups = new Map<string, Promise<RelayAddress | undefined>>();
  private renewTimer?: NodeJS.Timeout;
  private stopPeers?: () => void;
  private stopRegistering?: () => void;
  private closed = false;

  constructor(private readonly options: RelayDirectoryOptions) {}

  /** Announces `self` (this process's relay listener, as others reach it) and follows the others. */
  start(self: RelayAddress): void {
    const { peers, redis } = this.options;
    if (peers) {
      this.stopPeers = peers.subscribe('relay', (body) => {
        const entry = body as { token?: string; address?: RelayAddress; withdrawn?: boolean } | undefined;
        if (!entry?.token || entry.token === PROCESS_TOKEN) return;
        if (entry.withdrawn || !entry.address) this.local.delete(entry.token);
        else this.local.set(entry.token, entry.address);
      });
      peers.publish('relay', { token: PROCESS_TOKEN, address: self }, true);
    }
    if (redis) {
      const register = () => {
        redis.client.set(this.key(PROCESS_TOKEN), JSON.stringify(self), 'PX', this.options.ownerTtlMs).catch((err: Error) => {
          if (!this.closed) this.options.logger.warn({ err: err.message }, 'relay: cannot renew this gateway\'s registration; its MCP sessions may answer 404 on other instances');
        });
      };
      register();
      // The connection may still be opening (no offline queue): register the moment it is ready,
      // and again after every reconnection.
      redis.client.on('ready', register);
      this.stopRegistering = () => redis.client.off('ready', register);
      this.renewTimer = setInterval(register, Math.max(100, Math.floor(this.options.ownerTtlMs / 3)));
      this.renewTimer.unref();
    }
  }

  /**
   * The address of the owner named by `token`: undefined when it is this process, or unknown
   * (gone, or never existed); a promise when Redis must be asked.
   */
  resolve(token: string): RelayAddress | undefined | Promise<RelayAddress | undefined> {
    if (token === PROCESS_TOKEN) return undefined;
    const local = this.local.get(token);
    if (local) return local;
    const redis = this.options.redis;
    if (!redis) return undefined;
    const cached = this.cache.get(token);
    if (cached && cached.until > Date.now()) return cached.address;
    let lookup = this.lookups.get(token);
    if (!lookup) {
      lookup = whenReady(redis.client, this.options.connectTimeoutMs)
        .then(() => redis.client.get(this.key(token)))
        .then(
          (value) => {
            const address = value ? (JSON.parse(value) as RelayAddress) : undefined;
            if (this.cache.size > 10_000) this.cache.clear();
            this.cache.set(token, { address, until: Date.now() + CACHE_MS });
            return address;
          },
          // Redis away: nobody can be named the owner; the request is served (404) here, and
          // the next one asks again.
          () => undefined,
        )
        .finally(() => this.lookups.delete(token));
      this.lookups.set(token, lookup);
    }
    return lookup;
  }

  /**
   * Every other gateway process known now: this node's workers, and every instance registered in
   * Redis (a scan of the registrations; on a Redis Cluster, of every master).
   */
  async others(): Promise<Array<{ token: string; address: RelayAddress }>> {
    const found = new Map<string, RelayAddress>(this.local);
    const redis = this.options.redis;
    if (redis) {
      const prefix = `${redis.keyPrefix}:relay:`;
      const nodes = 'nodes' in redis.client && typeof redis.client.nodes === 'function' ? redis.client.nodes('master') : [redis.client];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 200);
          cursor = next;
          for (const key of keys) {
            const token = key.slice(prefix.length);
            if (token === PROCESS_TOKEN || found.has(token)) continue;
            const value = await node.get(key);
            if (value) found.set(token, JSON.parse(value) as RelayAddress);
          }
        } while (cursor !== '0');
      }
    }
    return [...found].map(([token, address]) => ({ token, address }));
  }

  /** The owner could not be reached: ask again next time rather than trust the cache. */
  forget(token: string): void {
    this.cache.delete(token);
  }

  /** Stops renewing and removes this process's registration: its sessions are gone with it. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.renewTimer);
    this.stopRegistering?.();
    this.stopPeers?.();
    this.options.peers?.publish('relay', { token: PROCESS_TOKEN, withdrawn: true }, true);
    await this.options.redis?.client.del(this.key(PROCESS_TOKEN)).catch(() => undefined);
  }

  private key(token: string): string {
    return `${this.options.redis!.keyPrefix}:relay:${token}`;
  }
}

/** Resolves once `client` can take a command; a connection that is down fails at once. */
function whenReady(client: GatewayRedis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (!['connecting', 'connect', 'wait', 'reconnecting'].includes(client.status)) return Promise.reject(new Error(`redis ${client.status}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error('redis not ready'));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}
