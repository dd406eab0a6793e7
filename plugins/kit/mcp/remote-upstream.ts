/**
 * A remote MCP server as this gateway reaches it: one connection pool, the backends of its
 * sessions (Streamable HTTP or legacy SSE), and a periodic health check — initialize and ping over
 * a session of its own, then DELETE — whose failure makes new sessions fail fast with a clear
 * error instead of hanging on a server that does not answer.
 */
import type { Agent } from 'undici';
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEvents } from './backend.js';
import { ProbeClient } from './probe.js';
import { remoteAgent, type RemoteTarget } from './remote-http.js';
import { LegacySseBackend } from './sse-client.js';
import type { RemoteHooks } from './remote-backend.js';
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

  constructor(
    readonly settings: RemoteSettings,
    private readonly logger: Logger,
    private readonly onHealth: (result: HealthResult) => void,
  ) {
    const timeoutMs = settings.timeout * 1000;
    this.agent = remoteAgent(timeoutMs, settings.tls.verify);
    const url = new URL(settings.url);
    this.targetOf = (log) => ({ url, headers: settings.headers, timeoutMs, dispatcher: this.agent, logger: log });
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
    const quiet: RemoteHooks = { sessionCreated: () => undefined, trouble: () => undefined };
    const client = new ProbeClient((events) => this.open(events, quiet, HEALTH_MAX_BYTES, this.logger));
    let result: HealthResult;
    try {
      await client.initialize(timeoutMs);
      await client.request('ping', {}, timeoutMs);
      result = { ok: true, time: Date.now(), latencyMs: performance.now() - started };
    } catch (err) {
      result = { ok: false, time: Date.now(), latencyMs: performance.now() - started, error: (err as Error).message };
    } finally {
      await client.close();
    }
    if (this.closed) return;
    if (!result.ok && this.health?.ok !== false) this.logger.warn({ error: result.error }, 'remote mcp server failed its health check');
    if (result.ok && this.health?.ok === false) this.logger.info('remote mcp server passes its health check again');
    this.health = result;
    this.onHealth(result);
  }

  /** Replaced by a new definition: no more checks; the pool closes once its last backend has ended. */
  retire(): void {
    this.retired = true;
    this.watch(false);
    if (this.live === 0) void this.close();
  }

  /** Closes the pool (retired and unused, or the gateway stops): what is still open is cut. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch(false);
    await this.checking;
    await this.agent.destroy().catch(() => undefined);
  }
}
