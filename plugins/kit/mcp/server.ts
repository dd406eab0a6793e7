/**
 * One MCP server as this gateway instance runs it: a record of `/apisix/admin/mcp_servers`, or a
 * route's inline command (a server without a name). Routes come and go with their session
 * managers (sessions.ts); the server outlives their versions and holds what is the server's
 * across them: its session caps (max_sessions, max_sessions_per_consumer count the sessions of
 * every route using it) and what the Admin API shows of it (endpoints.ts) — how it is doing, its
 * sessions, the last lines of its stderr, the lists it last answered.
 */
import type { Logger } from '../../../core/logger.js';
import type { BackendEnd } from './backend.js';
import { isObject } from './jsonrpc.js';
import { RemoteUpstream, type HealthResult, type RemoteSettings } from './remote-upstream.js';
import type { ReclaimCandidate } from './runtime.js';
import type { SessionSummary } from './session.js';
import { SERVER_FAILURES, endReasonOf } from './telemetry.js';

/** What a server needs of the session managers of the routes using it. */
export interface ServerUser {
  /** The least recently active session of this user that may be ended to make room (of `consumer`'s, when given). */
  reclaimable(now: number, owner?: { consumer: string | undefined }): ReclaimCandidate | undefined;
  /** Its live sessions, for the Admin API. */
  summaries(): SessionSummary[];
  /** Ends one of its sessions for an operator; false when it has no such session. */
  endSession(id: string): boolean;
}

/** The list methods whose latest answer the Admin API shows (`/tools`, `/resources`, `/prompts`). */
export const LIST_METHODS = ['tools/list', 'resources/list', 'prompts/list'] as const;
export type ListMethod = (typeof LIST_METHODS)[number];

export function isListMethod(method: string): method is ListMethod {
  return (LIST_METHODS as readonly string[]).includes(method);
}

export interface SeenList {
  /** The list's result, as the server answered it (its first page). */
  readonly result: Record<string, unknown>;
  /** ms since the epoch. */
  readonly time: number;
  /** Where it came from: a client's session, or a probe the gateway made. */
  readonly source: 'session' | 'probe';
}

export interface StderrLine {
  readonly time: number;
  readonly session: string;
  readonly line: string;
}

/** A failure or a crash counts as recent (state `degraded`) this long. */
const RECENT_MS = 5 * 60_000;

export type ServerState = 'idle' | 'ready' | 'degraded' | 'failing';

export class McpServer {
  /** Session managers using it (a route version, or several sharing one bridge config). */
  readonly users = new Set<ServerUser>();
  /** Children started for it (sessions and probes); for a remote server, upstream sessions created. */
  starts = 0;
  /** Processes that exited with a non-zero code or a signal without the gateway asking. */
  crashes = 0;
  children = 0;
  lastExit?: { code: number | null; signal: string | null; time: number; requested: boolean };
  lastError?: { message: string; time: number };
  serverInfo?: unknown;
  /** The capabilities it declared when it last answered initialize. */
  capabilities?: Record<string, unknown>;
  protocolVersion?: string;
  /** Set for a remote server: its connection pool and health checks. */
  remote?: RemoteUpstream;
  /** The most recent start failed (spawn, exit before initialize, init timeout, a refused command): `failing`. */
  private lastStartFailed = false;
  private lastTroubleAt = -Infinity;
  private open = 0;
  private readonly perConsumer = new Map<string, number>();
  private readonly lists = new Map<ListMethod, SeenList>();
  /** Bumped when a list may have changed (its list_changed, a new definition): cached lists of an older one are stale. */
  private readonly listGenerations = new Map<ListMethod, number>();
  private definitionGeneration = 0;
  private definition?: string;
  private stderr: StderrLine[] = [];
  private stderrHead = 0;

