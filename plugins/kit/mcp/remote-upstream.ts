/**
 * A remote MCP server as this gateway reaches it: one connection pool, the backends of its
 * sessions (Streamable HTTP or legacy SSE), which era of MCP it speaks (remote-era.ts; learned
 * once per definition, again at each health check and after a modern request it refused), and a
 * periodic health check — `server/discover` for a 2026-07-28 server; otherwise initialize and
 * ping over a session of its own, then DELETE — whose failure makes new sessions fail fast with a
 * clear error instead of hanging on a server that does not answer.
 */
import type { Agent } from 'undici';
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEvents } from './backend.js';
import { ListChangeListener } from './list-listener.js';
import { ProbeClient } from './probe.js';
import { discoverEra, type Era } from './remote-era.js';
import { remoteAgent, type RemoteTarget } from './remote-http.js';
import { LegacySseBackend } from './sse-client.js';
import type { RemoteHooks } from './remote-backend.js';
import type { ListMethod } from './server.js';
import { StreamableHttpBackend } from './streamable-client.js';

/** A remote server's fields, as the record has them (defaults filled). */
export interface RemoteSettings {
  url: string;
  transport: 'streamable-http' | 'sse';
  headers: Record<string, string>;
  /** Seconds. */
  timeout: number;
  tls: { verify: boolean };
  health_check: { interval: number; timeout: number };
}

export interface HealthResult {
  readonly ok: boolean;
  /** ms since the epoch. */
  readonly time: number;
  readonly latencyMs: number;
  readonly error?: string;
}

/** The largest message a health check reads. */
const HEALTH_MAX_BYTES = 1048576;
/** A server whose era could not be learned (unreachable, 5xx) is asked again after this long, not at every request. */
const ERA_UNKNOWN_RETRY_MS = 5000;

export class RemoteUpstream {
  health?: HealthResult;
  private readonly agent: Agent;
  private readonly targetOf: (logger: Logger) => RemoteTarget;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  /** Backends opened and not yet ended (their DELETE included). */
  private live = 0;
  private retired = false;
  private closed = false;
  /** What it was found to speak; undefined until learned (or after it was forgotten). */
  private era?: Promise<Era | undefined>;
  private eraUnknownUntil = 0;
  private knownEra?: Era;
  private readonly lists: ListChangeListener;

  constructor(
    readonly settings: RemoteSettings,
    private readonly logger: Logger,
    private readonly onHealth: (result: HealthResult) => void,
    onListChanged: (method: ListMethod) => void = () => undefined,
  ) {
    const timeoutMs = settings.timeout * 1000;
    this.agent = remoteAgent(timeoutMs, settings.tls.verify);
    const url = new URL(settings.url);
    this.targetOf = (log) => ({ url, headers: settings.headers, timeoutMs, dispatcher: this.agent, logger: log });
    this.lists = new ListChangeListener(() => this.targetOf(this.logger), onListChanged);
  }

  /** A route cached one of its lists: hear when they change (list-listener.ts). */
  watchLists(): void {
    if (!this.retired) this.lists.ensure();
  }

  /** A RemoteTarget for requests of the gateway's own (not a session's backend). */
  target(logger: Logger): RemoteTarget {
    return this.targetOf(logger);
  }

  /**
   * Whether it speaks MCP 2026-07-28: asked once (concurrent callers share the question) and
   * remembered while it is this definition; a legacy SSE server never does.
   */
  async speaksModern(): Promise<boolean> {
    if (this.settings.transport !== 'streamable-http' || this.closed) return false;
    if (!this.era) {
      // A server that said nothing a moment ago is taken as 2025-era meanwhile, not asked at every request.
      if (performance.now() < this.eraUnknownUntil) return false;
      const asking = discoverEra(this.targetOf(this.logger), this.settings.timeout * 1000);
      this.era = asking;
      // An unreachable server said nothing: ask again, a little later.
      void asking.then((era) => {
        if (this.era !== asking) return;
        this.knownEra = era;
        if (era !== undefined) return;
        this.era = undefined;
        this.eraUnknownUntil = performance.now() + ERA_UNKNOWN_RETRY_MS;
      });
    }
    return (await this.era) === 'modern';
  }

