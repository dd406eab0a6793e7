/**
 * Seeing and steering an MCP server from the Admin API (issue 12), below
 * `/apisix/admin/mcp_servers/{id}`: `status`, `sessions` (and DELETE of one), `logs`, and what it
 * offers — `tools`, `resources`, `prompts` — from the latest list a session saw or, when there is
 * none, from a short probe session the gateway opens and closes itself.
 *
 * Sessions and children live in the gateway process that serves them, so every answer describes
 * this process and says which one it is (`instance`); the Admin API asks the others for
 * `?scope=cluster` and for a DELETE this one cannot answer (admin/resource-endpoints.ts).
 */
import { GatewayError } from '../../../core/errors.js';
import type { PluginApi, ResourceEndpoint, ResourceEndpointRequest } from '../../../core/plugin.js';
import { MODERN_PROTOCOL_VERSION, SERVER_INFO_META, mcpHttpError, RETRY_AFTER_SECONDS } from './jsonrpc.js';
import { ModernProbeBackend } from './modern-probe.js';
import { ProbeClient } from './probe.js';
import { runtimeOf, type Runtime } from './runtime.js';
import { LIST_METHODS, type ListMethod, type McpServer, type SeenList } from './server.js';
import { asServerRecord, runFields, type ServerRecord, type StdioServerRecord } from './server-definition.js';
import { StdioBackend, launchEnv } from './stdio-backend.js';
import { MCP_ERRORS } from './errors.js';
import { REMOTE_FAILED } from './telemetry.js';

/** Largest line a probe reads from a server (a route's default max_message_bytes). */
const PROBE_MAX_LINE_BYTES = 1048576;
const DEFAULT_LOG_LINES = 100;

/** The record as it is now, and the server this instance keeps for it. */
function serverOf(api: PluginApi, id: string): { record: ServerRecord; server: McpServer; runtime: Runtime } {
  const found = api.resource('mcp_servers', id);
  if (!found) throw mcpHttpError(MCP_ERRORS.GW_MCP_SERVER_NOT_FOUND, `mcp server ${id} not found`);
  if ('error' in found) throw mcpHttpError(MCP_ERRORS.GW_MCP_SERVER_INVALID, `mcp server ${id} cannot be used: ${found.error}`);
  const runtime = runtimeOf(api);
  const server = runtime.servers.named(id);
  const { definition, logLines, remote } = runFields(found.value);
  server.define(definition, logLines, remote && { settings: remote, logger: runtime.logger.child({ mcp_server: id }) });
  return { record: asServerRecord(found.value), server, runtime };
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

async function status(request: ResourceEndpointRequest, api: PluginApi) {
  const { server } = serverOf(api, request.id);
  return {
    body: {
      instance: api.instance,
      id: request.id,
      kind: server.kind,
      state: server.state(),
      sessions: server.sessions,
      children: server.children,
      starts: server.starts,
      crashes: server.crashes,
      last_exit: server.lastExit ? { code: server.lastExit.code, signal: server.lastExit.signal, requested: server.lastExit.requested, time: iso(server.lastExit.time) } : null,
      last_error: server.lastError ? { message: server.lastError.message, time: iso(server.lastError.time) } : null,
      server_info: server.serverInfo ?? null,
      protocol_version: server.protocolVersion ?? null,
      ...(server.remote ? { health: healthOf(server), era: eraOf(server.remote.eraFound) } : {}),
    },
  };
}

async function sessions(request: ResourceEndpointRequest, api: PluginApi) {
  const { server } = serverOf(api, request.id);
  const list = server.summaries();
  return { body: { instance: api.instance, total: list.length, list } };
}

async function endSession(request: ResourceEndpointRequest, api: PluginApi) {
  const { server } = serverOf(api, request.id);
  const session = request.params.session_id;
  if (!server.endSession(session)) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_SESSION_NOT_FOUND, `mcp server ${request.id} has no session ${session} on this instance (${api.instance})`);
  }
  return { body: { instance: api.instance, deleted: '1', session } };
}