  constructor(
    /** `mcp_servers/<id>` for a catalog record, `inline:<manager key>` for a route's command. */
    readonly key: string,
    /** The record's id; undefined for an inline command. */
    readonly id: string | undefined,
    /** stderr lines kept for the Admin API (0: none, as for an inline command nobody can read). */
    private logLines = 0,
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

  /**
   * The definition its sessions run now (the record's JSON), and for a remote server its settings.
   * Another one forgets what was seen of the old one (the lists, the server info, the health) and
   * retires the old connection pool once its sessions have gone.
   */
  define(definition: string, logLines: number, remote?: { settings: RemoteSettings; logger: Logger }): void {
    this.logLines = logLines;
    if (this.stderr.length - this.stderrHead > logLines) this.trimStderr();
    if (this.definition === definition) return;
    const first = this.definition === undefined;
    this.definition = definition;
    this.remote?.retire();
    this.remote = remote && new RemoteUpstream(
        remote.settings,
        remote.logger,
        (result) => this.healthSeen(result),
        (method) => this.listChanged(method),
      );
    this.remote?.watch(this.users.size > 0);
    if (first) return;
    this.definitionGeneration += 1;
    this.lists.clear();
    this.serverInfo = undefined;
    this.capabilities = undefined;
    this.protocolVersion = undefined;
    this.lastStartFailed = false;
  }

  get kind(): 'stdio' | 'remote' {
    return this.remote ? 'remote' : 'stdio';
  }

  /** Routes use it (or stopped using it): a remote server is health-checked while they do. */
  usersChanged(): void {
    this.remote?.watch(this.users.size > 0);
  }

  close(): Promise<void> {
    return this.remote?.close() ?? Promise.resolve();
  }

  // ---- what happens to it -----------------------------------------------------------------

  started(): void {
    this.starts += 1;
    this.children += 1;
  }

  /** A remote server gave a session of ours an upstream session. */
  upstreamSessionCreated(): void {
    this.starts += 1;
  }

  /** Something went wrong that its sessions survive (a remote answer lost, an upstream session re-created). */
  noteTrouble(message: string): void {
    this.trouble(message, Date.now());
  }

  private healthSeen(result: HealthResult): void {
    if (!result.ok) this.trouble(`the remote MCP server failed its health check: ${result.error ?? 'no answer'}`, result.time);
  }

  /** A server answered initialize: it works, whatever happened before. */
  initialized(result: Record<string, unknown>): void {
    this.lastStartFailed = false;
    this.serverInfo = result.serverInfo;
    const capabilities = result.capabilities;
    if (isObject(capabilities)) this.capabilities = capabilities;
    if (typeof result.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
  }

  /** A backend ended (a process exited, requested or not). */
  backendEnded(end: BackendEnd): void {
    const now = Date.now();
    if (end.exit) {
      this.children = Math.max(0, this.children - 1);
      this.lastExit = { code: end.exit.code, signal: end.exit.signal, time: now, requested: end.requested };
      if (!end.requested && (end.exit.code !== 0 || end.exit.signal !== null)) {
        this.crashes += 1;
        this.trouble(end.failure?.message ?? end.reason, now);
      }
    }
  }

  /**
   * A session ended; `initialized` says whether its server had answered initialize. An end the
   * server caused is its last error, and fails its start when it came before initialize.
   */
  sessionEnded(reason: string, message: string | undefined, initialized: boolean): void {
    if (!SERVER_FAILURES.has(endReasonOf(reason))) return;
    this.trouble(message ?? reason, Date.now());
    if (!initialized) this.lastStartFailed = true;
  }

  /** A start refused before any session existed (a command the allow-list refuses, a secret not set). */
  startRefused(message: string): void {
    this.trouble(message, Date.now());
    this.lastStartFailed = true;
  }

  private trouble(message: string, now: number): void {
    this.lastError = { message, time: now };
    this.lastTroubleAt = now;
  }

  listSeen(method: ListMethod, result: Record<string, unknown>, source: SeenList['source']): void {
    this.lists.set(method, { result, time: Date.now(), source });
  }

  /** The server said a list changed: what was seen of it is stale. */
  listChanged(method: ListMethod): void {
    this.lists.delete(method);
    this.listGenerations.set(method, (this.listGenerations.get(method) ?? 0) + 1);
  }

  /** Changes with every list_changed of `method` and every new definition: what a cached list was stored under. */
  listGeneration(method: ListMethod): string {
    return `${this.definitionGeneration}:${this.listGenerations.get(method) ?? 0}`;
  }

  seenList(method: ListMethod): SeenList | undefined {
    return this.lists.get(method);
  }

  stderrLine(session: string, line: string): void {
    if (this.logLines <= 0) return;
    this.stderr.push({ time: Date.now(), session, line });
    if (this.stderr.length - this.stderrHead > this.logLines) {
      this.stderrHead += 1;
      if (this.stderrHead > 1024 && this.stderrHead * 2 > this.stderr.length) this.trimStderr();
    }
  }

  /** The last `count` stderr lines, oldest first. */
  stderrTail(count: number): StderrLine[] {
    const from = Math.max(this.stderrHead, this.stderr.length - count);
    return this.stderr.slice(from);
  }

  private trimStderr(): void {
    this.stderr = this.stderr.slice(Math.max(this.stderrHead, this.stderr.length - this.logLines));
    this.stderrHead = 0;
  }

  /** How it is doing (see docs/mcp.md, "Seeing and steering a server"). */
  state(now = Date.now()): ServerState {
    if (this.remote?.failing) return 'failing';
    // A remote server that passes its health check works, whatever its last session's start said.
    if (this.lastStartFailed && !this.remote?.health?.ok) return 'failing';
    if (now - this.lastTroubleAt < RECENT_MS) return 'degraded';
    return this.open > 0 || this.children > 0 || this.remote?.health?.ok ? 'ready' : 'idle';
  }

  summaries(): SessionSummary[] {
    const out: SessionSummary[] = [];
    for (const user of this.users) out.push(...user.summaries());
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  endSession(id: string): boolean {
    for (const user of this.users) if (user.endSession(id)) return true;
    return false;
  }
}

/**
 * The servers of one gateway, by key. A route's inline command lives as long as a route uses it;
 * a catalog record's server as long as its record exists (what the Admin API shows of it survives
 * routes coming and going).
 */
export class ServerDirectory {
  private readonly servers = new Map<string, McpServer>();

  constructor(private readonly recordExists: (id: string) => boolean) {}

  /** The server `key` for `user`, created on first use. */
  acquire(key: string, id: string | undefined, user: ServerUser): McpServer {
    const server = this.get(key, id);
    server.users.add(user);
    server.usersChanged();
    return server;
  }

  /** `user` stopped using it; a server with no users and no sessions whose record is gone is forgotten. */
  release(server: McpServer, user: ServerUser): void {
    server.users.delete(user);
    server.usersChanged();
    this.forgetIfUnused(server);
  }

  /** The gateway stops: remote pools and health checks end. */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.servers.values()].map((server) => server.close()));
    this.servers.clear();
  }

  /** A catalog record's server (created for the Admin API when no route uses it); forgets those whose record is gone. */
  named(id: string): McpServer {
    for (const server of [...this.servers.values()]) this.forgetIfUnused(server);
    return this.get(`mcp_servers/${id}`, id);
  }

  private get(key: string, id: string | undefined): McpServer {
    let server = this.servers.get(key);
    if (!server) this.servers.set(key, (server = new McpServer(key, id)));
    return server;
  }

  private forgetIfUnused(server: McpServer): void {
    if (server.users.size > 0 || server.sessions > 0 || server.children > 0) return;
    if (server.id !== undefined && this.recordExists(server.id)) return;
    if (this.servers.get(server.key) !== server) return;
    this.servers.delete(server.key);
    void server.close();
  }
}