  /** A modern request was refused as a legacy server refuses one: learn the era again. */
  forgetEra(): void {
    this.era = undefined;
    this.knownEra = undefined;
    this.eraUnknownUntil = 0;
  }

  /** What it was last found to speak, for the Admin API: undefined until known. */
  get eraFound(): Era | undefined {
    return this.settings.transport === 'sse' ? 'legacy' : this.knownEra;
  }

  /** Failing its last health check: new sessions are refused at once. */
  get failing(): boolean {
    return this.health !== undefined && !this.health.ok;
  }

  /** The backend of one session (or a probe), with the events it reports to. */
  open(events: BackendEvents, hooks: RemoteHooks, maxMessageBytes: number, logger: Logger): Backend {
    this.live += 1;
    const tracked: BackendEvents = {
      message: events.message,
      ended: (end) => {
        this.live -= 1;
        events.ended(end);
        if (this.retired && this.live === 0) void this.close();
      },
    };
    const target = this.targetOf(logger);
    return this.settings.transport === 'sse'
      ? new LegacySseBackend(target, maxMessageBytes, tracked, hooks)
      : new StreamableHttpBackend(target, maxMessageBytes, tracked, hooks);
  }

  /** Checks while a route uses the server: at once, then every `health_check.interval` (0: never). */
  watch(used: boolean): void {
    if (!used) this.lists.stop();
    if (!used || this.retired || this.closed || this.settings.health_check.interval <= 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.settings.health_check.interval * 1000);
    this.timer.unref();
    void this.check();
  }

  /** One health check (shared by concurrent callers): initialize, ping, and the session's end. */
  check(): Promise<void> {
    this.checking ??= this.runCheck().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async runCheck(): Promise<void> {
    if (this.closed) return;
    const timeoutMs = this.settings.health_check.timeout * 1000;
    const started = performance.now();
    const era = this.settings.transport === 'streamable-http' ? await discoverEra(this.targetOf(this.logger), timeoutMs) : 'legacy';
    if (era !== undefined) {
      this.era = Promise.resolve(era);
      this.knownEra = era;
    }
    // A 2026-07-28 server that answered server/discover works, and has no initialize to check.
    const error = era === 'modern' ? undefined : await this.legacyCheck(timeoutMs);
    const result: HealthResult = { ok: error === undefined, time: Date.now(), latencyMs: performance.now() - started, ...(error === undefined ? {} : { error }) };
    if (this.closed) return;
    if (!result.ok && this.health?.ok !== false) this.logger.warn({ error: result.error }, 'remote mcp server failed its health check');
    if (result.ok && this.health?.ok === false) this.logger.info('remote mcp server passes its health check again');
    this.health = result;
    this.onHealth(result);
  }

  /** initialize and ping over a session of its own; why it failed, or undefined. */
  private async legacyCheck(timeoutMs: number): Promise<string | undefined> {
    const quiet: RemoteHooks = { sessionCreated: () => undefined, trouble: () => undefined };
    const client = new ProbeClient((events) => this.open(events, quiet, HEALTH_MAX_BYTES, this.logger));
    try {
      await client.initialize(timeoutMs);
      await client.request('ping', {}, timeoutMs);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await client.close();
    }
  }

  /** Replaced by a new definition: no more checks; the pool closes once its last backend has ended. */
  retire(): void {
    this.retired = true;
    this.watch(false);
    this.lists.close();
    if (this.live === 0) void this.close();
  }

  /** Closes the pool (retired and unused, or the gateway stops): what is still open is cut. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch(false);
    this.lists.close();
    await this.checking;
    await this.agent.destroy().catch(() => undefined);
  }
}
