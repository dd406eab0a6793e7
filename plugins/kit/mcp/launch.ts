/**
 * A backend session of an `mcp_servers` record that the gateway opens as a client for one of its
 * own sessions (a federation's member), held to what the record and the gateway allow, as a
 * bridged session is: the record's caps (max_sessions, max_sessions_per_consumer, reclaiming an
 * idle session at a cap), mcp.max_children and the start queue for a child, a remote server's
 * health; and seen as the record's on the Admin API (its state, starts, crashes, stderr, metrics).
 */
import { clientGone, GatewayError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import type { Backend, BackendEnd, BackendEvents } from './backend.js';
import { MCP_ERRORS } from './errors.js';
import { spawnFailure } from './failure.js';
import { RETRY_AFTER_SECONDS, mcpHttpError } from './jsonrpc.js';
import type { Runtime } from './runtime.js';
import { resolveReferences } from './secrets.js';
import type { McpServer } from './server.js';
import { maxSessionsOf } from './schema.js';
import type { StdioServerRecord, ServerRecord } from './server-definition.js';
import type { StartTurn } from './start-queue.js';
import { StdioBackend, launchEnv } from './stdio-backend.js';
import { endReasonOf } from './telemetry.js';

export interface LaunchOptions {
  /** The route the session belongs to (metrics, the children gauge). */
  readonly routeId: string;
  /** The consumer whose session it is (per-consumer caps). */
  readonly consumer: string | undefined;
  /** The gateway session it serves: how its stderr lines and its sessions are named. */
  readonly sessionId: string;
  /** The client's transport (the sessions-created metric). */
  readonly transport: 'streamable-http' | 'sse';
  readonly maxMessageBytes: number;
  /** Aborts a wait for a start slot (the client left, the session ended). */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** An opened backend session and what it holds. */
export interface Launched {
  readonly backend: Backend;
  /** The server answered initialize (or failed to): its start slot goes to the next in line. */
  settled(initialized: boolean): void;
  /**
   * Stops the backend (if it still runs) and gives back what the launch held: the session count,
   * the child slot. `reason` is one of the session end reasons (telemetry.ts).
   */
  end(reason: string, failureMessage?: string): Promise<void>;
}

/**
 * Opens a backend session of `server` (whose record is `record`, defaults filled) with `events`.
 * Throws what the gateway's client should read when it cannot (503 at a cap or a full start queue,
 * 502 when the server cannot be started or fails its health check), having given back whatever it
 * took.
 */
export async function launchBackend(runtime: Runtime, server: McpServer, record: ServerRecord, events: BackendEvents, options: LaunchOptions): Promise<Launched> {
  const remote = server.remote;
  if (remote?.failing) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_SERVER_FAILING, `the remote MCP server is failing its health checks: ${remote.health?.error ?? 'no answer'}`, {
      data: { reason: 'health_check_failed' },
    });
  }
  let env: Record<string, string> = {};
  try {
    if (remote) resolveReferences('headers', remote.settings.headers);
    else env = launchEnv(record as StdioServerRecord, true, runtime.settings.allowedCommands, options.logger);
  } catch (err) {
    server.startRefused((err as Error).message);
    throw err;
  }
  const busy = (message: string) => mcpHttpError(MCP_ERRORS.GW_MCP_TOO_MANY_SESSIONS, message, { retryAfter: RETRY_AFTER_SECONDS });
  const now = performance.now();
  const maxSessions = maxSessionsOf(record);
  if (server.sessions >= maxSessions && !server.reclaim(now, 'max_sessions')) {
    throw busy(`MCP server ${server.id} already has ${maxSessions} sessions (max_sessions)`);
  }
  const perConsumer = record.max_sessions_per_consumer;
  if (perConsumer > 0 && server.sessionsOf(options.consumer) >= perConsumer && !server.reclaim(now, 'max_sessions_per_consumer', { consumer: options.consumer })) {
    throw busy(`this consumer already has ${perConsumer} sessions on MCP server ${server.id} (max_sessions_per_consumer)`);
  }
  if (!remote && !runtime.claim()) throw busy(`the gateway already runs ${runtime.settings.maxChildren} MCP servers (mcp.max_children)`);
  server.opened(options.consumer);
  const labels = { route: options.routeId, server: server.id ?? '' };
  runtime.metrics.mcpSessionsCreated.inc({ ...labels, transport: options.transport });

  let backend: Backend | undefined;
  let child: StdioBackend | undefined;
  let turn: StartTurn | undefined;
  let initialized = false;
  let ended = false;
  const tracked: BackendEvents = {
    message: events.message,
    ended: (end: BackendEnd) => {
      if (end.crash) runtime.metrics.mcpChildCrashes.inc({ ...labels, reason: end.crash });
      server.backendEnded(end);
      events.ended(end);
    },
  };
  const end = async (reason: string, failureMessage?: string): Promise<void> => {
    if (ended) return;
    ended = true;
    turn?.release();
    server.closed(options.consumer);
    if (!remote) runtime.unclaim();
    server.sessionEnded(reason, failureMessage, initialized);
    runtime.metrics.mcpSessionsEnded.inc({ ...labels, reason: endReasonOf(reason) });
    if (!backend) return;
    const stopping = backend.stop().finally(() => {
      if (child) runtime.release(child);
    });
    runtime.track(stopping);
    await stopping;
  };
  const settled = (ok: boolean) => {
    initialized ||= ok;
    turn?.release();
    turn = undefined;
  };

  if (remote) {
    const hooks = { sessionCreated: () => server.upstreamSessionCreated(), trouble: (message: string) => server.noteTrouble(message) };
    backend = remote.open(tracked, hooks, options.maxMessageBytes, options.logger);
    return { backend, settled, end };
  }

  const stdio = record as StdioServerRecord;
  try {
    turn = await runtime.starts.admit(options.signal);
  } catch (err) {
    const queueFull = err instanceof GatewayError;
    await end(queueFull ? 'the start queue was full' : 'the client left before its server started');
    throw queueFull ? err : clientGone();
  }
  const cannotStart = async (err: unknown) => {
    const failure = spawnFailure(err, stdio.cwd);
    await end('the MCP server could not be started', failure.message);
    return mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, failure.message, { cause: err, data: failure.data });
  };
  try {
    child = new StdioBackend(
      {
        command: stdio.command,
        args: stdio.args,
        env,
        cwd: stdio.cwd,
        maxLineBytes: options.maxMessageBytes,
        settings: runtime.settings,
        logger: options.logger,
        onStderr: (line) => server.stderrLine(options.sessionId, line),
      },
      tracked,
    );
  } catch (err) {
    // spawn() throws at once only for arguments it cannot pass (a NUL byte).
    runtime.starts.processGone();
    throw await cannotStart(err);
  }
  backend = child;
  runtime.adopt(child, options.routeId, server.id);
  child.started.then(() => server.started(), () => undefined);
  try {
    await child.started;
  } catch (err) {
    throw await cannotStart(err);
  }
  return { backend, settled, end };
}