async function logs(request: ResourceEndpointRequest, api: PluginApi) {
  const { server, record } = serverOf(api, request.id);
  const kept = record.log_lines;
  const asked = request.query.lines;
  let count = Math.min(DEFAULT_LOG_LINES, kept);
  if (asked !== undefined) {
    count = Number(asked);
    if (!/^\d+$/.test(asked) || count < 1 || count > Math.max(kept, 1)) {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_BAD_QUERY, `lines must be an integer from 1 to ${Math.max(kept, 1)} (the server's log_lines)`);
    }
  }
  const lines = server.stderrTail(count).map((l) => ({ time: iso(l.time), session: l.session, line: l.line }));
  return { body: { instance: api.instance, lines } };
}

function offered(method: ListMethod) {
  const field = method.slice(0, method.indexOf('/'));
  return async (request: ResourceEndpointRequest, api: PluginApi) => {
    const { server, record, runtime } = serverOf(api, request.id);
    const seen = server.seenList(method) ?? (await probeOnce(runtime, server, record, method));
    const items = seen.result[field];
    return {
      body: {
        instance: api.instance,
        source: seen.source,
        time: iso(seen.time),
        [field]: Array.isArray(items) ? items : [],
        ...(seen.result.nextCursor !== undefined ? { complete: false } : {}),
      },
    };
  };
}

/** One probe per server and list at a time: concurrent asks share it. */
const probes = new WeakMap<McpServer, Map<ListMethod, Promise<SeenList>>>();

function probeOnce(runtime: Runtime, server: McpServer, record: ServerRecord, method: ListMethod): Promise<SeenList> {
  let running = probes.get(server);
  if (!running) probes.set(server, (running = new Map()));
  const current = running.get(method);
  if (current) return current;
  const probing = record.url === undefined ? probeStdio(runtime, server, record as StdioServerRecord, method) : probeRemote(runtime, server, record, method);
  const probe = probing.finally(() => running.delete(method));
  running.set(method, probe);
  return probe;
}

/**
 * A short session the gateway opens itself: a child of the server (counted against
 * mcp.max_children, started through the start queue like any), initialize, the list, the end.
 * What it learns is what a session would have seen: the server info, the list. A server that
 * does not declare the list's capability is not asked: its list is empty.
 */
