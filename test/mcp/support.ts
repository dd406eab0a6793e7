/**
 * Shared pieces of the mcp-bridge tests: a gateway with bridge routes, SDK clients over both
 * transports, and raw HTTP for what SDK clients never send (bad input, resumption).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { expect } from 'chai';
import { REPO_ROOT, startTestGateway, type TestGateway, type TestGatewayOptions } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/processes.js';

export const FIXTURES = join(REPO_ROOT, 'test/fixtures/mcp-servers');
export const FAULT_SERVER = join(FIXTURES, 'fault-server.mjs');
export const CONFORMANCE_SERVER = join(FIXTURES, 'conformance-server.mjs');
export const EVERYTHING_SERVER = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/** Fast child stops so that tests do not wait the production grace periods. */
export const FAST_STOP = { stop_stdin_wait: 0.3, stop_term_wait: 0.3, reaper_linger: 0.05 };

export async function startBridgeGateway(options: TestGatewayOptions & { mcp?: Record<string, unknown> } = {}): Promise<TestGateway> {
  const { mcp, ...rest } = options;
  return startTestGateway({
    ...rest,
    overrides: { log: { level: 'debug' }, ...(rest.overrides ?? {}), mcp: { ...FAST_STOP, ...(mcp ?? {}) } },
  });
}

/** PUT a route bridging `args` (run with node) at /<id>/* with base_uri /<id>; returns the base URL. */
export async function bridgeRoute(
  gateway: TestGateway,
  id: string,
  args: string[],
  bridge: Record<string, unknown> = {},
  route: Record<string, unknown> = {},
): Promise<string> {
  const { plugins, ...routeRest } = route as { plugins?: Record<string, unknown> };
  const res = await gateway.admin('PUT', `/routes/${id}`, {
    uri: `/${id}/*`,
    ...routeRest,
    plugins: { ...(plugins ?? {}), 'mcp-bridge': { base_uri: `/${id}`, command: 'node', args, ...bridge } },
  });
  expect(res.status, res.text).to.be.oneOf([200, 201]);
  return `${gateway.url}/${id}`;
}

export interface Connected {
  client: Client;
  /** Ends the session the way a well-behaved client does (DELETE for Streamable HTTP). */
  close(): Promise<void>;
  sessionId(): string | undefined;
}

export type TransportName = 'streamable-http' | 'sse';
export const TRANSPORTS: TransportName[] = ['streamable-http', 'sse'];

export async function connect(
  base: string,
  transport: TransportName,
  options: { capabilities?: Record<string, unknown>; headers?: Record<string, string>; name?: string; fetch?: typeof fetch } = {},
): Promise<Connected> {
  const client = new Client({ name: options.name ?? 'tollgate-test', version: '1.0.0' }, { capabilities: options.capabilities ?? {} });
  const requestInit = options.headers ? { headers: options.headers } : undefined;
  if (transport === 'streamable-http') {
    const t = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit, fetch: options.fetch });
    await client.connect(t);
    return {
      client,
      sessionId: () => t.sessionId,
      async close() {
        await t.terminateSession().catch(() => undefined);
        await client.close();
      },
    };
  }
  // requestInit headers go on the SSE GET as well as on the POSTs.
  const t = new SSEClientTransport(new URL(`${base}/sse`), { requestInit });
  await client.connect(t);
  return {
    client,
    sessionId: () => (t as unknown as { _endpoint?: URL })._endpoint?.searchParams.get('sessionId') ?? undefined,
    close: () => client.close(),
  };
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** A raw POST to an MCP endpoint; the body is sent as given when it is a string. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return read(res);
}

export async function read(res: Response): Promise<RawResponse> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/**
 * The JSON-RPC response with `id` in a POST's reply, whichever form the gateway chose: one JSON
 * body, or an SSE stream (it switches to SSE when the answer takes longer than ping_interval).
 */
export function responseOf(res: RawResponse, id: number | string): any {
  if (res.json !== undefined) return res.json;
  for (const line of res.text.split('\n')) {
    // The priming event's data is empty.
    if (!line.startsWith('data: ') || line.length === 6) continue;
    const message = JSON.parse(line.slice(6)) as { id?: unknown };
    if (message.id === id) return message;
  }
  return undefined;
}

/** Opens a raw Streamable HTTP session (initialize + initialized); returns its id. */
export async function rawSession(base: string, headers: Record<string, string> = {}): Promise<string> {
  const init = await post(`${base}/mcp`, INIT, headers);
  expect(init.status, init.text).to.equal(200);
  const id = init.headers.get('mcp-session-id');
  expect(id).to.be.a('string');
  const initialized = await post(`${base}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': id!, ...headers });
  expect(initialized.status).to.equal(202);
  return id!;
}

export async function endRawSession(base: string, id: string, headers: Record<string, string> = {}): Promise<void> {
  await fetch(`${base}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': id, ...headers } }).then((r) => r.body?.cancel());
}

export interface SseEventRead {
  id?: string;
  event?: string;
  data: string;
}

/** Reads SSE events from a fetch response until `until` says stop (or the stream ends). */
export async function readEvents(res: Response, until: (events: SseEventRead[]) => boolean, timeoutMs = 5000): Promise<SseEventRead[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEventRead[] = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out; events so far: ${JSON.stringify(events)}`)), left))),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEventRead = { data: '' };
        let isComment = true;
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) continue;
          isComment = false;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') event.id = value;
          else if (field === 'event') event.event = value;
          else if (field === 'data') event.data = event.data ? `${event.data}\n${value}` : value;
        }
        if (!isComment) events.push(event);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return events;
}

/**
 * The messages a fault-server started with `--record-stdin=FILE` received, one JSON-RPC message a
 * line. A line still being appended (a large message is written in more than one piece) is not
 * read yet.
 */
export function recordedStdin(file: string): Array<Record<string, any>> {
  const lines = readFileSync(file, 'utf8').split('\n');
  return lines
    .slice(0, -1)
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>);
}

/** Text of the first content item of a tools/call result. */
export function textOf(result: unknown): string {
  return ((result as { content: Array<{ text?: string }> }).content[0]?.text ?? '') as string;
}

/** Child processes the gateway (this test process) currently runs from `script`. */
export { descendants, isAlive, waitFor } from '../helpers/processes.js';

export interface RemoteServer {
  /** Its MCP endpoint (Streamable HTTP) or SSE stream URL (legacy). */
  url: string;
  port: number;
  pid: number | undefined;
  output(): string;
  stop(): Promise<void>;
}

/**
 * @modelcontextprotocol/server-everything in its own HTTP modes (`streamableHttp`, `sse`: the
 * package's `start:*` scripts) on a free port: a remote MCP server for the gateway to reach.
 */
export async function startRemoteEverything(mode: 'streamableHttp' | 'sse'): Promise<RemoteServer> {
  // The port was only free a moment ago; a server that could not bind it exits, and another port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRemoteEverythingOn(await freePort(), mode);
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function startRemoteEverythingOn(port: number, mode: 'streamableHttp' | 'sse'): Promise<RemoteServer> {
  const child = spawn(process.execPath, [EVERYTHING_SERVER, mode], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await waitFor(() => /listening on port|running on port/i.test(out) || child.exitCode !== null, 15_000);
  if (!ready || child.exitCode !== null) {
    child.kill('SIGKILL');
    throw new Error(`server-everything ${mode} did not start:\n${out}`);
  }
  return {
    url: `http://127.0.0.1:${port}/${mode === 'sse' ? 'sse' : 'mcp'}`,
    port,
    pid: child.pid,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
