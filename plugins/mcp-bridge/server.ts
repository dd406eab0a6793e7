/**
 * One MCP server as this gateway instance runs it: a record of `/apisix/admin/mcp_servers`, or a
 * route's inline command (a server without a name, one per route). Routes come and go with their
 * session managers (sessions.ts); the server outlives their versions and holds what is the
 * server's across them: its session caps (max_sessions, max_sessions_per_consumer count the
 * sessions of every route using it).
 */
import type { ReclaimCandidate } from './runtime.js';

/** What a server needs of the session managers of the routes using it. */
export interface ServerUser {
  /** The least recently active session of this user that may be ended to make room (of `consumer`'s, when given). */
  reclaimable(now: number, owner?: { consumer: string | undefined }): ReclaimCandidate | undefined;
}

export class McpServer {
  /** Session managers using it (a route version, or several sharing one bridge config). */
  readonly users = new Set<ServerUser>();
  private open = 0;
  private readonly perConsumer = new Map<string, number>();

  constructor(
    /** `mcp_servers/<id>` for a catalog record, `route:<route key>` for an inline command. */
    readonly key: string,
    /** The record's id; undefined for an inline command. */
    readonly id: string | undefined,
  ) {}

  /** Live sessions, whichever route opened them. */
  get sessions(): number {
    return this.open;
  }

  sessionsOf(consumer: string | undefined): number {
    return this.perConsumer.get(consumer ?? '') ?? 0;
  }

  opened(consumer: string | undefined): void {
    this.open += 1;
    const key = consumer ?? '';
    this.perConsumer.set(key, (this.perConsumer.get(key) ?? 0) + 1);
  }

  closed(consumer: string | undefined): void {
    this.open = Math.max(0, this.open - 1);
    const key = consumer ?? '';
    const left = (this.perConsumer.get(key) ?? 1) - 1;
    if (left > 0) this.perConsumer.set(key, left);
    else this.perConsumer.delete(key);
  }

  /**
   * Ends the least recently active session of this server (of `owner`'s) that may be reclaimed,
   * whichever route holds it; false when there is none.
   */
  reclaim(now: number, cap: string, owner?: { consumer: string | undefined }): boolean {
    let oldest: ReclaimCandidate | undefined;
    for (const user of this.users) {
      const candidate = user.reclaimable(now, owner);
      if (candidate && (!oldest || candidate.idleMs > oldest.idleMs)) oldest = candidate;
    }
    oldest?.reclaim(cap);
    return oldest !== undefined;
  }
}

/** The servers of one gateway, by key, while a route uses them. */
export class ServerDirectory {
  private readonly servers = new Map<string, McpServer>();

  /** The server `key` for `user`, created on first use. */
  acquire(key: string, id: string | undefined, user: ServerUser): McpServer {
    let server = this.servers.get(key);
    if (!server) this.servers.set(key, (server = new McpServer(key, id)));
    server.users.add(user);
    return server;
  }

  /** `user` stopped using it; a server with no users and no sessions is forgotten. */
  release(server: McpServer, user: ServerUser): void {
    server.users.delete(user);
    if (server.users.size === 0 && server.sessions === 0 && this.servers.get(server.key) === server) this.servers.delete(server.key);
  }

  get(key: string): McpServer | undefined {
    return this.servers.get(key);
  }
}