async function probeStdio(runtime: Runtime, server: McpServer, record: StdioServerRecord, method: ListMethod): Promise<SeenList> {
  const logger = runtime.logger.child({ mcp_server: server.id, probe: method });
  let env: Record<string, string>;
  try {
    env = launchEnv(record, true, runtime.settings.allowedCommands, logger);
  } catch (err) {
    server.startRefused((err as Error).message);
    throw err;
  }
  if (!runtime.claim()) {
    throw mcpHttpError(MCP_ERRORS.GW_MCP_TOO_MANY_SESSIONS, `the gateway already runs ${runtime.settings.maxChildren} MCP servers (mcp.max_children)`, {
      retryAfter: RETRY_AFTER_SECONDS,
    });
  }
  let turn: { release(): void } | undefined;
  let client: ProbeClient | undefined;
  let child: StdioBackend | undefined;
  let initialized = false;
  try {
    try {
      turn = await runtime.starts.admit(AbortSignal.timeout(record.init_timeout * 1000));
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw mcpHttpError(MCP_ERRORS.GW_MCP_START_QUEUE_FULL, 'no start slot for the probe within init_timeout', { retryAfter: RETRY_AFTER_SECONDS });
    }
    const options = {
      command: record.command,
      args: record.args,
      env,
      cwd: record.cwd,
      maxLineBytes: PROBE_MAX_LINE_BYTES,
      settings: runtime.settings,
      logger,
      onStderr: (line: string) => server.stderrLine('probe', line),
    };
    try {
      client = new ProbeClient((events) => {
        child = new StdioBackend(options, {
          message: events.message,
          ended: (end) => {
            server.backendEnded(end);
            events.ended(end);
          },
        });
        return child;
      });
    } catch (err) {
      // spawn() throws at once only for arguments it cannot pass.
      runtime.starts.processGone();
      throw mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, `the MCP server could not be started: ${(err as Error).message}`);
    }
    runtime.adopt(child!, '', server.id);
    child!.started.then(() => server.started(), () => undefined);
    await child!.started.catch((err: unknown) => {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_CHILD_UNAVAILABLE, `the MCP server could not be started: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    });
    const init = await client.initialize(record.init_timeout * 1000);
    initialized = true;
    server.initialized(init);
    turn.release();
    return await listOver(client, server, init, record, method);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // A server that started and answered initialize works: a list it refuses is only this answer's.
    if (child && !initialized) server.sessionEnded('the MCP server could not be started', message, false);
    if (err instanceof GatewayError) throw err;
    throw mcpHttpError(MCP_ERRORS.GW_MCP_PROBE_FAILED, message);
  } finally {
    turn?.release();
    runtime.unclaim();
    if (client && child) {
      const spawned = child;
      runtime.track(client.close().finally(() => runtime.release(spawned)));
    }
  }
}

/**
 * A short session of a remote server: initialize, the list, DELETE. A server that speaks MCP
 * 2026-07-28 is asked statelessly instead: server/discover, then the list (modern-probe.ts).
 */
async function probeRemote(runtime: Runtime, server: McpServer, record: ServerRecord, method: ListMethod): Promise<SeenList> {
  const remote = server.remote!;
  const logger = runtime.logger.child({ mcp_server: server.id, probe: method });
  if (await remote.speaksModern()) return probeModern(server, record, method, new ProbeClient((events) => new ModernProbeBackend(remote.target(logger), PROBE_MAX_LINE_BYTES, events)));
  const hooks = { sessionCreated: () => server.upstreamSessionCreated(), trouble: (message: string) => server.noteTrouble(message) };
  const client = new ProbeClient((events) => remote.open(events, hooks, PROBE_MAX_LINE_BYTES, logger));
  let initialized = false;
  try {
    const init = await client.initialize(record.init_timeout * 1000);
    initialized = true;
    server.initialized(init);
    return await listOver(client, server, init, record, method);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!initialized) server.sessionEnded(REMOTE_FAILED, message, false);
    if (err instanceof GatewayError) throw err;
    throw mcpHttpError(MCP_ERRORS.GW_MCP_PROBE_FAILED, message);
  } finally {
    await client.close();
  }
}

async function probeModern(server: McpServer, record: ServerRecord, method: ListMethod, client: ProbeClient): Promise<SeenList> {
  try {
    const discovered = await client.request('server/discover', {}, record.init_timeout * 1000);
    const meta = discovered._meta as Record<string, unknown> | undefined;
    server.initialized({ serverInfo: discovered.serverInfo ?? meta?.[SERVER_INFO_META], capabilities: discovered.capabilities, protocolVersion: MODERN_PROTOCOL_VERSION });
    return await listOver(client, server, discovered, record, method);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw mcpHttpError(MCP_ERRORS.GW_MCP_PROBE_FAILED, err instanceof Error ? err.message : String(err));
  } finally {
    await client.close();
  }
}

/** The list over an initialized probe; a server that does not declare the capability has an empty one. */
async function listOver(client: ProbeClient, server: McpServer, init: Record<string, unknown>, record: ServerRecord, method: ListMethod): Promise<SeenList> {
  const field = method.slice(0, method.indexOf('/'));
  const capabilities = (init.capabilities ?? {}) as Record<string, unknown>;
  if (capabilities[field] === undefined) {
    server.listSeen(method, { [field]: [] }, 'probe');
  } else {
    const { result, complete } = await client.list(method, record.request_timeout * 1000);
    server.listSeen(method, complete ? result : { ...result, nextCursor: '' }, 'probe');
  }
  return server.seenList(method)!;
}

/** Which revisions a remote server was found to speak: what modern requests to it become (docs/mcp.md). */
function eraOf(era: 'modern' | 'legacy' | undefined): string | null {
  if (era === undefined) return null;
  return era === 'modern' ? '2026-07-28' : '2025';
}

function healthOf(server: McpServer) {
  const health = server.remote?.health;
  if (!health) return null;
  return { ok: health.ok, time: iso(health.time), latency_ms: Math.round(health.latencyMs * 10) / 10, ...(health.error ? { error: health.error } : {}) };
}

export const serverEndpoints: readonly ResourceEndpoint[] = [
  { method: 'GET', path: 'status', handle: status },
  { method: 'GET', path: 'sessions', handle: sessions },
  { method: 'DELETE', path: 'sessions/:session_id', handle: endSession },
  { method: 'GET', path: 'logs', handle: logs },
  ...LIST_METHODS.map((method) => ({ method: 'GET' as const, path: method.slice(0, method.indexOf('/')), handle: offered(method) })),
];
